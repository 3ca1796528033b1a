"""Release the page-cache pages of a memory-mapped checkpoint once a tensor has been copied out.

Streaming a multi-gigabyte ``.t7`` file through a lazy (``mmap``) parse would
otherwise leave every page it touched resident; dropping them after each
tensor keeps peak RSS near the output size.

Only pages of the file's own mapping are ever released: the range is the
bytes the array's elements really occupy (not ``nbytes``, which a zero-stride
view multiplies), clipped to the ``mmap`` it came from and handed to that
``mmap``'s own ``madvise``, which refuses anything outside the mapping.
"""

from __future__ import annotations

import contextlib
import mmap
from typing import Any

import numpy as np

__all__ = ["drop_file_pages"]

_PAGE_SIZE = mmap.PAGESIZE
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


def drop_file_pages(array: np.ndarray) -> None:
    """Tell the kernel the pages of the file mapping under ``array`` are no longer needed.

    A no-op for arrays that do not view an ``mmap`` (never heap memory, where
    MADV_DONTNEED would discard data) and where ``madvise`` is unavailable.
    Pages of a read-only file mapping that are dropped are read again from
    the page cache if touched, so this never changes what the array holds.
    """
    mapping = _file_mapping(array)
    if mapping is None or _MADV_DONTNEED is None or array.size == 0:
        return
    try:
        map_start = np.frombuffer(mapping, dtype=np.uint8).ctypes.data
        map_end = map_start + len(mapping)
    except (ValueError, TypeError):  # a closed mapping
        return
    low, high = _byte_bounds(array)
    start = max(low, map_start) - map_start
    end = min(high, map_end) - map_start
    start -= start % _PAGE_SIZE  # the mapping starts on a page boundary, so this stays inside it
    end -= end % _PAGE_SIZE  # pages shared with a neighbour stay
    if end > start:
        with contextlib.suppress(ValueError, OSError):  # only an optimisation
            mapping.madvise(_MADV_DONTNEED, start, end - start)


def _file_mapping(array: np.ndarray) -> mmap.mmap | None:
    """The ``mmap`` at the end of ``array``'s chain of bases, or None when its memory is not a mapped file."""
    base: Any = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return base


def _byte_bounds(array: np.ndarray) -> tuple[int, int]:
    """``[low, high)``: the addresses the elements of a non-empty ``array`` occupy, whatever its strides."""
    low = high = array.ctypes.data
    for extent, step in zip(array.shape, array.strides, strict=True):
        if step < 0:
            low += step * (extent - 1)
        else:
            high += step * (extent - 1)
    return low, high + array.itemsize
