"""Reading Torch7 ascii serialization (``torch.save(path, object, 'ascii')``) into the :mod:`.objects` model.

The ascii format is the binary one with every primitive written as text by
torch7's ``THDiskFile`` (ascii mode, auto-spacing on):

* ints and longs as ``%d``/``%ld``, floats and halves as ``%.9g``, doubles
  (every Lua number) as ``%.17g``; glibc spells the non-finite ones ``inf``,
  ``-inf``, ``nan`` and ``-nan``;
* an array of n numbers (a storage's elements, a tensor's sizes or strides):
  the values separated by single spaces, then ``\\n``; n = 0 writes nothing;
* chars and bytes (string contents, function bytecode, Char/Byte storages):
  the raw bytes, then ``\\n`` (nothing when n = 0);
* a string (also a ``"V 1"`` class version and a class name) is its length
  as an int, then its raw bytes.

Torch7 reads numbers with ``fscanf`` (any whitespace before one is skipped)
and swallows one ``\\n`` after each array, so outside raw bytes the file is a
sequence of whitespace-separated numbers. This reader accepts exactly that,
plus ``\\r\\n`` wherever torch7 swallows a ``\\n`` (files that went through a
Windows checkout); it is stricter in one way: a number must end at
whitespace or at the end of the file (``fscanf`` would stop silently).

:class:`T7AsciiReader` subclasses the binary :class:`~.reader.T7Reader` and
replaces its primitives, so tables, Torch objects, shared references, the
depth limit and class handlers behave the same. Storages cannot be views of
an ascii file: their elements are parsed into numpy arrays, one whole line
at a time by numpy (``np.fromstring``); a per-token scan is used only when a
line is not plain digits (inf/nan, numbers spread over several lines) or to
locate an error. Sizes are checked against the characters left before
anything is allocated: a number takes at least two characters (a digit and
its separator), a raw byte one.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np

from .errors import T7FormatError
from .objects import T7Storage, T7Table, T7Tensor
from .reader import (
    TYPE_BOOLEAN,
    TYPE_IDS,
    TYPE_NIL,
    TYPE_NUMBER,
    TYPE_STRING,
    ClassInfo,
    T7Reader,
    make_tensor,
    parse_class_header,
)
from .typenames import STORAGE_DTYPES, TENSOR_DTYPES

HINT = (
    "the file is truncated, corrupt or not a torch.save(path, object, 'ascii') file; "
    "re-download it or save it again with torch.save"
)

# A number, then what Lua's reader swallows after it (one "\n", here also "\r\n"), or the
# whitespace before the next number, or the end of the file.
_AFTER = rb"(?:\r?\n|(?=[ \t\r\v\f])|\Z)"
_INTEGER = re.compile(rb"[ \t\n\r\v\f]*([-+]?0*[0-9]{1,20})" + _AFTER)  # longer ones cannot be in range
_REAL = re.compile(
    rb"[ \t\n\r\v\f]*([-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?|inf(?:inity)?|nan(?:\([0-9a-z_]*\))?))"
    + _AFTER,
    re.IGNORECASE,
)
_NEXT_WORD = re.compile(rb"[ \t\n\r\v\f]*([^ \t\n\r\v\f]{0,24})")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
# what a line of plain numbers consists of (anything else goes to the per-token scan)
_PLAIN_INTEGERS = b"0123456789+- \t\r\v\f"
_PLAIN_REALS = _PLAIN_INTEGERS + b".eE"
# longest "%.17g" number ("-2.2250738585072014e-308") and its separator, with room to spare
_MAX_NUMBER_CHARS = 32


def _quote(word: bytes) -> str:
    """A word of the file for an error message: ``'abc'``, with escapes for non-printable bytes."""
    return repr(word)[1:]


def _to_float(token: bytes) -> float:
    """A number token as a Python float (``nan(payload)`` is a NaN, as for ``strtod``)."""
    if token.endswith(b")"):
        token = token[: token.index(b"(")]
    return float(token)


class T7AsciiReader(T7Reader):
    """Parses one Torch7 ascii object from a bytes-like ``buffer`` (bytes or mmap).

    Use :func:`converters.t7.load` / :func:`~converters.t7.loads` (which
    detect the format) instead of this class unless you add handlers.
    """

    hint = HINT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ascii_classes: dict[tuple[bytes, bytes], ClassInfo] = {}

    def line_at(self, offset: int) -> int:
        return bytes(self.buffer[:offset]).count(b"\n") + 1

    def _unexpected(self, expected: str) -> T7FormatError:
        """An error for the word at the current position (after whitespace), which is not ``expected``."""
        match = _NEXT_WORD.match(self.buffer, self.position)
        word = match.group(1)
        if not word:
            return self.error(expected, "the end of the file", match.end())
        return self.error(expected, _quote(word), match.start(1))

    def _check_count(self, count: int, item_bytes: int, what: str, offset: int) -> None:
        """Reject a negative count or one whose items cannot fit in the characters left.

        ``item_bytes`` is an item's size in the binary format; in ascii an item
        takes at least two characters (one when it is a raw byte; the very last
        separator of a file may be missing).
        """
        chars = 1 if item_bytes == 1 else 2
        left = self.end - self.position
        if count < 0:
            raise self.error(f"a non-negative {what}", str(count), offset)
        if count * chars - (chars - 1) > left:
            raise self.error(f"a {what} whose {count} items fit in the {left} characters left", str(count), offset)

    # -- primitives --------------------------------------------------------------------
    def _token(self, pattern: re.Pattern[bytes], expected: str) -> tuple[bytes, int]:
        """The next number token matching ``pattern`` and where it starts."""
        match = pattern.match(self.buffer, self.position)
        if match is None:
            raise self._unexpected(expected)
        self.position = match.end()
        return match.group(1), match.start(1)

    def _integer(self, expected: str, bounds: tuple[int, int] = _INT32) -> int:
        token, offset = self._token(_INTEGER, expected)
        value = int(token)
        if not bounds[0] <= value <= bounds[1]:
            raise self.error(expected, f"{value}, out of range", offset)
        return value

    def read_int(self) -> int:
        return self._integer("a 32-bit integer")

    def read_long(self) -> int:
        return self._integer("a 64-bit integer", _INT64)

    def read_double(self) -> float:
        return _to_float(self._token(_REAL, "a number")[0])

    def read_float(self) -> float:
        return float(np.float32(self.read_double()))

    def read_long_array(self, n: int) -> list[int]:
        return self.read_numbers(n, np.dtype(np.int64), "long array element").tolist()

    def _read(self, fmt: str) -> tuple[Any, ...]:
        """torchfile's ``struct``-style read, one number per format character (for torchfile handlers)."""
        codes = fmt.lstrip("<>=!@")
        return tuple(
            self.read_float() if code in "ef" else self.read_double() if code == "d" else self.read_long()
            for code in codes
        )

    def raw_string(self, what: str = "string") -> bytes:
        """A string: its length, then that many raw bytes."""
        size_offset = self.position
        size = self._integer(f"the length of a {what}")
        return self.raw_bytes(size, f"{what} length", size_offset)

    def raw_bytes(self, count: int, what: str, offset: int) -> bytes:
        """``count`` raw bytes and the newline after them (``what`` and ``offset`` name the count in errors)."""
        self._check_count(count, 1, what, offset)
        start = self.position
        self.position = start + count
        raw = bytes(self.buffer[start : self.position])
        if count:
            self._skip_newline()
        return raw

    def _skip_newline(self) -> None:
        position = self.position
        if self.buffer[position : position + 1] == b"\n":
            self.position = position + 1
        elif self.buffer[position : position + 2] == b"\r\n":
            self.position = position + 2

    def read_numbers(self, count: int, dtype: np.dtype, what: str) -> np.ndarray:
        """An array of ``count`` numbers of ``dtype`` (Torch7 writes them on one line)."""
        self._check_count(count, dtype.itemsize, f"{what} count", self.position)
        if count == 0:
            return np.empty(0, dtype=dtype)
        values = self._numbers_on_one_line(count, dtype)
        return values if values is not None else self._scan_numbers(count, dtype, what)

    def _numbers_on_one_line(self, count: int, dtype: np.dtype) -> np.ndarray | None:
        """The fast path: the rest of the line holds exactly ``count`` plain numbers (else None)."""
        start = self.position
        limit = min(self.end, start + count * _MAX_NUMBER_CHARS + 2)
        stop = self.buffer.find(b"\n", start, limit)
        line_end = stop if stop >= 0 else limit
        if stop < 0 and limit != self.end:
            return None  # more characters than count numbers need
        line = self.buffer[start:line_end]
        integral = dtype.kind in "iu"
        if line.translate(None, _PLAIN_INTEGERS if integral else _PLAIN_REALS):
            return None  # letters (inf, nan) or garbage: the token scan handles or reports them
        with warnings.catch_warnings():
            # numpy < 2.3 warns and returns what it parsed before unmatched text; newer ones raise
            warnings.simplefilter("error", DeprecationWarning)
            try:
                values = np.fromstring(line, dtype=np.int64 if integral else np.float64, sep=" ")
            except (ValueError, DeprecationWarning):
                return None
        if values.size != count:
            return None
        if integral:
            info = np.iinfo(dtype)
            low, high = max(info.min, _INT64[0] + 1), min(info.max, _INT64[1] - 1)  # int64 limits may be clamped
            if values.min() < low or values.max() > high:
                return None
        self.position = line_end + 1 if stop >= 0 else line_end
        with np.errstate(over="ignore"):  # 1e39 in a FloatStorage is inf, as with fscanf
            return values.astype(dtype, copy=False)

    def _scan_numbers(self, count: int, dtype: np.dtype, what: str) -> np.ndarray:
        """The slow path: ``count`` number tokens one by one (any whitespace between them)."""
        integral = dtype.kind in "iu"
        bounds = (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)) if integral else _INT64
        expected = f"an integer {what}" if integral else f"a number ({what})"
        values: list[Any] = []
        for _ in range(count):
            if integral:
                values.append(self._integer(expected, bounds))
            else:
                values.append(_to_float(self._token(_REAL, expected)[0]))
        with np.errstate(over="ignore"):
            return np.array(values, dtype=dtype)

    # -- objects -------------------------------------------------------------------------
    def read_obj(self) -> Any:
        """Read the next serialized Lua value."""
        token, start = self._token(_INTEGER, TYPE_IDS)
        typeidx = int(token)
        if typeidx == TYPE_NUMBER:
            value = self.read_double()
            if value.is_integer() and (value or math.copysign(1.0, value) > 0):
                return int(value)
            return value
        if typeidx == TYPE_STRING:
            return self.read_string()
        if typeidx == TYPE_NIL:
            return None
        if typeidx == TYPE_BOOLEAN:
            return self.read_int() == 1
        if typeidx not in self.bodies:
            raise self.error(TYPE_IDS, f"type id {typeidx}", start)
        index_offset = self.position
        return self.read_reference(typeidx, self._integer("an object reference index"), start, index_offset)

    def _read_table(self, index: int) -> T7Table:
        size_offset = self.position
        size = self._integer("a table size")
        self._check_count(size, 2, "table size", size_offset)
        table = T7Table()
        self.objects[index] = table
        read_obj = self.read_obj
        for _ in range(size):
            key_offset = self.position
            key = read_obj()
            if key is None:
                raise self.error("a table key", "nil (Lua tables cannot have nil keys)", key_offset)
            table[key] = read_obj()
        if len(table) != size:
            raise self.table_size_error(table, size, size_offset)
        return table

    def _read_class(self) -> ClassInfo:
        """The class name, version and reader of a Torch object header (cached per distinct header)."""
        offset = self.position
        header = self.raw_string("class version")
        raw_name = self.raw_string("class name") if header.startswith(b"V ") else b""
        info = self._ascii_classes.get((header, raw_name))
        if info is None:
            found = parse_class_header(header, raw_name)
            if isinstance(found, str):
                raise self.error(found, repr(raw_name[:40] if raw_name else header[:40]), offset)
            typename = found[0]
            handler = _ASCII_HANDLERS.get(typename) or found[3]
            info = (typename, found[1], found[2], handler, found[4])
            self._ascii_classes[header, raw_name] = info
        return info

    def check_end(self) -> None:
        """Only whitespace may follow the root object (editors add a final newline)."""
        match = _NEXT_WORD.match(self.buffer, self.position)
        if match.group(1):
            raise self.error("the end of the file after the root object", _quote(match.group(1)), match.start(1))


# -- tensors and storages -----------------------------------------------------------------
def _read_storage(reader: T7AsciiReader, typename: str, version: int, index: int) -> T7Storage:
    size_offset = reader.position
    size = reader.read_long()
    dtype = STORAGE_DTYPES[typename]
    reader._check_count(size, dtype.itemsize, f"{typename} size", size_offset)
    if dtype.itemsize == 1:  # Byte and Char storages are written as raw bytes
        values = np.frombuffer(reader.raw_bytes(size, f"{typename} size", size_offset), dtype=dtype)
    else:
        values = reader.read_numbers(size, dtype, f"{typename} element")
    return T7Storage.from_numpy(values, typename)


def _read_tensor(reader: T7AsciiReader, typename: str, version: int, index: int) -> T7Tensor:
    header_offset = reader.position
    ndim = reader.read_int()
    reader._check_count(ndim, 16, "tensor dimension count", header_offset)
    size = tuple(reader.read_long_array(ndim))
    stride = tuple(reader.read_long_array(ndim))
    storage_offset = reader.read_long() - 1
    return make_tensor(reader, typename, header_offset, size, stride, storage_offset, reader.read_obj())


_ASCII_HANDLERS = dict.fromkeys(STORAGE_DTYPES, _read_storage)
_ASCII_HANDLERS.update(dict.fromkeys(TENSOR_DTYPES, _read_tensor))
