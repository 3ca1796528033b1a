"""Atomic file output: the one way this project writes a file a user will rely on.

The content goes to a temporary file in the destination's directory, is
flushed and fsynced, gets the permissions an ordinary ``open`` would give (or
those of the regular file it replaces), and is renamed over the destination only when
the whole write succeeded. A failure or a killed process therefore never
leaves a half-written file where a good one is expected.

Standard library only, so every layer (including the numpy-only
``converters.t7``) can use it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_output", "write_bytes_atomic", "write_text_atomic"]


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
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        text_encoding = (encoding or "utf-8") if mode == "w" else None
        with os.fdopen(handle, mode, encoding=text_encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, _final_mode(target))
        os.replace(temp_name, target)
    except BaseException:
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
