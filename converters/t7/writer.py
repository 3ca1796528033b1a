"""Writing the :mod:`.objects` model as Torch7 binary serialization (what ``torch.save`` writes).

The writer follows torch7's ``File:writeObject``: every table, Torch object,
tensor, storage and function gets a reference index (1, 2, ... in the order
they are first written) and later occurrences of the same Python object are
written as that index only, so shared storages and cycles are preserved.
Numbers are written as doubles, strings as raw bytes (``str`` as UTF-8),
longs as 8 bytes, little-endian. Reading a genuine file and writing it back
reproduces it byte for byte.
"""

from __future__ import annotations

import io
import math
import numbers
import os
import struct
from typing import IO, Any

from ..atomic import atomic_output
from .errors import T7WriteError
from .objects import T7Function, T7Object, T7Storage, T7Table, T7Tensor
from .reader import DEFAULT_MAX_DEPTH, TYPE_BOOLEAN, TYPE_NIL, TYPE_NUMBER, TYPE_STRING, TYPE_TABLE, TYPE_TORCH

_INT = struct.Struct("<i")
_LONG = struct.Struct("<q")
_INT_DOUBLE = struct.Struct("<id")
_INT_INT = struct.Struct("<ii")
_FLUSH_BYTES = 1 << 20
_BIG_PAYLOAD = 1 << 16


class T7Writer:
    """Serializes Python values into a binary stream (anything with ``write``)."""

    def __init__(self, stream: IO[bytes], max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.stream = stream
        self.pending = bytearray()
        self.indices: dict[int, int] = {}
        self.keep_alive: list[Any] = []  # ids in ``indices`` must stay valid while writing
        self.max_depth = max_depth
        self.depth = 0
        self.path: list[str] = []

    # -- output --------------------------------------------------------------------------
    def flush(self) -> None:
        if self.pending:
            self.stream.write(self.pending)
            self.pending = bytearray()

    def write_raw(self, payload: Any) -> None:
        if len(payload) >= _BIG_PAYLOAD:
            self.flush()
            self.stream.write(payload)
        else:
            self.pending += payload
            if len(self.pending) >= _FLUSH_BYTES:
                self.flush()

    def write_int(self, value: int) -> None:
        self.pending += _INT.pack(value)

    def write_long(self, value: int) -> None:
        self.pending += _LONG.pack(value)

    def write_string(self, value: str | bytes) -> None:
        """A length-prefixed string (no type id)."""
        if isinstance(value, str):
            try:
                value = value.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError as error:
                raise self.error(f"a string that is not encodable as UTF-8 ({error})") from None
        self.pending += _INT.pack(len(value))
        self.write_raw(value)

    def error(self, message: str) -> T7WriteError:
        parts = self.path if len(self.path) <= 12 else [*self.path[:4], "...", *self.path[-6:]]
        where = "".join(parts) or "the root object"
        return T7WriteError(f"cannot write {where}: {message}")

    # -- values --------------------------------------------------------------------------
    def write_obj(self, value: Any) -> None:
        """Write one value with its type id (torch7 ``File:writeObject``)."""
        if value is None:
            self.pending += _INT.pack(TYPE_NIL)
        elif value is True or value is False:
            self.pending += _INT_INT.pack(TYPE_BOOLEAN, 1 if value else 0)
        elif type(value) is int or type(value) is float:
            self.pending += _INT_DOUBLE.pack(TYPE_NUMBER, self._as_double(value))
        elif isinstance(value, (str, bytes, bytearray)):
            self.pending += _INT.pack(TYPE_STRING)
            self.write_string(bytes(value) if isinstance(value, bytearray) else value)
        elif isinstance(value, (dict, T7Object, T7Tensor, T7Storage, T7Function, list, tuple)):
            self._write_referenced(value)
        elif _is_numpy_scalar(value) and value.dtype.kind == "b":
            self.write_obj(bool(value))
        elif isinstance(value, numbers.Real) or _is_numpy_scalar(value):
            self.pending += _INT_DOUBLE.pack(TYPE_NUMBER, self._as_double(value))
        elif hasattr(value, "__array__"):
            raise self.error(
                f"{type(value).__name__} values are not written implicitly; "
                "wrap arrays with T7Tensor.from_numpy(array) or T7Storage.from_numpy(array)"
            )
        else:
            raise self.error(f"{type(value).__name__} values have no Torch7 representation")

    def _as_double(self, value: Any) -> float:
        try:
            number = float(value)
        except OverflowError:
            raise self.error(f"the integer {value} is too large for a Lua number (a double)") from None
        if isinstance(value, numbers.Integral) and not math.isinf(number) and int(number) != int(value):
            raise self.error(f"the integer {value} is not exactly representable as a Lua number (a double)")
        return number

    def _write_referenced(self, value: Any) -> None:
        if isinstance(value, T7Function):
            typeidx = value.typeidx
        elif isinstance(value, (dict, list, tuple)):
            typeidx = TYPE_TABLE
        else:
            typeidx = TYPE_TORCH
        index = self.indices.get(id(value))
        if index is not None:
            self.pending += _INT_INT.pack(typeidx, index)
            return
        index = len(self.indices) + 1
        self.indices[id(value)] = index
        self.keep_alive.append(value)
        self.pending += _INT_INT.pack(typeidx, index)

        self.depth += 1
        if self.depth > self.max_depth:
            raise self.error(f"more than {self.max_depth} nested tables/objects (raise max_depth if intended)")
        try:
            if isinstance(value, dict):
                self._write_table_body(value.items(), sum(1 for item in value.values() if item is not None))
            elif isinstance(value, (list, tuple)):
                self._write_table_body(enumerate(value, 1), sum(1 for item in value if item is not None))
            elif isinstance(value, T7Tensor):
                self._write_tensor(value)
            elif isinstance(value, T7Storage):
                self._write_storage(value)
            elif isinstance(value, T7Object):
                self._write_object(value)
            else:
                self.write_string(value.dumped)
                self.path.append(".upvalues")
                self.write_obj(value.upvalues)
                self.path.pop()
        finally:
            self.depth -= 1

    def _write_table_body(self, items: Any, count: int) -> None:
        """``count`` key/value pairs; entries whose value is None are skipped (Lua tables hold no nil)."""
        self.write_int(count)
        for key, item in items:
            if item is None:
                continue
            if key is None:
                raise self.error("a table key is None (Lua tables cannot have nil keys)")
            self.path.append(f"[{key!r}]" if not isinstance(key, (dict, list, T7Object)) else "[<table key>]")
            self.write_obj(key)
            self.write_obj(item)
            self.path.pop()

    def _write_class_header(self, typename: str, version: int = 1, version_string: str | None = None) -> None:
        if version_string is None:
            self.write_string(f"V {version}")
        elif version_string:
            self.write_string(version_string)
        self.write_string(typename)

    def _write_object(self, instance: T7Object) -> None:
        self._write_class_header(instance.typename, instance.version, instance.version_string)
        fields = instance.fields
        self.path.append(f"<{instance.typename}>")
        if instance.typename == "tds.Hash":
            self.write_long(len(fields))
            for key, item in fields.items():
                self.write_obj(key)
                self.write_obj(item)
        elif instance.typename == "tds.Vec":
            elements = fields.as_list() if isinstance(fields, T7Table) else list(fields)
            self.write_long(len(elements))
            for item in elements:
                self.write_obj(item)
        else:
            self.write_obj(fields)
        self.path.pop()

    def _write_storage(self, storage: T7Storage) -> None:
        self._write_class_header(storage.typename)
        self.write_long(storage.size)
        self.write_raw(storage.raw_bytes())

    def _write_tensor(self, tensor: T7Tensor) -> None:
        self._write_class_header(tensor.typename)
        ndim = len(tensor.size)
        self.pending += struct.pack(f"<i{ndim}q{ndim}qq", ndim, *tensor.size, *tensor.stride, tensor.storage_offset + 1)
        self.path.append(".storage")
        self.write_obj(tensor.storage)
        self.path.pop()


def _is_numpy_scalar(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return dtype is not None and getattr(value, "shape", None) == () and dtype.kind in "biuf"


def dump(value: Any, stream: IO[bytes], *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Write ``value`` in Torch7 binary format to an open binary stream."""
    writer = T7Writer(stream, max_depth)
    try:
        writer.write_obj(value)
    except RecursionError:
        raise writer.error("nesting too deep for Python's recursion limit; pass a smaller max_depth") from None
    writer.flush()


def dumps(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> bytes:
    """``value`` serialized in Torch7 binary format."""
    stream = io.BytesIO()
    dump(value, stream, max_depth=max_depth)
    return stream.getvalue()


def save(value: Any, path: str | os.PathLike[str], *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Write ``value`` to ``path`` atomically (a temporary file in the same directory, then ``os.replace``).

    On any error the destination is left untouched and the temporary file removed.
    """
    with atomic_output(path, "wb") as stream:
        dump(value, stream, max_depth=max_depth)
