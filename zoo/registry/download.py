"""Verified, resumable downloads over ``requests``.

A download streams into ``<destination>.part`` while hashing; after a dropped
connection it resumes with an HTTP ``Range`` request; connection errors, 429
and 5xx answers are retried with capped exponential backoff (honouring
``Retry-After``). Only a file whose size and sha256 (and, where a publisher
gave one, md5 or sha1: :mod:`zoo.registry.digests`) check out is renamed onto
``destination``; anything else is deleted, so a failed or substituted file is
never where it could be used.

What a hostile server or a file planted in the cache cannot do:

* make a download write through a link: the ``.part`` is opened with
  ``O_NOFOLLOW`` and must be the user's own regular file (:mod:`safe_files`);
* get other bytes accepted when nothing was published to check them against:
  a ``.part`` is resumed only when a hash will vouch for the result or the
  server's validator (``ETag`` / ``Last-Modified``, sent back as ``If-Range``)
  equals the one recorded in ``<destination>.part.json`` when the part was
  started; a body shorter than its ``Content-Length``, its ``Content-Range``
  or the manifest's size is resumed, never accepted; and a body whose end is
  marked only by the connection closing is accepted only when a size or hash
  can vouch for it;
* pass off a web page as a model: the first bytes are sniffed after leading
  whitespace and a byte-order mark, whatever the ``Content-Type`` says;
* redirect the download elsewhere, or crash it with malformed answers:
  see :mod:`transport`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import IO, Any

from densenet_zoo_util.atomic import write_text_atomic
from densenet_zoo_util.hashing import HASH_CHUNK_SIZE, new_digest
from zoo import __version__
from zoo.registry import transport
from zoo.registry.digests import PublishedDigest
from zoo.registry.errors import (
    BadResponseError,
    CacheFileError,
    DownloadError,
    HTMLPageError,
    HTTPStatusError,
    RetriesExhaustedError,
    VerificationError,
)
from zoo.registry.safe_files import create_new, open_existing, own_file, read_small, same_file
from zoo.registry.transport import MAX_FILE_SIZE, printable

CHUNK_SIZE = 1 << 20
#: Bytes held back at the start of a body until it is clear whether it is a web page.
SNIFF_LIMIT = 1 << 16
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = f"densenet-zoo/{__version__}"
PART_SUFFIX = ".part"
VALIDATOR_SUFFIX = ".part.json"

_LEADING_BYTES = b"\xef\xbb\xbf \t\n\x0c\r"  # a UTF-8 byte-order mark and HTML's whitespace
_PAGE_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<meta", b"<title", b"<script", b"<?xml")


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
    """``<destination>.part``: the bytes received so far."""
    return destination.with_name(destination.name + PART_SUFFIX)


def validator_path(destination: Path) -> Path:
    """``<destination>.part.json``: the server's validator and declared size when the ``.part`` was started."""
    return destination.with_name(destination.name + VALIDATOR_SUFFIX)


def looks_like_html(head: bytes, complete: bool = True) -> bool | None:
    """Whether a file whose first bytes are ``head`` is a web page rather than a model file.

    Leading whitespace and a UTF-8 byte-order mark are skipped (pages may start
    with them; no model format does); a file of nothing but whitespace is no
    model either. With ``complete=False`` (more bytes may follow) the answer
    is None while ``head`` cannot tell yet.
    """
    text = head.lstrip(_LEADING_BYTES)
    undecided = not complete and len(head) < SNIFF_LIMIT
    if not text:
        return None if undecided else bool(head)
    if len(text) < 16 and undecided:
        return None
    return text[:16].lower().startswith(_PAGE_STARTS)


def download_url(
    url: str,
    destination: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    size: int | None = None,
    digest: PublishedDigest | None = None,
    params: Mapping[str, str] | None = None,
    session: Any = None,
    timeout: tuple[float, float] = (15.0, 60.0),
    retry: RetryPolicy | None = None,
    progress: bool = True,
    label: str | None = None,
) -> DownloadResult:
    """Fetch ``url`` to ``destination``, verified against ``sha256`` (full or prefix), ``size`` and ``digest``.

    A ``.part`` file left by an interrupted earlier run is resumed when that
    is safe (see the module docstring). Raises :class:`DownloadError` (or a
    subclass) when the file cannot be fetched, :class:`VerificationError` when
    it arrives but does not match, and :class:`CacheFileError` when a planted
    file stands where the download would write; in every case no file is left
    at ``destination`` or as ``.part`` (except a partial file whose bytes so far
    were all received correctly, which a retry resumes).
    """
    destination = Path(destination)
    transport.check_url(url)
    destination.parent.mkdir(parents=True, exist_ok=True)
    own_file(destination)  # a link or another user's file where the result will go: refused before any request
    retry = retry or RetryPolicy()
    part = _Partial(destination, digest)
    part.resume(verified=sha256 is not None or digest is not None, size=size)
    bar = ProgressBar(label or destination.name, size, enabled=progress)
    download = _Download(url, params, session or new_session(), timeout, part, sha256, size, bar)
    try:
        _attempt_until_complete(download, retry)
    except BaseException as error:
        bar.close()
        # Only bytes received intact are kept to resume later: the retries ran out, a page came instead
        # of the rest (Drive's confirmation), or Ctrl-C.
        keep_partial = isinstance(error, (RetriesExhaustedError, KeyboardInterrupt, HTMLPageError))
        part.keep() if keep_partial and part.offset and download.may_resume() else part.discard()
        raise
    bar.close()
    return part.finish(destination, sha256, size, url)


def _attempt_until_complete(download: _Download, retry: RetryPolicy) -> None:
    """Repeat :meth:`_Download.attempt`, waiting as ``retry`` says, until the whole file is in the part.

    Raises :class:`RetriesExhaustedError` when the retries are used up. The count of failures in a
    row restarts whenever an attempt brought new bytes, so a connection that keeps making progress
    gets more tries; a bound on all failures (20 times ``retry.attempts``) still ends a hopeless one.
    """
    part = download.part
    failures = total_failures = furthest = 0
    while True:
        try:
            download.attempt()
            return
        except _Retryable as retryable:
            if part.offset and not download.may_resume():
                part.discard()  # nothing would vouch for these bytes after a reconnection
            failures = 1 if part.offset > furthest else failures + 1  # only new bytes reset the count
            furthest = max(furthest, part.offset)
            total_failures += 1
            if failures >= retry.attempts or total_failures >= retry.attempts * 20:
                raise RetriesExhaustedError(
                    f"could not download {printable(download.url)} after {total_failures} failed attempts "
                    f"({part.offset} bytes received): {retryable}. Check the network, try again later, "
                    "or use a mirror (DENSENET_ZOO_MIRROR / --mirror) or place the file in the cache manually"
                ) from retryable.__cause__
            retry.sleep(retry.delay(failures, retryable.retry_after))


def copy_verified(
    source_path: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    size: int | None = None,
    digest: PublishedDigest | None = None,
    progress: bool = True,
) -> DownloadResult:
    """Copy a local file (a mirror directory's) to ``destination`` with the same checks as a download."""
    source_path = Path(source_path)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    own_file(destination)
    part = _Partial(destination, digest)
    bar = ProgressBar(destination.name, source_path.stat().st_size, enabled=progress)
    try:
        with open(source_path, "rb") as reader:
            part.start(None, None)
            head = reader.read(SNIFF_LIMIT)
            if looks_like_html(head):
                raise HTMLPageError(
                    f"expected a model file at {source_path}, found an HTML page; nothing was copied. "
                    "Replace it with the real file",
                    url=str(source_path),
                    page=head.decode("utf-8", "replace"),
                )
            for chunk in chain([head], iter(lambda: reader.read(CHUNK_SIZE * 16), b"")):
                part.write(chunk)
                if part.offset > (size if size is not None else MAX_FILE_SIZE):
                    raise VerificationError(
                        f"{source_path} is larger than the expected {size} bytes; it is not the published file. "
                        "Replace it with the published file"
                    )
                bar.update(part.offset)
    except BaseException:
        part.discard()
        raise
    finally:
        bar.close()
    return part.finish(destination, sha256, size, str(source_path))


class _Retryable(Exception):
    """A failure that another request may get past (after ``retry_after`` seconds, when the server said so)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _Partial:
    """``<destination>.part``: the bytes received so far, their running hashes, and the version they belong to.

    The running hashes are the sha256 and, when the publisher gave one, the
    ``digest``'s algorithm (md5 or sha1), so each byte is read once.

    The version is the server's validator (``ETag`` or ``Last-Modified``) and
    declared total size, written atomically to ``<destination>.part.json``
    before the first byte, so that a later run can tell whether the server
    still serves the same file before appending to it.
    """

    def __init__(self, destination: Path, published: PublishedDigest | None = None) -> None:
        self.path = part_path(destination)
        self.sidecar = validator_path(destination)
        self.existing = own_file(self.path)  # a planted link or another user's file: refused here
        self.published = published
        self.offset = 0
        self.hashes = self._new_hashes()
        self.validator: str | None = None
        self.total: int | None = None
        self._stream: os.FileIO | None = None

    def resume(self, verified: bool, size: int | None) -> None:
        """Continue after an earlier run's bytes if something will vouch for them, else start afresh.

        ``verified``: a sha256 will check the whole file; otherwise only a recorded validator allows resuming.
        """
        if self.existing is None:
            self.sidecar.unlink(missing_ok=True)
            return
        self.validator, self.total = self._read_sidecar()
        too_long = self.existing.st_size > min(size or MAX_FILE_SIZE, self.total or MAX_FILE_SIZE)
        if too_long or self.existing.st_size == 0 or not (verified or self.validator is not None):
            self.discard()
            return
        self._stream = open_existing(self.path)
        while chunk := self._stream.read(HASH_CHUNK_SIZE):
            self._hash(chunk)
            self.offset += len(chunk)

    def start(self, validator: str | None, total: int | None) -> None:
        """Begin the file anew for a body of this version; the sidecar is on disk before any byte."""
        self.discard()
        self.validator, self.total = validator, total
        if validator is not None or total is not None:
            write_text_atomic(self.sidecar, json.dumps({"validator": validator, "total": total}) + "\n")
        self._stream = create_new(self.path)

    def write(self, chunk: bytes) -> None:
        pending = memoryview(chunk)
        while pending:  # an unbuffered write may take only part of the bytes
            pending = pending[self._stream.write(pending) :]
        self._hash(chunk)
        self.offset += len(chunk)

    def keep(self) -> None:
        """Flush and close, leaving the part (and its sidecar) for a later run to resume."""
        if self._stream is not None:
            os.fsync(self._stream.fileno())
            self._close()

    def discard(self) -> None:
        """Remove the part (only if it is the file checked or created here) and its sidecar; forget their bytes."""
        if self._stream is not None:
            if same_file(self.path, self._stream):
                self.path.unlink(missing_ok=True)
            self._close()
        elif self.existing is not None:
            self.path.unlink(missing_ok=True)
        self.existing = None
        self.sidecar.unlink(missing_ok=True)  # an unlink never follows a link
        self.offset, self.hashes, self.validator, self.total = 0, self._new_hashes(), None, None

    def _new_hashes(self) -> list[Any]:
        """A running sha256, then one of the published digest's algorithm (if any)."""
        return [hashlib.sha256()] + ([new_digest(self.published.algorithm)] if self.published else [])

    def _hash(self, chunk: bytes) -> None:
        for running in self.hashes:
            running.update(chunk)

    def finish(self, destination: Path, sha256: str | None, size: int | None, origin: str) -> DownloadResult:
        """Check the complete part's size and hash, then rename it onto ``destination``; else remove it."""
        actual = self.hashes[0].hexdigest()
        try:
            if size is not None and self.offset != size:
                raise VerificationError(
                    f"{printable(origin)} gave {self.offset} bytes, expected {size}; the file was discarded. "
                    "Try again, or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
                )
            if sha256 is not None and not actual.startswith(sha256.lower()):
                raise VerificationError(
                    f"{printable(origin)}: expected sha256 {sha256}, found {actual} ({self.offset} bytes); the "
                    "file is corrupt or not the published one and was discarded. Try again, or fetch it from a "
                    "trusted mirror"
                )
            if self.published is not None and not self.published.matches(self.hashes[1].hexdigest()):
                raise VerificationError(
                    f"{printable(origin)}: expected {self.published.describe()}, found {self.published.algorithm} "
                    f"{self.hashes[1].hexdigest()} ({self.offset} bytes); the file is corrupt or not the published "
                    "one and was discarded. Try again, or fetch it from a trusted mirror"
                )
            if self.offset == 0:
                raise VerificationError(f"{printable(origin)} is empty, not a model file; nothing was saved")
            os.fsync(self._stream.fileno())
            if not same_file(self.path, self._stream):
                raise CacheFileError(f"{self.path} was replaced by another file during the download; nothing was saved")
            own_file(destination)
        except BaseException:
            self.discard()
            raise
        self._close()
        os.replace(self.path, destination)
        self.sidecar.unlink(missing_ok=True)
        return DownloadResult(path=destination, sha256=actual, size=self.offset)

    def _read_sidecar(self) -> tuple[str | None, int | None]:
        """The recorded validator and total size; (None, None) when absent or garbage."""
        recorded = read_small(self.sidecar, 4096)
        try:
            values = json.loads(recorded.content) if recorded is not None else {}
        except ValueError:
            return None, None
        if not isinstance(values, dict):
            return None, None
        validator, total = values.get("validator"), values.get("total")
        valid_total = isinstance(total, int) and not isinstance(total, bool) and 0 < total <= MAX_FILE_SIZE
        return (validator if transport.is_validator(validator) else None), (total if valid_total else None)

    def _close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


class _Download:
    """One file's requests: each :meth:`attempt` appends what arrives to the part or raises."""

    def __init__(
        self,
        url: str,
        params: Mapping[str, str] | None,
        session: Any,
        timeout: tuple[float, float],
        part: _Partial,
        sha256: str | None,
        size: int | None,
        bar: ProgressBar,
    ) -> None:
        self.url, self.params, self.session, self.timeout = url, params, session, timeout
        self.part, self.size, self.bar = part, size, bar
        #: whether a published hash (sha256, or the publisher's md5/sha1) will check the whole file in the end
        self.vouched = sha256 is not None or part.published is not None

    def may_resume(self) -> bool:
        """Whether the bytes in the part may be continued after a reconnection (see the module docstring)."""
        return self.vouched or self.part.validator is not None

    def attempt(self) -> None:
        """One request; returns when the whole file is in the part, raises :class:`_Retryable` to try again."""
        part = self.part
        headers = {"Accept-Encoding": "identity"}
        if part.offset:
            headers["Range"] = f"bytes={part.offset}-"
            if part.validator is not None:
                headers["If-Range"] = part.validator
        try:
            response = transport.get(self.session, self.url, params=self.params, headers=headers, timeout=self.timeout)
        except transport.Transient as error:
            raise _Retryable(str(error)) from error
        with response:
            if response.status_code == 416 and part.offset:
                self._range_not_satisfiable(response)
                return
            self._refuse_failure(response)
            body_end, total = self._continue_or_restart(response)
            try:
                self._receive(response, total)
            except transport.Transient as error:
                raise _Retryable(f"after {part.offset} bytes: {error}") from error
        self._check_complete(response, body_end, total)

    def _check_complete(self, response: Any, body_end: int | None, total: int | None) -> None:
        """After a body ended without error: is the whole file in the part? Retry to get the rest, or refuse."""
        offset, where = self.part.offset, printable(response.url)
        delimited = transport.is_delimited(response)
        if response.status_code == 206 and total is None and offset != self.size:
            raise _Retryable(f"{where} sent a range without the file's size; asking for what follows")
        for end in (body_end, total, None if delimited else self.size):
            if end is not None and offset < end:  # cut short, or a range that stops before the end: resume
                raise _Retryable(f"{where} ended the file after {offset} of {end} bytes")
        if self.size is not None and offset < self.size:
            raise VerificationError(
                f"{where} sent {offset} bytes, fewer than the expected {self.size}; the file differs from the one "
                "in the manifest and nothing was kept"
            )
        if self.size is None and total is None and not self.vouched and not delimited:
            raise DownloadError(
                f"{where} did not declare the file's length, and nothing published (size or sha256) can tell the "
                "whole file from one cut short by a dropped connection; it was not kept. Add the file's size or "
                "sha256 to the manifest, or place the file in the cache manually"
            )

    def _same_version(self, response: Any) -> bool:
        """Whether an answer to a range request is the version the part was started from."""
        current = transport.validator(response)
        if self.vouched:  # the hash decides in the end; a changed validator only saves bandwidth
            return current is None or self.part.validator is None or current == self.part.validator
        return self.part.validator is not None and current == self.part.validator

    def _range_not_satisfiable(self, response: Any) -> None:
        """A 416 to ``Range: bytes=N-``: the part is complete if the server's size is N, else start afresh."""
        total = transport.unsatisfied_total(response)
        expected = self.size if self.size is not None else total
        if self.part.offset == expected and self._same_version(response):
            return
        self.part.discard()
        raise _Retryable(f"HTTP 416 for a range of {printable(response.url)}; restarting from the beginning")

    def _refuse_failure(self, response: Any) -> None:
        """Error statuses: retry the temporary ones, raise for the others and for anything but 200 or 206."""
        status = response.status_code
        if status in RETRY_STATUSES:
            retry_after = transport.parse_retry_after(response.headers.get("Retry-After"))
            raise _Retryable(f"HTTP {status} from {printable(response.url)}", retry_after)
        if status >= 400:
            raise HTTPStatusError(
                f"HTTP {status} {printable(response.reason)} for {printable(response.url)}: the server refused the "
                "download (retrying will not help). Check the manifest's source, use a mirror (DENSENET_ZOO_MIRROR / "
                "--mirror), or place the file in the cache manually",
                url=response.url,
                status_code=status,
                page=transport.read_page(response),
            )
        if status not in (200, 206):
            raise BadResponseError(
                f"{printable(response.url)} answered HTTP {status} {printable(response.reason)} instead of the file; "
                "nothing was saved. Check the source URL or use a mirror (DENSENET_ZOO_MIRROR / --mirror)"
            )
        if "text/html" in response.headers.get("Content-Type", "").lower():
            raise HTMLPageError(
                _html_message(response.url), url=response.url, page=transport.read_page(response), status_code=status
            )

    def _continue_or_restart(self, response: Any) -> tuple[int | None, int | None]:
        """Check the answer against the part; returns where this body ends and the file's total size, if declared."""
        part = self.part
        if response.status_code == 206:
            declared = transport.content_range(response)
            if declared is None or declared[0] != part.offset or not self._same_version(response):
                found = printable(response.headers.get("Content-Range", "no Content-Range"))
                part.discard()
                raise _Retryable(f"unexpected answer to a range request ({found!r}); restarting from the beginning")
            body_end, total = declared[1] + 1, declared[2] if declared[2] is not None else part.total
            length = transport.content_length(response)
            if length is not None and length != body_end - part.offset:
                raise BadResponseError(
                    f"{printable(response.url)} declares Content-Length {length} for the range {part.offset}-"
                    f"{body_end - 1}; the answer contradicts itself and was not kept. Try again later or use a mirror"
                )
        else:
            part.discard()  # a 200 carries the whole file (the server ignored Range, or If-Range saw a new version)
            body_end = total = transport.content_length(response)
        if total is not None and part.total is not None and total != part.total:
            part.discard()
            raise _Retryable(f"the file's size changed from {part.total} to {total}; restarting")
        if total is not None and self.size is not None and total != self.size:
            raise VerificationError(
                f"{printable(response.url)} has {total} bytes, {'more' if total > self.size else 'fewer'} than the "
                f"expected {self.size}; the file differs from the one in the manifest and nothing was kept"
            )
        return body_end, total

    def _receive(self, response: Any, total: int | None) -> None:
        """Append the body to the part (sniffing a file's first bytes for a web page)."""
        part, bar = self.part, self.bar
        limit = self.size if self.size is not None else MAX_FILE_SIZE
        chunks = transport.body_chunks(response, CHUNK_SIZE)
        if part.offset == 0:
            chunks = self._sniffed(chunks, response)
            part.start(transport.validator(response), total)
        if bar.total is None and total is not None:
            bar.total = total
        for chunk in chunks:
            part.write(chunk)
            if part.offset > limit:
                raise VerificationError(
                    f"{printable(response.url)} sent more than the expected {limit} bytes; "
                    "the file differs from the one in the manifest and was discarded"
                )
            bar.update(part.offset)

    def _sniffed(self, chunks: Iterator[bytes], response: Any) -> Iterator[bytes]:
        """``chunks``, the first ones held back until :func:`looks_like_html` can tell; a page raises."""
        head = b""
        for chunk in chunks:
            if head is None:
                yield chunk
                continue
            head += chunk
            verdict = looks_like_html(head, complete=False)
            if verdict is None:
                continue
            if verdict:
                raise self._page_error(response, head)
            yield head
            head = None
        if head:  # the whole body was shorter than the sniff needed
            if looks_like_html(head):
                raise self._page_error(response, head)
            yield head

    def _page_error(self, response: Any, head: bytes) -> HTMLPageError:
        page = transport.read_page(response, head)
        return HTMLPageError(_html_message(response.url), url=response.url, page=page, status_code=response.status_code)


def _html_message(url: str) -> str:
    return (
        f"expected a model file from {printable(url)}, but the server sent an HTML page; nothing was saved. "
        "The link may need a login, have moved, or be rate-limited: try again later, use a mirror "
        "(DENSENET_ZOO_MIRROR / --mirror), or place the file in the cache manually"
    )


__all__ = [
    "DownloadResult",
    "ProgressBar",
    "RetryPolicy",
    "copy_verified",
    "download_url",
    "looks_like_html",
    "new_session",
]
