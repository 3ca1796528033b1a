"""Reading a ``torch.save`` file or byte string, in either of Torch7's two formats.

``torch.save(path, object)`` writes the binary format, ``torch.save(path,
object, 'ascii')`` the ascii one; ``mode`` follows Torch7's name for that
choice. By default the format is detected from the first bytes, which is
unambiguous: a binary file starts with a little-endian 4-byte type id 0..8,
so its first byte is a control character, while an ascii file starts with
the type id written as a decimal number.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
from typing import Any

from .ascii_reader import T7AsciiReader
from .reader import DEFAULT_MAX_DEPTH, T7Reader

#: the values of ``mode`` (``None`` detects it)
MODES = ("binary", "ascii")

_ASCII_START = re.compile(rb"[ \t\n\r\v\f]*[-+]?[0-9]")


def detect_mode(buffer: Any) -> str:
    """``"ascii"`` when ``buffer`` starts like Torch7's ascii format (blanks, then a number), else ``"binary"``."""
    return "ascii" if _ASCII_START.match(buffer) else "binary"


def _check_mode(mode: str | None) -> None:
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be 'binary', 'ascii' or None (detect the format), not {mode!r}")


def _read(buffer: Any, source: str | os.PathLike[str], mode: str | None, max_depth: int) -> Any:
    reader = T7AsciiReader if (mode or detect_mode(buffer)) == "ascii" else T7Reader
    return reader(buffer, source, max_depth).read_root()


def loads(
    buffer: Any, *, mode: str | None = None, source: str | None = None, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """Parse a Torch7 serialization held in a bytes-like object (other bytes-likes than ``bytes``
    and ``mmap`` are copied into ``bytes`` first).

    ``mode`` is ``"binary"``, ``"ascii"`` or None (detect). Binary storages are
    views into ``buffer``; ascii ones are parsed into their own arrays.
    """
    _check_mode(mode)
    if not isinstance(buffer, (bytes, mmap.mmap)):
        buffer = bytes(buffer)
    return _read(buffer, source or "<bytes>", mode, max_depth)


def load(
    path: str | os.PathLike[str], lazy: bool = True, *, mode: str | None = None, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """Read the object a ``torch.save`` file holds, binary or ascii (``mode``: ``"binary"``,
    ``"ascii"`` or None to detect the format).

    ``lazy=True`` memory-maps the file: parsing a binary file touches only the
    object structure and every storage is a read-only view over the map, paged
    in when used (ascii storages are always parsed into memory). ``lazy=False``
    reads the whole file into memory first (the file can then be deleted or
    replaced, also on Windows). Raises :class:`T7FormatError` for malformed
    files and ``OSError`` for unreadable ones.
    """
    _check_mode(mode)
    with open(path, "rb") as handle:
        status = os.fstat(handle.fileno())
        if lazy and stat.S_ISREG(status.st_mode) and status.st_size:
            buffer: Any = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        else:  # eager, empty, or not a regular file (a pipe cannot be mapped)
            buffer = handle.read()
    return _read(buffer, path, mode, max_depth)


def ensure_loaded(path_or_parsed: Any) -> Any:
    """The root object of a Torch7 file given as a path (loaded lazily, memory-mapped) or already parsed.

    For functions that accept either: a ``str`` or ``os.PathLike`` is read with
    :func:`load`, anything else is taken to be a parsed tree and returned as is.
    """
    if isinstance(path_or_parsed, (str, os.PathLike)):
        return load(os.fspath(path_or_parsed), lazy=True)
    return path_or_parsed
