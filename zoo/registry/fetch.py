"""Getting a model's source file into the cache, verified.

Order of preference, per source in manifest order: a verified cached copy;
the mirror (``DENSENET_ZOO_MIRROR``: a directory or a URL prefix, looked up by
the source's cache name); the source itself (Google Drive, a URL, or the
Hugging Face Hub through ``hf_hub_download`` and its cache). Every
file is checked against the manifest's sha256 (or prefix), size and the md5
or sha1 its publisher gave (if any); a source without a published sha256 has
the sha256 of the file it accepted pinned in the cache record (trusted on
first use, loudly, when nothing at all was published) and is refused under
``DENSENET_ZOO_STRICT=1``. One process
downloads a file at a time; the others wait on its lock and then use it.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from densenet_zoo_util.hashing import file_digests
from zoo.registry.cache import FileRecord, cheap_verify, read_record, record_path, write_record
from zoo.registry.download import (
    SNIFF_LIMIT,
    DownloadResult,
    copy_verified,
    download_url,
    looks_like_html,
    new_session,
)
from zoo.registry.errors import (
    DownloadError,
    HTTPStatusError,
    OfflineError,
    RegistryError,
    UnpinnedSourceError,
    VerificationError,
)
from zoo.registry.lock import FileLock
from zoo.registry.manifest import ModelEntry, Source
from zoo.registry.safe_files import own_file
from zoo.registry.settings import Settings


class UnverifiedSourceWarning(UserWarning):
    """A file was accepted without a published checksum (trust on first use)."""


@dataclass(frozen=True)
class FetchedFile:
    """A verified file in the cache, the source it stands for and its record."""

    path: Path
    source: Source
    record: FileRecord


@contextlib.contextmanager
def refusing_unloadable(entry: ModelEntry, fetched: FetchedFile) -> Iterator[None]:
    """Turn a fetched file that does not load as ``entry`` into a :class:`VerificationError`.

    A Torch7 format or conversion error inside the block becomes one; a file
    that was only trusted on first use is also removed with its record, so that
    a bogus file never stays pinned.
    """
    from converters import ConversionError
    from converters.t7 import T7FormatError

    try:
        yield
    except (ConversionError, T7FormatError, VerificationError) as error:
        if fetched.record.trust == "first-use":
            fetched.path.unlink(missing_ok=True)
            record_path(fetched.path).unlink(missing_ok=True)
        if isinstance(error, VerificationError):
            raise
        raise VerificationError(
            f"{fetched.path} (from {fetched.record.origin}) does not convert to {entry.name}: {error}. "
            "It is not used; check the source or the mirror"
        ) from error


def cached_path(source: Source, settings: Settings) -> Path:
    """Where ``source``'s file lives in the cache (its cache name in the cache directory)."""
    return settings.cache_dir / source.cache_name


def expected_hash(source: Source, settings: Settings) -> str | None:
    """The hash a new copy must have: the manifest's, else one pinned earlier on first use."""
    if source.sha256 is not None:
        return source.sha256
    pinned = read_record(cached_path(source, settings))
    return pinned.sha256 if pinned is not None else None


def find_cached(entry: ModelEntry, settings: Settings) -> FetchedFile | None:
    """The first source of ``entry`` already verified in the cache (cheap check), or None."""
    for source in usable_sources(entry, settings):
        path = cached_path(source, settings)
        record = cheap_verify(path, source.sha256, source.digest)
        if record is not None:
            return FetchedFile(path, source, record)
    return None


def usable_sources(entry: ModelEntry, settings: Settings) -> list[Source]:
    """The sources that the settings allow (strict mode drops those without a published hash)."""
    if not settings.strict:
        return list(entry.sources)
    usable = [source for source in entry.sources if source.sha256 is not None]
    if not usable:
        raise UnpinnedSourceError(
            f"{entry.name}: DENSENET_ZOO_STRICT=1 and none of its sources has a published sha256 "
            f"({', '.join(source.cache_name for source in entry.sources)}). A maintainer can pin one with "
            f"`densenet-zoo manifest pin {entry.name}`; or unset DENSENET_ZOO_STRICT to trust it on first use"
        )
    return usable


def fetch(entry: ModelEntry, settings: Settings, session=None) -> FetchedFile:
    """A verified local copy of one of ``entry``'s sources, fetching it if needed."""
    cached = find_cached(entry, settings)
    if cached is not None:
        return cached
    failures: list[tuple[Source, RegistryError]] = []
    for source in usable_sources(entry, settings):
        try:
            return fetch_source(source, settings, session=session)
        except (DownloadError, VerificationError, OfflineError) as error:
            failures.append((source, error))
    if len(failures) == 1:
        raise failures[0][1]
    details = "\n  - ".join(f"{source.cache_name} ({source.describe()}): {error}" for source, error in failures)
    kind = (
        OfflineError
        if all(isinstance(e, OfflineError) for _, e in failures)
        else (VerificationError if all(isinstance(e, VerificationError) for _, e in failures) else DownloadError)
    )
    raise kind(f"{entry.name}: no source could be used:\n  - {details}")


def fetch_source(source: Source, settings: Settings, session=None) -> FetchedFile:
    """Fetch one source into the cache under its lock; waiters reuse the winner's verified file."""
    path = cached_path(source, settings)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(path, timeout=settings.lock_timeout, on_wait=_waiting_notice(settings)):
        record = cheap_verify(path, source.sha256, source.digest)
        if record is not None:
            return FetchedFile(path, source, record)
        expected = expected_hash(source, settings)
        placed = own_file(path)  # a link or another user's file in its place is refused, never adopted
        own_file(record_path(path))  # likewise for its record: refused before any download, not after
        if placed is not None:
            result, origin = _adopt_placed_file(source, path, placed.st_size, expected), f"{path} (placed in the cache)"
        else:
            result, origin = _obtain(source, path, expected, settings, session)
        trust = _trust_of(source, expected)
        if trust == "first-use":
            warnings.warn(
                f"{source.cache_name} from {origin} has no published sha256; trusting it on first use and pinning "
                f"sha256 {result.sha256} ({result.size} bytes) in {record_path(path)}. Later downloads must match "
                "it. Set DENSENET_ZOO_STRICT=1 to refuse such files; maintainers: `densenet-zoo manifest pin`",
                UnverifiedSourceWarning,
                stacklevel=2,
            )
        record = write_record(path, result.sha256, result.size, trust, origin, source.digest)
        return FetchedFile(path, source, record)


def _waiting_notice(settings: Settings):
    """A one-line notice on an interactive stderr while another process downloads the same file."""
    if not settings.progress or not sys.stderr.isatty():
        return None
    return lambda message: print(f"densenet-zoo: {message} (it is downloading the same file)", file=sys.stderr)


def _trust_of(source: Source, expected: str | None) -> str:
    if source.sha256 is not None:
        return "manifest" if source.has_full_hash else "prefix"
    if source.digest is not None:
        return "published-digest"
    return "pinned-first-use" if expected is not None else "first-use"


def _adopt_placed_file(source: Source, path: Path, size: int, expected: str | None) -> DownloadResult:
    """Verify a file that a user put into the cache by hand (or one never checked against the publisher's digest)."""
    digest = source.digest
    found = file_digests(path, ("sha256",) + ((digest.algorithm,) if digest else ()))
    sha256 = found["sha256"]
    if (
        (source.size is not None and size != source.size)
        or (expected is not None and not sha256.startswith(expected))
        or (digest is not None and not digest.matches(found[digest.algorithm]))
    ):
        wanted = f"sha256 {expected}" + (f", {digest.describe()}" if digest else "")
        got = ", ".join(f"{algorithm} {value}" for algorithm, value in found.items())
        raise VerificationError(
            f"{path} was placed in the cache by hand (or never checked against the publisher's digest) but does "
            f"not match: expected {wanted} and {source.size or 'any'} bytes, found {got} and {size} bytes. It is "
            "not used; delete or replace it with the published file"
        )
    with open(path, "rb") as stream:
        if looks_like_html(stream.read(SNIFF_LIMIT)):
            raise VerificationError(f"{path} is an HTML page, not a model file; it is not used. Delete it")
    return DownloadResult(path=path, sha256=sha256, size=size)


def _obtain(
    source: Source, path: Path, expected: str | None, settings: Settings, session
) -> tuple[DownloadResult, str]:
    """Mirror first, then the source itself; offline, only the HF cache of a Hub source is left to try."""
    mirror_dir = settings.mirror_directory()
    if mirror_dir is not None:
        candidate = mirror_dir / source.cache_name
        if candidate.is_file():
            result = copy_verified(
                candidate, path, sha256=expected, size=source.size, digest=source.digest, progress=settings.progress
            )
            return result, str(candidate)
    if settings.offline and source.type != "huggingface":
        where = f" nor in the mirror directory {mirror_dir}" if mirror_dir is not None else ""
        raise OfflineError(
            f"DENSENET_ZOO_OFFLINE=1 and {source.cache_name} is not in the cache (expected at {path}){where}. "
            f"Place the file there (from {source.describe()}), point DENSENET_ZOO_MIRROR at a directory holding it, "
            "or unset DENSENET_ZOO_OFFLINE"
        )
    session = session or new_session()
    common = dict(
        sha256=expected,
        size=source.size,
        digest=source.digest,
        session=session,
        retry=settings.retry,
        progress=settings.progress,
    )
    if settings.mirror_is_url and not settings.offline:
        mirror_url = settings.mirror.rstrip("/") + "/" + source.cache_name
        try:
            return download_url(mirror_url, path, **common), mirror_url
        except HTTPStatusError as error:
            if error.status_code != 404:
                raise
    if source.type == "huggingface":
        return _obtain_from_hub(source, path, expected, settings), source.describe()
    if source.type == "google_drive":
        from zoo.registry import gdrive

        result = gdrive.download_file(source.file_id, path, resourcekey=source.resourcekey, **common)
        return result, source.describe()
    return download_url(source.url, path, **common), source.url


def _obtain_from_hub(source: Source, path: Path, expected: str | None, settings: Settings) -> DownloadResult:
    """The Hub file through ``hf_hub_download`` (HF cache first), copied into our cache once it checks out.

    The HF cache keeps its copy, as Hub users expect; ours is verified against
    the manifest like every other source (``huggingface_hub`` checks no hash).
    """
    from zoo.registry.huggingface import hub_download

    hub_path = hub_download(source.repo_id, source.filename, source.revision, local_files_only=settings.offline)
    try:
        return copy_verified(
            hub_path, path, sha256=expected, size=source.size, digest=source.digest, progress=settings.progress
        )
    except VerificationError as error:
        raise VerificationError(
            f"{source.describe()} does not match the manifest ({error}). densenet-zoo cached nothing (the Hub's "
            "copy stays in the Hugging Face cache): the endpoint (HF_ENDPOINT) serves other files, or the manifest "
            "is wrong"
        ) from error
