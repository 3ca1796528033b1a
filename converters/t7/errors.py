"""The exceptions of the Torch7 format layer (``converters.t7``).

:class:`T7FormatError` is the one error a malformed or hostile ``.t7`` file
raises while being read; :class:`T7WriteError` is raised when an object tree
cannot be expressed in the Torch7 format. Both derive from :class:`T7Error`.
"""

from __future__ import annotations

import os


class T7Error(Exception):
    """Base class of every error raised by ``converters.t7``."""


class T7FormatError(T7Error):
    """A byte stream that is not a valid Torch7 binary serialization.

    ``offset`` is the byte offset where reading failed, ``expected`` what the
    reader needed there and ``found`` what it got. ``source`` names the file
    (or ``"<bytes>"``).
    """

    def __init__(
        self,
        expected: str,
        found: str,
        offset: int,
        source: str | os.PathLike[str] | None = None,
        hint: str | None = None,
    ) -> None:
        self.expected = expected
        self.found = found
        self.offset = offset
        self.source = os.fspath(source) if source is not None else "<bytes>"
        self.hint = hint or (
            "the file is truncated, corrupt or not a binary torch.save file; "
            "re-download it or save it again with torch.save(path, object) (binary mode)"
        )
        super().__init__(f"{self.source}: at byte {offset}: expected {expected}, found {found} ({self.hint})")

    def __reduce__(self) -> tuple:
        # picklable (e.g. raised in a worker process)
        return (type(self), (self.expected, self.found, self.offset, self.source, self.hint))


class T7WriteError(T7Error, ValueError):
    """An object that cannot be written in the Torch7 format (the message says which and where)."""
