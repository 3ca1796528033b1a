"""File hashing: the one home of file digests (sha256, and the md5/sha1 some publishers give) every layer uses.

Standard library only (like :mod:`densenet_zoo_util.atomic`), so the numpy-only
``converters.t7``, the DenseNet converters, the registry and evaluation can all
use it. Files are read in chunks, never whole: checkpoints reach gigabytes.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

__all__ = ["HASH_CHUNK_SIZE", "file_digests", "file_sha256", "new_digest", "update_from_file"]

HASH_CHUNK_SIZE = 1 << 22  # 4 MiB: large enough that hashing, not Python, sets the pace


def update_from_file(digest: Any, path: str | os.PathLike[str], chunk_size: int = HASH_CHUNK_SIZE) -> int:
    """Feed the bytes of ``path`` into ``digest`` (a ``hashlib`` object); returns how many were read.

    For callers that go on hashing after the file, e.g. a download resuming
    after the bytes of its ``.part`` file.
    """
    size = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
            size += len(chunk)
    return size


def file_sha256(path: str | os.PathLike[str], chunk_size: int = HASH_CHUNK_SIZE) -> str:
    """Hex sha256 of the bytes of the file at ``path``."""
    digest = hashlib.sha256()
    update_from_file(digest, path, chunk_size)
    return digest.hexdigest()


def new_digest(algorithm: str) -> Any:
    """A fresh ``hashlib`` object for ``algorithm`` (``"sha256"``, ``"md5"``, ``"sha1"``...).

    md5 and sha1 serve here only to compare a file with a checksum someone
    published, never as a security boundary (``usedforsecurity=False``, so
    FIPS-mode Pythons allow them).
    """
    return hashlib.new(algorithm, usedforsecurity=False)


def file_digests(
    path: str | os.PathLike[str], algorithms: tuple[str, ...], chunk_size: int = HASH_CHUNK_SIZE
) -> dict[str, str]:
    """Hex digests of the file at ``path`` for each of ``algorithms``, read once."""
    digests = {algorithm: new_digest(algorithm) for algorithm in algorithms}
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            for digest in digests.values():
                digest.update(chunk)
    return {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}
