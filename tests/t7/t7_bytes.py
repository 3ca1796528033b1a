"""Helpers that spell Torch7 binary records by hand, for malformed-input tests."""

from __future__ import annotations

import struct


def i32(value: int) -> bytes:
    return struct.pack("<i", value)


def i64(value: int) -> bytes:
    return struct.pack("<q", value)


def number(value: float) -> bytes:
    return i32(1) + struct.pack("<d", value)


def string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return i32(2) + i32(len(raw)) + raw


def raw_string(text: str) -> bytes:
    return i32(len(text)) + text.encode()


def table_header(index: int, size: int) -> bytes:
    return i32(3) + i32(index) + i32(size)


def torch_header(index: int, typename: str, version: str = "V 1") -> bytes:
    return i32(4) + i32(index) + raw_string(version) + raw_string(typename)


def storage(index: int, size: int, payload: bytes, typename: str = "torch.FloatStorage") -> bytes:
    return torch_header(index, typename) + i64(size) + payload


def tensor_header(
    index: int, size: tuple[int, ...], stride: tuple[int, ...], offset: int, typename: str = "torch.FloatTensor"
) -> bytes:
    """Everything of a tensor record but its storage object (``offset`` is 1-based, as in the file)."""
    body = (
        i32(len(size)) + b"".join(i64(extent) for extent in size) + b"".join(i64(step) for step in stride) + i64(offset)
    )
    return torch_header(index, typename) + body
