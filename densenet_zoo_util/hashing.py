"""File hashing: the one sha256-of-a-file helper every layer uses.

Standard library only (like :mod:`densenet_zoo_util.atomic`), so the numpy-only
``converters.t7``, the DenseNet converters, the registry and evaluation can all
use it. Files are read in chunks, never whole: checkpoints reach gigabytes.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

__all__ = ["HASH_CHUNK_SIZE", "file_sha256", "update_from_file"]

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
