"""Where downloaded and converted weights live, and the small records that vouch for them.

The cache directory is ``DENSENET_ZOO_HOME``, else ``$XDG_CACHE_HOME/densenet-zoo``,
else ``~/.cache/densenet-zoo``. Next to every verified file ``F`` sits
``F.record.json`` with its sha256, size, how the hash was trusted (the
manifest, a publisher's md5/sha1, or trust on first use) and the publisher's
digests it was checked against. The record outlives the file: a later
download of the same name must have the same hash.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from densenet_zoo_util.hashing import file_digests
from zoo.registry.digests import PublishedDigest, digest_problem
from zoo.registry.errors import VerificationError
from zoo.registry.safe_files import own_file, read_small

HOME_ENV = "DENSENET_ZOO_HOME"
RECORD_SUFFIX = ".record.json"
TRUST_LEVELS = ("manifest", "prefix", "published-digest", "first-use", "pinned-first-use", "derived")
#: Records are a few hundred bytes; anything much larger was not written by densenet-zoo.
RECORD_LIMIT = 1 << 16

_SHA256 = re.compile(r"[0-9a-f]{64}")


def cache_dir() -> Path:
    """The cache directory as configured by the environment (not created here)."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "densenet-zoo"


@dataclass(frozen=True)
class FileRecord:
    """What was verified about a cached file.

    ``trust`` is ``"manifest"`` (full sha256 published in the manifest),
    ``"prefix"`` (a published sha256 prefix matched), ``"published-digest"``
    (no sha256 was published, the publisher's md5 or sha1 matched; this sha256
    was pinned then), ``"first-use"`` (nothing was published; this hash was
    pinned on first download), ``"pinned-first-use"`` (a later download matched
    that pin) or ``"derived"`` (a file this project made from a verified source).
    ``digests`` holds the publisher's digests the file was checked against
    (``{"md5": ...}``).
    """

    sha256: str
    size: int
    trust: str
    origin: str
    verified_at: float
    digests: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_path(path: Path) -> Path:
    """The record vouching for ``path``: ``<path>.record.json`` beside it."""
    return path.with_name(path.name + RECORD_SUFFIX)


def read_record(path: Path) -> FileRecord | None:
    """The record next to ``path``, or None when there is none or it is garbage (the file is then re-verified).

    Raises :class:`~zoo.registry.errors.CacheFileError` when the record is a
    link or another user's file: a planted record must not vouch for anything.
    """
    recorded = read_small(record_path(path), RECORD_LIMIT)
    if recorded is None:
        return None
    try:
        raw = json.loads(recorded.content)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    sha256, size, trust = raw.get("sha256"), raw.get("size"), raw.get("trust")
    origin, verified_at = raw.get("origin", ""), raw.get("verified_at", 0.0)
    digests = raw.get("digests", {})
    if not (
        isinstance(sha256, str)
        and _SHA256.fullmatch(sha256)
        and isinstance(size, int)
        and not isinstance(size, bool)
        and size >= 0
        and trust in TRUST_LEVELS
        and isinstance(origin, str)
        and isinstance(verified_at, (int, float))
        and math.isfinite(verified_at)
        and isinstance(digests, dict)
        and all(digest_problem(algorithm, value) is None for algorithm, value in digests.items())
    ):
        return None
    return FileRecord(sha256, size, trust, origin, float(verified_at), dict(digests))


def write_record(
    path: Path, sha256: str, size: int, trust: str, origin: str, digest: PublishedDigest | None = None
) -> FileRecord:
    """Write (atomically) the record vouching for ``path`` (and that it matched the publisher's ``digest``)."""
    from densenet_zoo_util.atomic import write_text_atomic

    digests = {digest.algorithm: digest.value} if digest is not None else {}
    record = FileRecord(sha256, int(size), trust, origin, time.time(), digests)
    own_file(record_path(path))  # a planted link or another user's record is refused, not replaced
    write_text_atomic(record_path(path), json.dumps(record.to_dict(), indent=2) + "\n")
    return record


def cheap_verify(
    path: Path, expected_sha256: str | None = None, digest: PublishedDigest | None = None
) -> FileRecord | None:
    """Is ``path`` a verified cached file? Checks existence, the record, the size and the recorded hashes.

    Returns the record, or None when the file is absent or unrecorded, or was
    never checked against the publisher's ``digest`` (it must be verified or
    fetched again). Raises :class:`VerificationError` when a file is present
    but contradicts its record, ``expected_sha256`` (a full digest or prefix)
    or ``digest``: such a file is never used.
    """
    status = own_file(path)
    if status is None:
        return None
    record = read_record(path)
    if record is None:
        return None
    actual_size = status.st_size
    if actual_size != record.size:
        raise VerificationError(
            f"cached file {path} has {actual_size} bytes but was verified with {record.size}; "
            f"it changed after download. Delete it (and {record_path(path).name}) to fetch it again, "
            "or run `densenet-zoo verify` to check the cache"
        )
    if expected_sha256 is not None and not record.sha256.startswith(expected_sha256):
        raise VerificationError(
            f"cached file {path} was verified with sha256 {record.sha256}, but the manifest expects "
            f"{expected_sha256}; delete it to fetch the published file again"
        )
    if digest is not None:
        recorded = record.digests.get(digest.algorithm)
        if recorded is None:
            return None
        if not digest.matches(recorded):
            raise VerificationError(
                f"cached file {path} was verified with {digest.algorithm} {recorded}, but the manifest expects "
                f"{digest.describe()}; delete it to fetch the published file again"
            )
    return record


def full_verify(path: Path) -> FileRecord:
    """Re-hash ``path`` completely and compare with its record, the publisher's digests included (``verify``)."""
    status = own_file(path)
    record = read_record(path)
    if record is None or status is None:
        raise VerificationError(f"{path} has no record {record_path(path).name}; it was not verified by densenet-zoo")
    actual_size = status.st_size
    actual = file_digests(path, ("sha256", *record.digests))
    expected = {"sha256": record.sha256, **record.digests}
    if actual_size != record.size or actual != expected:
        found = ", ".join(f"{algorithm} {value}" for algorithm, value in actual.items())
        wanted = ", ".join(f"{algorithm} {value}" for algorithm, value in expected.items())
        raise VerificationError(
            f"{path}: expected {wanted} and {record.size} bytes as recorded, found {found} and {actual_size} "
            "bytes; the file is corrupt: delete it to fetch it again"
        )
    return record
