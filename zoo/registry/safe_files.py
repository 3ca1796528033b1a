"""Files in the cache directory, which another user or process may have planted.

The cache can sit on a shared file system or under a world-writable
directory. Every name densenet-zoo reads or writes there (a ``.part``, its
validator sidecar, a lock, a record, a cached file about to be replaced) must
be absent or a regular file owned by the current user: a symbolic link is
never followed, a FIFO or device is never opened, another user's file is
never trusted. Files are opened with ``O_NOFOLLOW`` and checked with
``fstat`` on the open descriptor, and new ones are created with ``O_EXCL``,
so a link planted between a check and an open is refused too.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import NamedTuple

from zoo.registry.errors import CacheFileError

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: opening a planted FIFO must not hang


class SmallFile(NamedTuple):
    """A small cache file's bytes (empty when it is larger than asked for) and its status."""

    content: bytes
    status: os.stat_result


def own_file(path: str | os.PathLike[str]) -> os.stat_result | None:
    """``lstat`` of ``path`` when it is a regular file of ours; None when nothing is there.

    Raises :class:`CacheFileError` for a symbolic link, a directory, FIFO or
    device, or another user's file.
    """
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None
    _check(path, status, writing=False)
    return status


def read_small(path: str | os.PathLike[str], limit: int) -> SmallFile | None:
    """The bytes of a small file of ours (a record, lock or sidecar), or None when it does not exist.

    A file larger than ``limit`` bytes is not read (its ``content`` is empty):
    densenet-zoo never writes one that large, so it is garbage to the caller.
    """
    if own_file(path) is None:
        return None
    try:
        handle = _open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None  # removed since the check (a lock being released)
    with os.fdopen(handle, "rb", buffering=0) as stream:
        status = os.fstat(handle)
        _check(path, status, writing=False)
        content = stream.read(limit + 1) if status.st_size <= limit else b""
    return SmallFile(content if len(content) <= limit else b"", status)


def create_new(path: str | os.PathLike[str]) -> os.FileIO:
    """Create ``path`` (which must not exist) for reading and writing; a name taken meanwhile is refused."""
    try:
        handle = _open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        raise _refused(path, "appeared while densenet-zoo was about to create it") from None
    return _checked_stream(path, handle)


def open_existing(path: str | os.PathLike[str]) -> os.FileIO:
    """Open an existing file of ours for reading and appending (a ``.part`` being resumed)."""
    return _checked_stream(path, _open(path, os.O_RDWR | os.O_APPEND))


def same_file(path: str | os.PathLike[str], stream: os.FileIO) -> bool:
    """True when ``path`` still names the file open as ``stream`` (nobody swapped it since)."""
    try:
        named = os.lstat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(stream.fileno())
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _open(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open`` that never follows a link; a missing file or an existing one for ``O_EXCL`` is the caller's."""
    try:
        return os.open(path, flags | _NOFOLLOW, 0o666)
    except (FileNotFoundError, FileExistsError):
        raise
    except OSError as error:
        problem = "is a symbolic link" if error.errno == errno.ELOOP else f"cannot be opened ({error.strerror})"
        raise _refused(path, problem) from None


def _checked_stream(path: str | os.PathLike[str], handle: int) -> os.FileIO:
    try:
        _check(path, os.fstat(handle), writing=True)
    except BaseException:
        os.close(handle)
        raise
    os.set_blocking(handle, True)
    return os.fdopen(handle, "r+b", buffering=0)


def _check(path: str | os.PathLike[str], status: os.stat_result, writing: bool) -> None:
    if stat.S_ISLNK(status.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISREG(status.st_mode):
        problem = "is not a regular file"
    elif status.st_uid != os.geteuid():
        problem = f"belongs to user id {status.st_uid}, not to the current user (id {os.geteuid()})"
    elif writing and status.st_nlink != 1:
        problem = f"has {status.st_nlink} hard links (writing to it would change another file)"
    else:
        return
    raise _refused(path, problem)


def _refused(path: str | os.PathLike[str], problem: str) -> CacheFileError:
    return CacheFileError(
        f"{Path(path)} {problem}; densenet-zoo did not create it and will neither read nor write it. "
        "Remove it (and find out who put it there), then try again"
    )
