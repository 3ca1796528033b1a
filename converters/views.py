"""Strided views from a file must be backed by their own storage elements.

A tensor in a ``.t7`` or ``.pth`` file is a view (size, stride, offset) into a
storage. Stride 0, or strides that make the view overlap itself, let a few
bytes of storage declare any number of elements: a 15 KB file could claim
terabytes of weights. :func:`view_backing_problem` says what is wrong with
such a view before anything of its declared size is allocated or written.
Torch itself only produces views whose strides nest (each larger stride steps
over everything the smaller ones span), which is what is accepted here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["first_shared", "view_backing_problem", "view_span"]


def view_backing_problem(size: Sequence[int], stride: Sequence[int], offset: int, storage_elements: int) -> str | None:
    """What keeps a view from being backed by distinct elements of its storage, or None when nothing does.

    ``size`` and ``stride`` are in elements, ``offset`` is the 0-based storage
    offset and ``storage_elements`` the number of elements the storage holds.
    """
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride):
        return f"has {len(size)} sizes but {len(stride)} strides"
    if any(extent < 0 for extent in size) or any(step < 0 for step in stride) or offset < 0:
        return f"has a negative size, stride or offset (size {size}, stride {stride}, offset {offset})"
    if math.prod(size) == 0:
        return None
    span = 1  # elements covered by the dimensions seen so far, smallest stride first
    for step, dim in sorted((step, dim) for dim, step in enumerate(stride)):
        extent = size[dim]
        if extent == 1:
            continue
        if step == 0:
            return f"has stride 0 along dimension {dim + 1} of size {extent} (one storage element repeated)"
        if step < span:
            return (
                f"overlaps itself (size {size}, stride {stride}: stride {step} along dimension {dim + 1} "
                f"steps inside the {span} elements the smaller strides span)"
            )
        span = step * (extent - 1) + span
    last = offset + span - 1
    if last >= storage_elements:
        return f"reaches element {last + 1} of a storage that holds {storage_elements}"
    return None


def view_span(size: Sequence[int], stride: Sequence[int]) -> int:
    """How many consecutive storage elements a non-empty view reaches, from its offset to its last element."""
    return 1 + sum(step * (extent - 1) for extent, step in zip(size, stride, strict=True))


def first_shared(views: Sequence[tuple[object, int, int, str]]) -> tuple[str, str] | None:
    """The first two of ``views`` that share storage elements, by their ``where``; None when all are disjoint.

    Each view is ``(storage, start, stop, where)``: the elements ``[start, stop)`` of ``storage``
    (compared by identity) that it reaches.
    """
    by_storage: dict[int, list[tuple[int, int, str]]] = {}
    for storage, start, stop, where in views:
        by_storage.setdefault(id(storage), []).append((start, stop, where))
    for ranges in by_storage.values():
        ranges.sort()
        reached, reached_by = -1, ""
        for start, stop, where in ranges:
            if start < reached:
                return reached_by, where
            if stop > reached:
                reached, reached_by = stop, where
    return None
