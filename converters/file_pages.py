"""Release the page-cache pages of a memory-mapped checkpoint once a tensor has been copied out.

Streaming a multi-gigabyte ``.t7`` file through a lazy (``mmap``) parse would
otherwise leave every page it touched resident; dropping them after each
tensor keeps peak RSS near the output size.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["drop_file_pages"]


def drop_file_pages(array: np.ndarray) -> None:
    """Tell the kernel a read-only *file-backed* mapping's pages are no longer needed.

    Only applied to arrays whose memory is an ``mmap`` of the file (never to
    heap memory, where MADV_DONTNEED would discard data). Keeps peak RSS near
    the output size when a large checkpoint is streamed.
    """
    base: Any = array
    while base is not None and not isinstance(base, np.memmap) and not _is_mmap(base):
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    if base is None or _MADVISE is None or array.nbytes < _PAGE_SIZE:
        return
    address = array.__array_interface__["data"][0]
    page = _PAGE_SIZE
    start = address - address % page
    end = address + array.nbytes
    end -= end % page  # pages shared with a neighbour stay
    if end > start:
        _MADVISE(start, end - start, _MADV_DONTNEED)


def _is_mmap(value: Any) -> bool:
    return isinstance(value, mmap.mmap)


def _load_madvise() -> Callable[[int, int, int], int] | None:
    if os.name != "posix":
        return None
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.madvise
        function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        function.restype = ctypes.c_int
        return function
    except (OSError, AttributeError):
        return None


_MADVISE = _load_madvise()
_MADV_DONTNEED = 4
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
