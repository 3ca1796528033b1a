"""What the commands that run a converted Lua network call MODEL: a registry name or a Torch7 file.

``stylize`` and ``embed`` take either. :func:`model_argument` tells them apart the way
``evaluate`` does: an existing file is a file; something that looks like a path but is not there
is an error naming it; anything else is a registry name, for ``zoo.load`` to resolve (or to
refuse with the list of names it knows).
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.errors import ModelArgumentError

__all__ = ["ModelArgumentError", "model_argument"]

#: File name endings that mark MODEL as a path even when the file is missing.
FILE_SUFFIXES = (".t7", ".th", ".net")


def model_argument(spec: str | os.PathLike[str]) -> Path | str:
    """``spec`` as a :class:`~pathlib.Path` when it is an existing regular file, else as a registry name.

    Raises :class:`ModelArgumentError` when ``spec`` looks like a path (a directory separator, a
    Torch7 suffix, an existing directory) but is no regular file.
    """
    text = os.fspath(spec)
    path = Path(text)
    if path.is_file():
        return path
    if path.exists() or os.sep in text or (os.altsep and os.altsep in text) or path.suffix.lower() in FILE_SUFFIXES:
        state = "is not a regular file" if path.exists() else "does not exist"
        raise ModelArgumentError(
            f"model file {text} {state}; give an existing Torch7 file (.t7) or a registry name (densenet-zoo list)"
        )
    return text
