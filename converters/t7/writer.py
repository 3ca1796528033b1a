"""Writing the :mod:`.objects` model as Torch7 serialization (what ``torch.save`` writes), binary or ascii.

The writer follows torch7's ``File:writeObject``: every table, Torch object,
tensor, storage and function gets a reference index (1, 2, ... in the order
they are first written) and later occurrences of the same Python object are
written as that index only, so shared storages and cycles are preserved.
Numbers are written as doubles, strings as raw bytes (``str`` as UTF-8),
longs as 8 bytes, little-endian. :class:`T7AsciiWriter` writes the same
sequence as text, as ``torch.save(path, object, 'ascii')`` does (see
:mod:`.ascii_reader` for the format). Reading a genuine file and writing it
back in its format reproduces it byte for byte.
"""

from __future__ import annotations

import io
import math
import numbers
import os
import struct
from typing import IO, Any

import numpy as np

from densenet_zoo_util.atomic import atomic_output

from .errors import T7WriteError
from .objects import T7Function, T7Object, T7Storage, T7Table, T7Tensor
from .reader import DEFAULT_MAX_DEPTH, TYPE_BOOLEAN, TYPE_NIL, TYPE_NUMBER, TYPE_STRING, TYPE_TABLE, TYPE_TORCH

_INT = struct.Struct("<i")
_LONG = struct.Struct("<q")
_INT_DOUBLE = struct.Struct("<id")
_INT_INT = struct.Struct("<ii")
# values written as a reference index (and their body the first time)
_REFERENCED = (dict, T7Object, T7Tensor, T7Storage, T7Function, list, tuple)
_FLUSH_BYTES = 1 << 20
_BIG_PAYLOAD = 1 << 16
_ELEMENTS_PER_CHUNK = 1 << 16  # ascii storages are formatted this many numbers at a time


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
        value = self.encode(value)
        self.pending += _INT.pack(len(value))
        self.write_raw(value)

    def encode(self, value: str | bytes) -> bytes:
        """The bytes of a Lua string (``str`` as UTF-8)."""
        if isinstance(value, str):
            try:
                return value.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError as error:
                raise self.error(f"a string that is not encodable as UTF-8 ({error})") from None
        return value

    def write_reference(self, typeidx: int, index: int) -> None:
        """The type id and reference index that start every table, Torch object and function."""
        self.pending += _INT_INT.pack(typeidx, index)

    def write_tensor_header(self, tensor: T7Tensor) -> None:
        """A tensor's dimension count, sizes, strides and 1-based storage offset."""
        ndim = len(tensor.size)
        self.pending += struct.pack(f"<i{ndim}q{ndim}qq", ndim, *tensor.size, *tensor.stride, tensor.storage_offset + 1)

    def write_elements(self, storage: T7Storage) -> None:
        """A storage's elements (after its size)."""
        self.write_raw(storage.raw_bytes())

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
        elif isinstance(value, _REFERENCED):
            self._write_referenced(value)
        else:
            self.write_other(value)

    def write_other(self, value: Any) -> None:
        """Write a numpy scalar or another number type, or explain why ``value`` cannot be written."""
        if _is_numpy_scalar(value) and value.dtype.kind == "b":
            self.write_obj(bool(value))
        elif isinstance(value, numbers.Real) or _is_numpy_scalar(value):
            self.write_obj(self._as_double(value))
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
            self.write_reference(typeidx, index)
            return
        index = len(self.indices) + 1
        self.indices[id(value)] = index
        self.keep_alive.append(value)
        self.write_reference(typeidx, index)

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
        self.write_elements(storage)

    def _write_tensor(self, tensor: T7Tensor) -> None:
        self._write_class_header(tensor.typename)
        self.write_tensor_header(tensor)
        self.path.append(".storage")
        self.write_obj(tensor.storage)
        self.path.pop()


class T7AsciiWriter(T7Writer):
    """Serializes Python values as Torch7 ascii text (``torch.save(path, object, 'ascii')``) into a binary stream.

    Numbers are printed as torch7's ``THDiskFile`` prints them (ints ``%d``,
    doubles ``%.17g``, floats and halves ``%.9g``, glibc's ``inf``/``nan``
    spellings), each scalar and each array followed by a newline.
    """

    def write_int(self, value: int) -> None:
        self.pending += b"%d\n" % value

    write_long = write_int

    def write_double(self, value: float) -> None:
        self.pending += _format_real(value, "%.17g").encode() + b"\n"

    def write_string(self, value: str | bytes) -> None:
        raw = self.encode(value)
        self.write_int(len(raw))
        self.write_raw(raw)
        if raw:
            self.pending += b"\n"

    def write_obj(self, value: Any) -> None:
        if value is None:
            self.write_int(TYPE_NIL)
        elif value is True or value is False:
            self.write_int(TYPE_BOOLEAN)
            self.write_int(1 if value else 0)
        elif type(value) is int or type(value) is float:
            self.write_int(TYPE_NUMBER)
            self.write_double(self._as_double(value))
        elif isinstance(value, (str, bytes, bytearray)):
            self.write_int(TYPE_STRING)
            self.write_string(bytes(value) if isinstance(value, bytearray) else value)
        elif isinstance(value, _REFERENCED):
            self._write_referenced(value)
        else:
            self.write_other(value)

    def write_reference(self, typeidx: int, index: int) -> None:
        self.pending += b"%d\n%d\n" % (typeidx, index)

    def write_tensor_header(self, tensor: T7Tensor) -> None:
        self.write_int(len(tensor.size))
        for values in (tensor.size, tensor.stride):
            if values:
                self.pending += " ".join(map(str, values)).encode() + b"\n"
        self.write_long(tensor.storage_offset + 1)

    def write_elements(self, storage: T7Storage) -> None:
        if storage.size == 0:
            return
        array = storage.numpy()
        if array.dtype.itemsize == 1:  # Byte and Char storages are raw bytes
            self.write_raw(storage.raw_bytes())
        else:
            for start in range(0, array.size, _ELEMENTS_PER_CHUNK):
                self.write_raw(
                    (" " if start else "").encode() + _format_numbers(array[start : start + _ELEMENTS_PER_CHUNK])
                )
        self.pending += b"\n"


def _format_real(value: float, pattern: str) -> str:
    """``pattern % value`` as C's printf writes it (glibc prints a NaN with its sign bit as ``-nan``)."""
    if math.isnan(value) and math.copysign(1.0, value) < 0:
        return "-nan"
    return pattern % value


def _format_numbers(array: np.ndarray) -> bytes:
    """Space-separated elements: integers ``%d``, doubles ``%.17g``, floats and halves ``%.9g``."""
    if array.dtype.kind in "iu":
        return " ".join(map(str, array.tolist())).encode()
    pattern = "%.17g" if array.dtype.itemsize == 8 else "%.9g"
    texts = list(map(pattern.__mod__, array.tolist()))
    for position in np.flatnonzero(np.isnan(array) & np.signbit(array)).tolist():
        texts[position] = "-nan"
    return " ".join(texts).encode()


def _is_numpy_scalar(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return dtype is not None and getattr(value, "shape", None) == () and dtype.kind in "biuf"


#: the values of ``mode`` and their writers
WRITERS = {"binary": T7Writer, "ascii": T7AsciiWriter}


def dump(value: Any, stream: IO[bytes], *, mode: str = "binary", max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Write ``value`` to an open binary stream in Torch7's ``"binary"`` or ``"ascii"`` format."""
    if mode not in WRITERS:
        raise ValueError(f"mode must be 'binary' or 'ascii', not {mode!r}")
    writer = WRITERS[mode](stream, max_depth)
    try:
        writer.write_obj(value)
    except RecursionError:
        raise writer.error("nesting too deep for Python's recursion limit; pass a smaller max_depth") from None
    writer.flush()


def dumps(value: Any, *, mode: str = "binary", max_depth: int = DEFAULT_MAX_DEPTH) -> bytes:
    """``value`` serialized in Torch7's ``"binary"`` or ``"ascii"`` format."""
    stream = io.BytesIO()
    dump(value, stream, mode=mode, max_depth=max_depth)
    return stream.getvalue()


def save(value: Any, path: str | os.PathLike[str], *, mode: str = "binary", max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Write ``value`` to ``path`` in Torch7's ``"binary"`` or ``"ascii"`` format, atomically (a temporary
    file in the same directory, then ``os.replace``).

    On any error the destination is left untouched and the temporary file removed.
    """
    with atomic_output(path, "wb") as stream:
        dump(value, stream, mode=mode, max_depth=max_depth)
