"""Verified, resumable downloads over ``requests``.

A download streams into ``<destination>.part`` while hashing; after a dropped
connection it resumes with an HTTP ``Range`` request; connection errors, 429
and 5xx answers are retried with capped exponential backoff (honouring
``Retry-After``). Only a file whose size and sha256 check out is renamed onto
``destination``; anything else is deleted, so a failed or substituted file is
never where it could be used. An HTML page is never saved as a model.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from converters.hashing import update_from_file
from zoo import __version__
from zoo.registry.errors import DownloadError, HTMLPageError, HTTPStatusError, VerificationError

CHUNK_SIZE = 1 << 20
HTML_PAGE_LIMIT = 1 << 20
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = f"densenet-zoo/{__version__}"


@dataclass
class RetryPolicy:
    """How hard to try: ``attempts`` consecutive failures without new bytes end the download.

    Waits grow as ``backoff * 2**n`` and, like a server's ``Retry-After``, are
    capped at ``max_delay`` seconds. ``sleep`` is injectable so tests need not wait.
    """

    attempts: int = 5
    backoff: float = 1.0
    max_delay: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delay(self, failures: int, retry_after: float | None) -> float:
        wanted = retry_after if retry_after is not None else self.backoff * 2 ** (failures - 1)
        return max(0.0, min(wanted, self.max_delay))


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    size: int


class ProgressBar:
    """A one-line progress bar on a terminal stream; silent when disabled or not a TTY."""

    def __init__(self, label: str, total: int | None, enabled: bool = True, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.label = label
        self.total = total
        self.done = 0
        self._last_draw = 0.0

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.enabled and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        megabytes = self.done / 1e6
        if self.total:
            fraction = min(1.0, self.done / self.total)
            filled = int(fraction * 30)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"\r{self.label} [{bar}] {megabytes:8.1f}/{self.total / 1e6:.1f} MB {fraction:4.0%}"
        else:
            text = f"\r{self.label} {megabytes:8.1f} MB"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()


def new_session() -> Any:
    """A requests session with this project's User-Agent."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def part_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part")


def looks_like_html(head: bytes) -> bool:
    """True when the first bytes of a response are an HTML page rather than a binary model file."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<meta", b"<title"))


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def download_url(
    url: str,
    destination: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    size: int | None = None,
    params: Mapping[str, str] | None = None,
    session: Any = None,
    timeout: tuple[float, float] = (15.0, 60.0),
    retry: RetryPolicy | None = None,
    progress: bool = True,
    label: str | None = None,
) -> DownloadResult:
    """Fetch ``url`` to ``destination``, verified against ``sha256`` (full or prefix) and ``size``.

    A ``.part`` file left by an interrupted earlier run is resumed. Raises
    :class:`DownloadError` (or a subclass) when the file cannot be fetched and
    :class:`VerificationError` when it arrives but does not match; in both cases
    no file is left at ``destination`` or as ``.part`` (except a partial file
    whose bytes so far were all received correctly, which a retry resumes).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    retry = retry or RetryPolicy()
    session = session or new_session()
    partial = part_path(destination)
    label = label or destination.name

    state = _StreamState()
    if partial.exists():
        if size is not None and partial.stat().st_size > size:
            partial.unlink()
        else:
            state.offset = update_from_file(state.digest, partial)

    bar = ProgressBar(label, size, enabled=progress)
    failures = 0
    total_failures = 0
    keep_partial = False  # only bytes received intact (network gave up, or Ctrl-C) are kept to resume later
    try:
        while True:
            try:
                _stream_once(session, url, params, partial, state, size, timeout, bar)
                break
            except _Retryable as retryable:
                failures = 1 if retryable.made_progress else failures + 1
                total_failures += 1
                if failures >= retry.attempts or total_failures >= retry.attempts * 20:
                    keep_partial = True
                    raise DownloadError(
                        f"could not download {url} after {total_failures} failed attempts "
                        f"({state.offset} bytes received): {retryable.reason}. Check the network, try again later, "
                        "or use a mirror (DENSENET_ZOO_MIRROR / --mirror) or place the file in the cache manually"
                    ) from retryable.__cause__
                retry.sleep(retry.delay(failures, retryable.retry_after))
    except KeyboardInterrupt:
        bar.close()
        raise
    except HTMLPageError:
        bar.close()
        if state.offset == 0:  # nothing of the file was received: no partial file to keep
            partial.unlink(missing_ok=True)
        raise
    except BaseException:
        bar.close()
        if not keep_partial:
            partial.unlink(missing_ok=True)
        raise
    bar.close()
    return _finish(partial, destination, state.digest, state.offset, sha256, size, url)


class _StreamState:
    """Bytes received so far and their running hash; shared across attempts."""

    def __init__(self) -> None:
        self.offset = 0
        self.digest = hashlib.sha256()

    def restart(self, partial: Path) -> None:
        partial.unlink(missing_ok=True)
        self.offset = 0
        self.digest = hashlib.sha256()


class _Retryable(Exception):
    def __init__(self, reason: str, made_progress: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.made_progress = made_progress
        self.retry_after = retry_after


def _stream_once(session, url, params, partial: Path, state: _StreamState, size, timeout, bar) -> None:
    """One HTTP request, appending to ``partial`` and updating ``state``."""
    import requests  # here, not at module level: ``import zoo.registry`` stays free of requests
    import urllib3

    headers = {"Accept-Encoding": "identity"}
    if state.offset:
        headers["Range"] = f"bytes={state.offset}-"
    start_offset = state.offset
    try:
        response = session.get(url, params=params, headers=headers, stream=True, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as error:
        raise _Retryable(f"connection failed: {error}", False) from error
    with response:
        status = response.status_code
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _Retryable(f"HTTP {status} from {response.url}", False, retry_after)
        if status == 416 and state.offset:
            if size is not None and state.offset == size:
                return
            state.restart(partial)
            raise _Retryable(f"HTTP 416 for a range of {response.url}; restarting from the beginning", True)
        if status >= 400:
            page = _read_page(response)
            raise HTTPStatusError(
                f"HTTP {status} {response.reason} for {response.url}: the server refused the download "
                "(retrying will not help). Check the manifest's source, use a mirror (DENSENET_ZOO_MIRROR / --mirror), "
                "or place the file in the cache manually",
                url=response.url,
                status_code=status,
                page=page,
            )
        if state.offset and status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {state.offset}-"):
                state.restart(partial)
                raise _Retryable(f"unexpected Content-Range {content_range!r}; restarting from the beginning", True)
        elif state.offset:
            if "text/html" in response.headers.get("Content-Type", "").lower():
                # A page (e.g. Google Drive's confirmation) instead of the file: the bytes so far stay for the retry.
                page = _read_page(response)
                raise HTMLPageError(_html_message(response.url), url=response.url, page=page, status_code=status)
            state.restart(partial)  # the server ignored Range and sends the whole file
        offset = state.offset
        if offset == 0 and "text/html" in response.headers.get("Content-Type", "").lower():
            page = _read_page(response)
            raise HTMLPageError(_html_message(response.url), url=response.url, page=page or "", status_code=status)
        if bar.total is None:
            length = response.headers.get("Content-Length")
            if length and length.isdigit():
                bar.total = offset + int(length)
        mode = "ab" if offset else "wb"
        try:
            with open(partial, mode) as stream:
                for chunk in _body_chunks(response):
                    if not chunk:
                        continue
                    if offset == 0 and looks_like_html(chunk[:512]):
                        page = chunk.decode("utf-8", "replace") + _read_page(response, HTML_PAGE_LIMIT - len(chunk))
                        raise HTMLPageError(
                            _html_message(response.url), url=response.url, page=page, status_code=status
                        )
                    stream.write(chunk)
                    state.digest.update(chunk)
                    state.offset = offset = offset + len(chunk)
                    if size is not None and offset > size:
                        raise VerificationError(
                            f"{response.url} sent more than the expected {size} bytes; "
                            "the file differs from the one in the manifest and was discarded"
                        )
                    bar.update(offset)
                stream.flush()
                os.fsync(stream.fileno())
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.ProtocolError,
            urllib3.exceptions.ReadTimeoutError,
        ) as error:
            raise _Retryable(
                f"connection dropped after {state.offset} bytes: {error}", state.offset > start_offset
            ) from error


def _body_chunks(response) -> Iterator[bytes]:
    """The response body in pieces of up to ``CHUNK_SIZE`` bytes.

    ``read1`` (urllib3 >= 2) hands over whatever arrived, so the bytes received
    before a dropped connection are kept and the download resumes after them;
    older urllib3 falls back to small fixed-size chunks for the same reason.
    """
    raw = response.raw
    if hasattr(raw, "read1"):
        while True:
            chunk = raw.read1(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk
    else:  # pragma: no cover - urllib3 1.x
        yield from response.iter_content(1 << 14)


def _read_page(response, limit: int = HTML_PAGE_LIMIT) -> str:
    """Up to ``limit`` bytes of a (small, textual) response body, for error messages and parsing."""
    try:
        body = b""
        for chunk in response.iter_content(CHUNK_SIZE):
            body += chunk
            if len(body) >= limit:
                break
        return body[:limit].decode("utf-8", "replace")
    except Exception:
        return ""


def _html_message(url: str) -> str:
    return (
        f"expected a model file from {url}, but the server sent an HTML page; nothing was saved. "
        "The link may need a login, have moved, or be rate-limited: try again later, use a mirror "
        "(DENSENET_ZOO_MIRROR / --mirror), or place the file in the cache manually"
    )


def _finish(
    partial: Path, destination: Path, digest: Any, offset: int, sha256: str | None, size: int | None, origin: str
) -> DownloadResult:
    """Check size and hash of a complete ``partial``; rename it into place or delete it."""
    actual = digest.hexdigest()
    if size is not None and offset != size:
        partial.unlink(missing_ok=True)
        raise VerificationError(
            f"{origin} gave {offset} bytes, expected {size}; the file was discarded. "
            "Try again, or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
        )
    if sha256 is not None and not actual.startswith(sha256.lower()):
        partial.unlink(missing_ok=True)
        raise VerificationError(
            f"{origin}: expected sha256 {sha256}, found {actual} ({offset} bytes); the file is corrupt or "
            "not the published one and was discarded. Try again, or fetch it from a trusted mirror"
        )
    os.replace(partial, destination)
    return DownloadResult(path=destination, sha256=actual, size=offset)


def copy_verified(
    source_path: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
) -> DownloadResult:
    """Copy a local file (a mirror directory's) to ``destination`` with the same checks as a download."""
    source_path = Path(source_path)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = part_path(destination)
    digest = hashlib.sha256()
    offset = 0
    bar = ProgressBar(destination.name, source_path.stat().st_size, enabled=progress)
    try:
        with open(source_path, "rb") as reader, open(partial, "wb") as writer:
            for chunk in iter(lambda: reader.read(CHUNK_SIZE * 16), b""):
                if offset == 0 and looks_like_html(chunk[:512]):
                    raise HTMLPageError(
                        f"expected a model file at {source_path}, found an HTML page; nothing was copied. "
                        "Replace it with the real file",
                        url=str(source_path),
                        page=chunk[:HTML_PAGE_LIMIT].decode("utf-8", "replace"),
                    )
                writer.write(chunk)
                digest.update(chunk)
                offset += len(chunk)
                bar.update(offset)
            writer.flush()
            os.fsync(writer.fileno())
    except BaseException:
        bar.close()
        partial.unlink(missing_ok=True)
        raise
    bar.close()
    return _finish(partial, destination, digest, offset, sha256, size, str(source_path))


__all__ = [
    "DownloadResult",
    "ProgressBar",
    "RetryPolicy",
    "copy_verified",
    "download_url",
    "looks_like_html",
    "new_session",
]
