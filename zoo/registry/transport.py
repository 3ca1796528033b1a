"""One HTTP GET as a download needs it, with what a hostile server can send checked.

* Redirects are followed here, not inside requests: at most
  :data:`MAX_REDIRECTS` hops, only to ``http(s)://`` URLs, never from https
  back to plain http (anyone on the path could then substitute the file), and
  a loop is reported as one.
* Every failure of requests or urllib3 becomes either :class:`Transient` (the
  connection failed, timed out or dropped: trying again may work) or a typed
  :class:`~zoo.registry.errors.DownloadError` (:class:`BadURLError`,
  :class:`RedirectError`, :class:`BadResponseError`), never a traceback.
* The framing headers (``Content-Length``, ``Content-Range``) and the
  validator (``ETag`` / ``Last-Modified``) are parsed strictly and bounded.
* Bodies are read raw: a ``Content-Encoding`` is never decoded, so the bytes
  hashed are the bytes sent and no compressed "bomb" can expand; only the
  short error pages shown to users are decoded, within a bound.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import re
import time
import zlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from zoo.registry.errors import BadResponseError, BadURLError, DownloadError, RedirectError

MAX_REDIRECTS = 10
MAX_URL_LENGTH = 8192
#: No model densenet-zoo serves comes near this; a declared size above it is a hostile or broken server.
MAX_FILE_SIZE = 1 << 36
PAGE_LIMIT = 1 << 20
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_DIGITS = re.compile(r"\d{1,20}")
_CONTENT_RANGE = re.compile(r"bytes (\d{1,20})-(\d{1,20})/(\d{1,20}|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes \*/(\d{1,20})", re.IGNORECASE)
_VALIDATOR = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,255}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


class Transient(Exception):
    """The connection failed, timed out or dropped; the same request may work later."""


def url_problem(url: Any) -> str | None:
    """Why densenet-zoo will not fetch ``url`` (not an absolute http(s) URL with a host), or None."""
    if not isinstance(url, str) or not url:
        return "is not a URL"
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    if _UNPRINTABLE.search(url) or " " in url:
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        return f"is malformed ({error})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"is a {parts.scheme or 'relative'!r} URL, not http:// or https://"
    if not parts.hostname:
        return "has no host"
    return None


def check_url(url: str, what: str = "URL") -> str:
    """``url`` unchanged when :func:`url_problem` finds nothing; :class:`BadURLError` otherwise."""
    problem = url_problem(url)
    if problem is not None:
        raise BadURLError(
            f"{what} {printable(url)} {problem}; densenet-zoo downloads only http:// and https:// URLs. "
            "Check the manifest's source or the mirror setting (DENSENET_ZOO_MIRROR / --mirror)"
        )
    return url


def printable(text: Any, limit: int = 200) -> str:
    """``text`` from a server or file, safe for a one-line message: no control characters, at most ``limit``."""
    text = _UNPRINTABLE.sub("?", str(text))
    return text if len(text) <= limit else text[:limit] + "..."


def get(
    session: Any,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: tuple[float, float],
    params: Mapping[str, str] | None = None,
) -> Any:
    """``session.get(url, stream=True)``, following redirects by the rules above; the caller closes the response."""
    check_url(url)
    chain: list[str] = []
    secure = False
    while True:
        response = _send(session, url, params, headers, timeout)
        secure = secure or response.url.lower().startswith("https:")
        if response.status_code not in REDIRECT_STATUSES:
            return response
        chain.append(response.url)
        location = response.headers.get("Location")
        status = response.status_code
        response.close()
        url, params = _redirect_target(chain, status, location, secure), None


def _send(
    session: Any, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str], timeout: tuple[float, float]
) -> Any:
    """One request through ``session``'s adapter, with its headers, cookies, proxies and certificates.

    Not ``session.get``: even with ``allow_redirects=False`` requests prepares
    ``response.next`` for a redirect, reading (and gzip-decoding, without a
    bound) the redirect's body and parsing its ``Location`` unchecked.
    """
    import requests  # here, not at module level: ``import zoo.registry`` stays free of requests

    try:
        prepared = session.prepare_request(requests.Request("GET", url, headers=dict(headers), params=params))
        settings = session.merge_environment_settings(prepared.url, {}, True, None, None)
        response = session.get_adapter(prepared.url).send(prepared, timeout=timeout, **settings)
        requests.cookies.extract_cookies_to_jar(session.cookies, prepared, response.raw)
        return response
    except (requests.ConnectionError, requests.Timeout) as error:
        raise Transient(f"connection failed: {printable(error, 400)}") from error
    except requests.RequestException as error:
        raise _translated(error, url) from error
    except ValueError as error:  # a URL or header requests or http.client cannot use
        raise BadURLError(f"{printable(url)} cannot be fetched: {printable(error, 200)}") from error


def _translated(error: Exception, url: str) -> DownloadError:
    """A requests exception that retrying will not fix, as the registry's error."""
    from requests import exceptions

    reason = printable(error, 400)
    if isinstance(error, (exceptions.InvalidSchema, exceptions.MissingSchema, exceptions.InvalidURL)):
        return BadURLError(f"{printable(url)} cannot be fetched: {reason}. Check the manifest's source or the mirror")
    if isinstance(error, exceptions.TooManyRedirects):
        return RedirectError(f"{printable(url)}: {reason}")
    if isinstance(error, (exceptions.InvalidHeader, exceptions.ContentDecodingError)):
        return BadResponseError(
            f"{printable(url)} sent a malformed answer ({reason}); nothing was saved. "
            "Try again later or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
        )
    return DownloadError(f"{printable(url)}: {type(error).__name__}: {reason}")


def _redirect_target(chain: list[str], status: int, location: str | None, secure: bool) -> str:
    """The absolute URL a redirect points to, refused when it is unusable, a downgrade or a loop."""
    origin = chain[-1]
    if not location:
        raise RedirectError(f"{printable(origin)} answered HTTP {status} (a redirect) without saying where to")
    with contextlib.suppress(UnicodeError):  # http.client decodes headers as latin-1; servers send UTF-8
        location = location.encode("latin-1").decode("utf-8")
    try:
        target = urlunsplit(urlsplit(urljoin(origin, location))._replace(fragment=""))
    except ValueError as error:
        target, problem = location, f"is malformed ({error})"
    else:
        problem = url_problem(target)
    where = f"{printable(origin)} redirects to {printable(target)}"
    if problem is not None:
        raise RedirectError(f"{where}, which {problem}; the download was refused. Check the source URL")
    if secure and urlsplit(target).scheme.lower() == "http":
        raise RedirectError(
            f"{where}: from https to plain http, where anyone on the network could substitute the file; refused. "
            "Use an https source or a mirror (DENSENET_ZOO_MIRROR / --mirror)"
        )
    if target in chain:
        loop = " -> ".join(printable(url, 80) for url in [*chain[chain.index(target) :], target])
        raise RedirectError(f"redirect loop: {loop}; the server is misconfigured. Try again later or use a mirror")
    if len(chain) > MAX_REDIRECTS:
        raise RedirectError(f"{where}: more than {MAX_REDIRECTS} redirects; refused. Try again later or use a mirror")
    return target


def body_chunks(response: Any, chunk_size: int) -> Iterator[bytes]:
    """The raw (never decoded) body in pieces of up to ``chunk_size`` bytes, as they arrive.

    ``read1`` (urllib3 >= 2) hands over whatever arrived, so the bytes received
    before a dropped connection are kept and a download resumes after them.
    A dropped connection raises :class:`Transient`, garbage :class:`BadResponseError`.
    """
    import urllib3

    raw = response.raw
    read = raw.read1 if hasattr(raw, "read1") else lambda amount: raw.read(min(amount, 1 << 14), decode_content=False)
    try:
        while chunk := read(chunk_size):
            yield chunk
    except (
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.ReadTimeoutError,
        urllib3.exceptions.SSLError,
    ) as error:
        raise Transient(f"connection dropped: {printable(error, 400)}") from error
    except urllib3.exceptions.HTTPError as error:
        raise BadResponseError(f"{printable(response.url)} sent a malformed body: {printable(error, 400)}") from error


def read_page(response: Any, head: bytes = b"", limit: int = PAGE_LIMIT) -> str:
    """At most ``limit`` bytes of a (textual) answer, after ``head`` already read; for messages and page parsing."""
    body = bytearray(head[:limit])
    try:
        for chunk in body_chunks(response, limit):
            body += chunk[: limit - len(body)]
            if len(body) >= limit:
                break
    except (Transient, DownloadError):
        pass  # a page cut short is still worth showing
    return _decoded(bytes(body), response.headers.get("Content-Encoding", ""), limit).decode("utf-8", "replace")


def _decoded(body: bytes, encoding: str, limit: int) -> bytes:
    """A gzip/deflate page decompressed to at most ``limit`` bytes; other encodings as sent."""
    if encoding.strip().lower() not in ("gzip", "x-gzip", "deflate"):
        return body
    try:
        return zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(body, limit)  # gzip or zlib header
    except zlib.error:
        return body


def content_length(response: Any) -> int | None:
    """The declared body length; None for a chunked or close-delimited body. Malformed: BadResponseError."""
    if "chunked" in response.headers.get("Transfer-Encoding", "").lower():
        return None  # chunked framing wins over a Content-Length (RFC 9112, 6.3)
    header = response.headers.get("Content-Length")
    if header is None:
        return None
    values = {value.strip() for value in header.split(",")}
    if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
        raise BadResponseError(f"{printable(response.url)} sent a malformed Content-Length {printable(header)!r}")
    return _bounded(int(values.pop()), response)


def is_delimited(response: Any) -> bool:
    """True when the body's end is marked (a length or chunked), not only by the connection closing."""
    chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
    return chunked or content_length(response) is not None


def content_range(response: Any) -> tuple[int, int, int | None] | None:
    """``(first, last, total)`` of a 206 answer's ``Content-Range`` (total None for ``*``), or None if malformed."""
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if match is None:
        return None
    first, last = int(match[1]), int(match[2])
    total = None if match[3] == "*" else int(match[3])
    if first > last or (total is not None and last >= total):
        return None
    return first, last, None if total is None else _bounded(total, response)


def unsatisfied_total(response: Any) -> int | None:
    """The file size a 416 answer's ``Content-Range: bytes */N`` states, or None."""
    match = _UNSATISFIED_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    return int(match[1]) if match else None


def validator(response: Any) -> str | None:
    """The response's strong ``ETag``, else its ``Last-Modified``: what identifies this version of the file."""
    etag = response.headers.get("ETag", "").strip()
    if _VALIDATOR.fullmatch(etag) and not etag.startswith("W/"):
        return etag
    modified = response.headers.get("Last-Modified", "").strip()
    return modified if _VALIDATOR.fullmatch(modified) else None


def is_validator(value: Any) -> bool:
    """True for a string :func:`validator` could have returned (safe to send back in ``If-Range``)."""
    return isinstance(value, str) and _VALIDATOR.fullmatch(value) is not None


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as non-negative seconds (a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, OSError, IndexError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _bounded(size: int, response: Any) -> int:
    if size > MAX_FILE_SIZE:
        raise BadResponseError(
            f"{printable(response.url)} declares {size} bytes, more than densenet-zoo accepts for one file "
            f"({MAX_FILE_SIZE} bytes); refused. Check the source or use a mirror"
        )
    return size
