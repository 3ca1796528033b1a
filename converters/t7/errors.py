"""The exceptions of the Torch7 format layer (``converters.t7``).

:class:`T7FormatError` is the one error a malformed or hostile ``.t7`` file
(binary or ascii) raises while being read; :class:`T7WriteError` is raised when an object tree
cannot be expressed in the Torch7 format. Both derive from :class:`T7Error`.
"""

from __future__ import annotations

import os


class T7Error(Exception):
    """Base class of every error raised by ``converters.t7``."""


class T7FormatError(T7Error):
    """A byte stream that is not a valid Torch7 serialization (binary or ascii).

    ``offset`` is the byte offset where reading failed, ``expected`` what the
    reader needed there and ``found`` what it got. ``source`` names the file
    (or ``"<bytes>"``); ``line`` is the 1-based line of ``offset`` in an ascii
    file (``None`` for binary ones).
    """

    def __init__(
        self,
        expected: str,
        found: str,
        offset: int,
        source: str | os.PathLike[str] | None = None,
        hint: str | None = None,
        line: int | None = None,
    ) -> None:
        self.expected = expected
        self.found = found
        self.offset = offset
        self.source = os.fspath(source) if source is not None else "<bytes>"
        self.hint = hint or (
            "the file is truncated, corrupt or not a binary torch.save file; "
            "re-download it or save it again with torch.save(path, object) (binary mode)"
        )
        self.line = line
        where = f"at byte {offset}" if line is None else f"at byte {offset} (line {line})"
        super().__init__(f"{self.source}: {where}: expected {expected}, found {found} ({self.hint})")

    def __reduce__(self) -> tuple:
        # picklable (e.g. raised in a worker process)
        return (type(self), (self.expected, self.found, self.offset, self.source, self.hint, self.line))


class T7WriteError(T7Error, ValueError):
    """An object that cannot be written in the Torch7 format (the message says which and where)."""
