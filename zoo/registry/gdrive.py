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

Drive's pages come from the network, so they are read as hostile: with a
scanner that is linear in the page's length (Python's ``HTMLParser`` takes
minutes on some 40 KB pages), and a form or link is followed only to an
``http(s)`` URL on Google's hosts (or the page's own host), never from https
to plain http.

``DENSENET_ZOO_GDRIVE_URL`` replaces the base URL (tests point it at a local server).
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from zoo.registry.digests import PublishedDigest
from zoo.registry.download import DownloadResult, RetryPolicy, download_url, new_session
from zoo.registry.errors import (
    GoogleDriveError,
    GoogleDrivePermissionError,
    GoogleDriveQuotaError,
    HTMLPageError,
    HTTPStatusError,
)
from zoo.registry.transport import printable, url_problem

DEFAULT_BASE_URL = "https://drive.google.com/uc"
BASE_URL_ENV = "DENSENET_ZOO_GDRIVE_URL"
#: Hosts a Drive page's form or link may lead to (and their subdomains), besides the page's own host.
GOOGLE_DOMAINS = ("google.com", "googleusercontent.com")
QUOTA_PHRASES = ("too many users have viewed or downloaded this file recently", "download quota")
PERMISSION_PHRASES = ("you need access", "you need permission", "request access", "sign in", "accounts.google.com")
MISSING_PHRASES = ("does not exist", "not found", "file you have requested does not exist", "has been removed")
#: Visible text kept from a page for recognising it; Drive's messages come early.
TEXT_LIMIT = 20000

# A tag cannot contain '<' or '>' here, so every match attempt stops at the next one: linear in the page.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)([^<>]*)>")
_ATTRIBUTE = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>=`]+)))?""")
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})
_HIDDEN_TAGS = frozenset({"script", "style"})


def base_url() -> str:
    """Drive's download endpoint, or ``DENSENET_ZOO_GDRIVE_URL`` when set."""
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


@dataclass
class DrivePage:
    """What matters in a Drive HTML page: its download form or link, title, error caption and visible text."""

    form_action: str | None = None
    form_method: str = "get"
    form_inputs: dict[str, str] = field(default_factory=dict)
    download_link: str | None = None  # the older interstitial: <a id="uc-download-link" href=...confirm=...>
    title: str = ""
    subcaption: str = ""
    text: str = ""


def parse_page(page: str) -> DrivePage:
    """The download form or link, title, error caption and visible text of a Drive HTML page.

    A tag is ``<name attributes>`` without ``<`` or ``>`` inside; comments and
    the content of scripts and styles are skipped. Linear in ``len(page)``.
    """
    scan = _PageScan()
    page = _without_comments(page)
    position = 0
    for match in _TAG.finditer(page):
        scan.text_seen(page[position : match.start()])
        position = match.end()
        name = match[2].lower()
        if match[1]:
            scan.end_tag(name)
        else:
            scan.start_tag(name, _attributes(match[3]))
    scan.text_seen(page[position:])
    return scan.page


class _PageScan:
    """The state of :func:`parse_page` between tags."""

    def __init__(self) -> None:
        self.page = DrivePage()
        self.hidden: str | None = None  # inside <script> or <style> until its end tag
        self.in_form = self.in_title = False
        self.caption_depth = 0
        self.text_length = 0

    def start_tag(self, name: str, attributes: dict[str, str]) -> None:
        if self.hidden is not None:
            return
        page = self.page
        if name in _HIDDEN_TAGS:
            self.hidden = name
        elif name == "form" and attributes.get("id") == "download-form":
            self.in_form = True
            page.form_action = attributes.get("action", "")
            page.form_method = attributes.get("method", "get").lower()
        elif name == "input" and self.in_form and attributes.get("name"):
            if attributes.get("type", "text").lower() == "hidden":
                page.form_inputs[attributes["name"]] = attributes.get("value", "")
        elif name == "a" and attributes.get("id") == "uc-download-link" and attributes.get("href"):
            page.download_link = attributes["href"]
        elif name == "title":
            self.in_title = True
        if name in _VOID_TAGS:
            return
        if "uc-error-subcaption" in attributes.get("class", "").split():
            self.caption_depth = 1
        elif self.caption_depth:
            self.caption_depth += 1

    def end_tag(self, name: str) -> None:
        if self.hidden is not None:
            if name == self.hidden:
                self.hidden = None
            return
        if name == "form":
            self.in_form = False
        elif name == "title":
            self.in_title = False
        if self.caption_depth:
            self.caption_depth -= 1

    def text_seen(self, text: str) -> None:
        if self.hidden is not None or not text or self.text_length >= TEXT_LIMIT:
            return
        text = html.unescape(text[: TEXT_LIMIT - self.text_length])
        self.text_length += len(text)
        self.page.text += text + " "
        if self.in_title:
            self.page.title += text
        if self.caption_depth:
            self.page.subcaption += text


def _attributes(text: str) -> dict[str, str]:
    attributes = {}
    for match in _ATTRIBUTE.finditer(text):
        value = next((group for group in match.groups()[1:] if group is not None), "")
        attributes.setdefault(match[1].lower(), html.unescape(value))
    return attributes


def _without_comments(page: str) -> str:
    """``page`` without its ``<!-- ... -->`` comments (an unclosed one ends the page)."""
    pieces, position = [], 0
    while (start := page.find("<!--", position)) != -1:
        pieces.append(page[position:start])
        end = page.find("-->", start + 4)
        if end == -1:
            return "".join(pieces)
        position = end + 3
    pieces.append(page[position:])
    return "".join(pieces)


def download_file(
    file_id: str,
    destination: str | os.PathLike[str],
    *,
    resourcekey: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
    digest: PublishedDigest | None = None,
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
    common = dict(
        sha256=sha256, size=size, digest=digest, session=session, retry=retry, progress=progress, timeout=timeout
    )
    label = Path(destination).name
    for _ in range(3):  # direct link, then at most two interstitial forms
        try:
            return download_url(url, destination, params=params, label=label, **common)
        except HTMLPageError as error:
            url, params = _next_request(what, error.url, error.page, error.status_code)
        except HTTPStatusError as error:
            _raise_for_page(what, error.url, parse_page(error.page or ""), error.status_code)
            raise
    raise GoogleDriveError(
        f"{what}: Drive kept answering with confirmation pages instead of the file; "
        "download it in a browser and place it in the cache, or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
    )


def _next_request(what: str, page_url: str, page: str, status: int) -> tuple[str, dict[str, str]]:
    """The form submission an interstitial page asks for; raises for error pages."""
    parsed = parse_page(page)
    if _is_quota_page(parsed):
        _raise_for_page(what, page_url, parsed, status)
    if parsed.form_action is None and parsed.download_link is not None:
        link = urlsplit(_followed_url(what, page_url, parsed.download_link))
        return urlunsplit((link.scheme, link.netloc, link.path, "", "")), dict(parse_qsl(link.query))
    if parsed.form_action is None:
        _raise_for_page(what, page_url, parsed, status)
        title = printable(parsed.title.strip(), 100) or "untitled page"
        raise GoogleDriveError(
            f"{what}: expected the file or Drive's download confirmation form, got an HTML page "
            f"({title!r}, HTTP {status}) from {printable(page_url)}; nothing was saved. Download it in a browser and "
            "place it in the cache, or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
        )
    return _followed_url(what, page_url, parsed.form_action), dict(parsed.form_inputs)


def _followed_url(what: str, page_url: str, target: str) -> str:
    """The absolute URL a page's form or link leads to, when it stays with Drive; GoogleDriveError otherwise."""
    try:
        url = urljoin(page_url, target)
        page_parts, parts = urlsplit(page_url), urlsplit(url)
    except ValueError as error:
        url, problem = target, f"is malformed ({error})"
    else:
        problem = url_problem(url)
        if problem is None and page_parts.scheme.lower() == "https" and parts.scheme.lower() != "https":
            problem = "leaves https for plain http"
        elif problem is None and not _is_drive_host(parts.hostname, page_parts.hostname):
            problem = f"is on {parts.hostname}, not Google Drive"
    if problem is not None:
        raise GoogleDriveError(
            f"{what}: the page's download form leads to {printable(url)}, which {problem}; refused. Download the "
            "file in a browser and place it in the cache, or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
        )
    return url


def _is_drive_host(host: str | None, page_host: str | None) -> bool:
    host = (host or "").lower()
    return host == (page_host or "").lower() or any(
        host == domain or host.endswith("." + domain) for domain in GOOGLE_DOMAINS
    )


def _is_quota_page(parsed: DrivePage) -> bool:
    text = re.sub(r"\s+", " ", parsed.subcaption + " " + parsed.text).lower()
    return any(phrase in text for phrase in QUOTA_PHRASES)


def _raise_for_page(what: str, page_url: str, parsed: DrivePage, status: int) -> None:
    caption = printable(re.sub(r"\s+", " ", parsed.subcaption).strip(), 300)
    title = printable(parsed.title.strip(), 100)
    text = re.sub(r"\s+", " ", (parsed.subcaption + " " + parsed.title + " " + parsed.text)).lower()
    if _is_quota_page(parsed):
        raise GoogleDriveQuotaError(
            f"{what}: Google Drive's download quota is exhausted "
            f"({caption or 'too many users downloaded it recently'}). "
            "Try again later (quotas reset within 24 hours), use a mirror (DENSENET_ZOO_MIRROR / --mirror), or "
            "download it in a browser and place it in the cache"
        )
    if status in (401, 403) or any(phrase in text for phrase in PERMISSION_PHRASES):
        raise GoogleDrivePermissionError(
            f"{what}: Google Drive refused access (HTTP {status}: {caption or title or 'permission page'}). "
            "Files shared before 2021 need their resourcekey in the manifest; check the file id and resourcekey, "
            "or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
        )
    if status == 404 or any(phrase in text for phrase in MISSING_PHRASES):
        raise GoogleDrivePermissionError(
            f"{what}: Google Drive says the file does not exist (HTTP {status}); it may have been deleted or the "
            "id/resourcekey is wrong. Use a mirror (DENSENET_ZOO_MIRROR / --mirror) or another source"
        )
