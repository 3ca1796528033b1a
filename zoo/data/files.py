"""Reading a data file that may come from a stranger: a regular file, of bounded size, read whole.

Datasets are folders and archives other people made. A name in them may be a FIFO (an
``open`` that blocks forever), a device (``/dev/zero``: a read that never ends) or a file far
larger than anything the format needs. :func:`read_regular_file` opens without blocking,
checks that the opened object is a regular file no larger than ``limit`` bytes, and only then
reads it. Symbolic links are followed: datasets are often trees of links into a shared copy,
and reading a file the user can already read grants nothing new.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

__all__ = ["FileLimitError", "open_regular_file", "read_regular_file"]


class FileLimitError(OSError):
    """The path is not a regular file, or is larger than the format allows."""


def open_regular_file(path: str | os.PathLike[str], limit: int, what: str = "file") -> BinaryIO:
    """``path`` opened for reading (binary), once it is known to be a regular file of at most ``limit`` bytes.

    Raises :class:`FileLimitError` (an ``OSError``) for a FIFO, device, socket or directory,
    and for a file above ``limit``; other ``OSError``s (missing, unreadable) pass through.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise FileLimitError(f"{what} {os.fspath(path)!r} is not a regular file (a FIFO, device or directory)")
        if status.st_size > limit:
            raise FileLimitError(
                f"{what} {os.fspath(path)!r} holds {status.st_size:,} bytes, more than the {limit:,} this format"
                " allows; it is not a file of the expected kind"
            )
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_regular_file(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The whole content of ``path``, checked as :func:`open_regular_file` checks it."""
    with open_regular_file(path, limit, what) as stream:
        size = os.fstat(stream.fileno()).st_size
        content = stream.read(size + 1)  # read(limit) would allocate the whole limit up front
    if len(content) > size:
        raise FileLimitError(f"{what} {os.fspath(path)!r} grew while being read")
    return content
