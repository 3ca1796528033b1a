"""Downloads from Google Drive, including its interstitial and error pages.

The direct link is ``<base>?export=download&id=ID[&resourcekey=KEY]``. For
large files Drive answers with an HTML "can't scan this file for viruses"
page whose ``#download-form`` (an action URL and hidden inputs such as
``id``, ``export``, ``confirm`` and ``uuid``) must be submitted to get the
file (older pages instead link ``#uc-download-link`` with a ``confirm``
token). Drive also answers with HTML for its download quota ("Too many users
have viewed or downloaded this file recently", in ``uc-error-subcaption``),
for files that need a resourcekey or a login, and for deleted files: those
become clear errors, and no HTML is ever saved as a model.

``DENSENET_ZOO_GDRIVE_URL`` replaces the base URL (tests point it at a local server).
"""

from __future__ import annotations

import html
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from zoo.registry.download import DownloadResult, RetryPolicy, download_url, new_session
from zoo.registry.errors import (
    GoogleDriveError,
    GoogleDrivePermissionError,
    GoogleDriveQuotaError,
    HTMLPageError,
    HTTPStatusError,
)

DEFAULT_BASE_URL = "https://drive.google.com/uc"
BASE_URL_ENV = "DENSENET_ZOO_GDRIVE_URL"
QUOTA_PHRASES = ("too many users have viewed or downloaded this file recently", "download quota")
PERMISSION_PHRASES = ("you need access", "you need permission", "request access", "sign in", "accounts.google.com")
MISSING_PHRASES = ("does not exist", "not found", "file you have requested does not exist", "has been removed")


def base_url() -> str:
    """Drive's download endpoint, or ``DENSENET_ZOO_GDRIVE_URL`` when set."""
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


class _PageParser(HTMLParser):
    """Collects the download form, the page title and the error subcaption text of a Drive page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form_action: str | None = None
        self.form_method = "get"
        self.form_inputs: dict[str, str] = {}
        self.download_link: str | None = None  # the older interstitial: <a id="uc-download-link" href=...confirm=...>
        self.title = ""
        self.subcaption = ""
        self._in_form = False
        self._in_title = False
        self._caption_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        classes = attributes.get("class", "").split()
        if tag == "form" and attributes.get("id") == "download-form":
            self._in_form = True
            self.form_action = attributes.get("action", "")
            self.form_method = attributes.get("method", "get").lower()
        elif tag == "input" and self._in_form and attributes.get("name"):
            if attributes.get("type", "text").lower() == "hidden":
                self.form_inputs[attributes["name"]] = attributes.get("value", "")
        elif tag == "a" and attributes.get("id") == "uc-download-link" and attributes.get("href"):
            self.download_link = attributes["href"]
        elif tag == "title":
            self._in_title = True
        if "uc-error-subcaption" in classes:
            self._caption_depth = 1
        elif self._caption_depth:
            self._caption_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
        elif tag == "title":
            self._in_title = False
        if self._caption_depth:
            self._caption_depth -= 1

    def handle_data(self, text: str) -> None:
        if self._in_title:
            self.title += text
        if self._caption_depth:
            self.subcaption += text


def parse_page(page: str) -> _PageParser:
    """The download form or link, title and error caption of a Drive HTML page."""
    parser = _PageParser()
    parser.feed(page)
    parser.close()
    return parser


def download_file(
    file_id: str,
    destination: str | os.PathLike[str],
    *,
    resourcekey: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
    session: Any = None,
    retry: RetryPolicy | None = None,
    progress: bool = True,
    timeout: tuple[float, float] = (15.0, 60.0),
) -> DownloadResult:
    """Download a Drive file, following the virus-scan interstitial; verified like any download."""
    session = session or new_session()
    params = {"export": "download", "id": file_id}
    if resourcekey:
        params["resourcekey"] = resourcekey
    url = base_url()
    what = f"Google Drive file {file_id}" + (f" (resourcekey {resourcekey})" if resourcekey else "")
    common = dict(sha256=sha256, size=size, session=session, retry=retry, progress=progress, timeout=timeout)
    label = Path(destination).name
    for _ in range(3):  # direct link, then at most two interstitial forms
        try:
            return download_url(url, destination, params=params, label=label, **common)
        except HTMLPageError as error:
            url, params = _next_request(what, error.url, error.page, error.status_code)
        except HTTPStatusError as error:
            _raise_for_page(what, error.url, error.page or "", error.status_code)
            raise
    raise GoogleDriveError(
        f"{what}: Drive kept answering with confirmation pages instead of the file; "
        "download it in a browser and place it in the cache, or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
    )


def _next_request(what: str, page_url: str, page: str, status: int) -> tuple[str, dict[str, str]]:
    """The form submission an interstitial page asks for; raises for error pages."""
    parsed = parse_page(page)
    if _is_quota_page(parsed, page):
        _raise_for_page(what, page_url, page, status)
    if parsed.form_action is None and parsed.download_link is not None:
        link = urlsplit(urljoin(page_url, html.unescape(parsed.download_link)))
        return urlunsplit((link.scheme, link.netloc, link.path, "", "")), dict(parse_qsl(link.query))
    if parsed.form_action is None:
        _raise_for_page(what, page_url, page, status)
        title = parsed.title.strip() or "untitled page"
        raise GoogleDriveError(
            f"{what}: expected the file or Drive's download confirmation form, got an HTML page "
            f"({title!r}, HTTP {status}) from {page_url}; nothing was saved. Download it in a browser and place it "
            "in the cache, or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
        )
    action = urljoin(page_url, html.unescape(parsed.form_action))
    return action, dict(parsed.form_inputs)


def _is_quota_page(parsed: _PageParser, page: str) -> bool:
    text = re.sub(r"\s+", " ", parsed.subcaption + " " + _visible_text(page)).lower()
    return any(phrase in text for phrase in QUOTA_PHRASES)


def _raise_for_page(what: str, page_url: str, page: str, status: int) -> None:
    parsed = parse_page(page) if page else _PageParser()
    caption = re.sub(r"\s+", " ", parsed.subcaption).strip()
    text = re.sub(r"\s+", " ", (caption + " " + parsed.title + " " + _visible_text(page))).lower()
    if _is_quota_page(parsed, page):
        raise GoogleDriveQuotaError(
            f"{what}: Google Drive's download quota is exhausted "
            f"({caption or 'too many users downloaded it recently'}). "
            "Try again later (quotas reset within 24 hours), use a mirror (DENSENET_ZOO_MIRROR / --mirror), or "
            "download it in a browser and place it in the cache"
        )
    if status in (401, 403) or any(phrase in text for phrase in PERMISSION_PHRASES):
        raise GoogleDrivePermissionError(
            f"{what}: Google Drive refused access (HTTP {status}: "
            f"{caption or parsed.title.strip() or 'permission page'}). "
            "Files shared before 2021 need their resourcekey in the manifest; check the file id and resourcekey, "
            "or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
        )
    if status == 404 or any(phrase in text for phrase in MISSING_PHRASES):
        raise GoogleDrivePermissionError(
            f"{what}: Google Drive says the file does not exist (HTTP {status}); it may have been deleted or the "
            "id/resourcekey is wrong. Use a mirror (DENSENET_ZOO_MIRROR / --mirror) or another source"
        )


def _visible_text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page)[:20000]
