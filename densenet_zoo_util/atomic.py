"""Atomic file output: the one way this project writes a file a user will rely on.

The content goes to a temporary file in the destination's directory, is
flushed and fsynced, gets the permissions an ordinary ``open`` would give (or
those of the regular file it replaces), and is renamed over the destination only when
the whole write succeeded. A failure or a killed process therefore never
leaves a half-written file where a good one is expected.

Temporary names are created inside the ``try`` that removes them: an
exception raised at any point (the CLI turns SIGINT/SIGTERM into one, raised
wherever the program is) leaves no temporary file or directory behind.

Standard library only, so every layer (including the numpy-only
``converters.t7``) can use it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_directory", "atomic_output", "check_directory_target", "write_bytes_atomic", "write_text_atomic"]


def _current_umask() -> int:
    """The process umask, read from /proc where it exists.

    Elsewhere it is read by setting and restoring it, which briefly changes it
    for every thread of the process; /proc avoids that race.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _final_mode(target: Path) -> int:
    """Permissions for the new file: the replaced regular file's, else ``0o666`` less the umask.

    ``lstat``, not ``stat``: the rename replaces a symlink itself, never what it
    points to, so the new file must not take the mode of a file the link names.
    """
    try:
        status = target.lstat()
    except OSError:
        status = None
    if status is not None and stat.S_ISREG(status.st_mode):
        return status.st_mode & 0o777
    return 0o666 & ~_current_umask()


def _unique_name(target: Path, suffix: str) -> Path:
    """A hidden name next to ``target`` that nobody can predict (so that nothing is there to clobber)."""
    return target.parent / f".{target.name}.{secrets.token_hex(8)}{suffix}"


def _created_here(error: BaseException, made: object) -> bool:
    """Whether the ``try`` that raised ``error`` may have created its temporary name: anything but the
    creation itself finding the name taken (``made`` is still None then)."""
    return made is not None or not isinstance(error, FileExistsError)


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str], mode: str = "wb", *, force: bool = True, encoding: str | None = None
) -> Iterator[IO]:
    """A file object whose content replaces ``path`` only if the ``with`` block succeeds.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8 unless ``encoding`` says otherwise).
    With ``force=False`` an existing ``path`` is an error (``FileExistsError``)
    and is left untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_output writes whole files: mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    if not force and os.path.lexists(target):  # a dangling symlink is there too
        raise FileExistsError(f"{target} already exists; pass force=True (CLI: --force) to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    temp_name, handle = _unique_name(target, ".partial"), None
    try:
        handle = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        text_encoding = (encoding or "utf-8") if mode == "w" else None
        with os.fdopen(handle, mode, encoding=text_encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, _final_mode(target))
        os.replace(temp_name, target)
    except BaseException as error:
        if _created_here(error, handle):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], content: bytes, *, force: bool = True) -> Path:
    """Write ``content`` to ``path`` atomically; returns the path."""
    with atomic_output(path, "wb", force=force) as stream:
        stream.write(content)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, force: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_output(path, "w", force=force) as stream:
        stream.write(text)
    return Path(path)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """A new, empty directory (next to ``path``) whose content becomes ``path`` only if the ``with`` block succeeds.

    Whatever is at ``path`` (a directory, a file, a link, itself never
    followed) is replaced only with ``force=True``; without it, anything but an
    empty directory is a ``FileExistsError`` and is left untouched. The parent
    directory must exist. A failure leaves no trace: neither a half-filled
    ``path`` nor the staging directory.
    """
    target = check_directory_target(path, force=force)
    staging, made = _unique_name(target, ".partial"), None
    try:
        os.mkdir(staging, 0o700)
        made = staging
        yield staging
        os.chmod(staging, 0o777 & ~_current_umask())
        _replace_directory(staging, target)
    except BaseException as error:
        if _created_here(error, made):
            shutil.rmtree(staging, ignore_errors=True)
        raise


def check_directory_target(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """``path`` as a :class:`Path` if :func:`atomic_directory` may write it; else the error it would raise.

    For callers that check before long work rather than after it.
    """
    target = Path(path)
    if not force and os.path.lexists(target) and not _is_empty_directory(target):
        raise FileExistsError(f"{target} already exists; pass force=True (CLI: --force) to replace it")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: the directory {target.parent} does not exist; create it first")
    return target


def _is_empty_directory(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _replace_directory(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; what was there is moved aside first and removed after."""
    if not os.path.lexists(target) or _is_empty_directory(target):
        os.replace(staging, target)
        return
    aside = _unique_name(target, ".replaced")
    try:
        os.rename(target, aside)
        os.rename(staging, target)
    except BaseException:  # wherever it stopped, what was there goes back
        if os.path.lexists(aside) and not os.path.lexists(target):
            os.rename(aside, target)
        raise
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink()
