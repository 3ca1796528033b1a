"""Reading Torch7 binary serialization (``torch.save`` files) into the :mod:`.objects` model.

:class:`T7Reader` extends ``torchfile.T7Reader``: it keeps torchfile's
structure (type ids, primitive ``read_*`` methods, per-class handlers called as
``handler(reader, version)``, the object memo ``reader.objects``) and replaces
what makes torchfile unusable for large or untrusted checkpoints:

* it parses from a memory map (or bytes) and never reads storage payloads:
  storages remember their offset and become read-only numpy views on demand;
* ``long`` is always 8 bytes (torchfile uses the platform ``long``, which is 4
  bytes on Windows, and its ``force_8bytes_long`` path calls ``xrange``);
* tables are always :class:`T7Table` (no list heuristic, so tables keyed by
  tables work) and unknown classes are :class:`T7Object` with their version;
* Half/CudaHalf and every ``torch.Cuda*`` tensor and storage class are read;
  ``tds.Hash``/``tds.Vec`` read their 8-byte element count correctly;
* every malformed input raises :class:`T7FormatError` with the byte offset:
  reads past the end, unknown type ids, negative or absurd sizes (checked
  against the bytes left before anything is allocated), tensor views outside
  their storage, references to objects still being read, nesting deeper than
  ``max_depth``.

Handlers for more classes can be added with :func:`register_handler`; classes
registered with ``torchfile.register_handler`` are used as a fallback.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable
from functools import partial
from typing import Any

import torchfile

from .errors import T7FormatError
from .objects import T7Function, T7Object, T7Storage, T7Table, T7Tensor, view_problem
from .typenames import STORAGE_DTYPES, TENSOR_DTYPES

TYPE_NIL = torchfile.TYPE_NIL
TYPE_NUMBER = torchfile.TYPE_NUMBER
TYPE_STRING = torchfile.TYPE_STRING
TYPE_TABLE = torchfile.TYPE_TABLE
TYPE_TORCH = torchfile.TYPE_TORCH
TYPE_BOOLEAN = torchfile.TYPE_BOOLEAN
TYPE_FUNCTION = torchfile.TYPE_FUNCTION
LEGACY_TYPE_RECUR_FUNCTION = torchfile.LEGACY_TYPE_RECUR_FUNCTION
TYPE_RECUR_FUNCTION = torchfile.TYPE_RECUR_FUNCTION
FUNCTION_TYPES = (TYPE_FUNCTION, LEGACY_TYPE_RECUR_FUNCTION, TYPE_RECUR_FUNCTION)

TYPE_IDS = "a type id (0 nil, 1 number, 2 string, 3 table, 4 torch object, 5 boolean, 6/7/8 function)"

#: Lua nesting (tables, objects, tensors, functions inside each other) allowed before
#: the file is rejected. Real checkpoints nest < 50 levels (a DenseNet-264 ~ 20).
DEFAULT_MAX_DEPTH = 200

_INT = struct.Struct("<i")
_LONG = struct.Struct("<q")
_DOUBLE = struct.Struct("<d")
_INT_INT = struct.Struct("<ii")
_INT_DOUBLE = struct.Struct("<id")

# A handler reads the body of one Torch class instance. It receives the reader,
# the class name, the version number and the object's reference index, and must
# call ``reader.memoize(index, value)`` before reading nested objects that may
# refer back to it.
Handler = Callable[["T7Reader", str, int, int], Any]
_HANDLERS: dict[str, Handler] = {}

_UNDER_CONSTRUCTION = object()
_NOT_READ = object()  # T7Reader.read_obj/read_reference: no object has that reference index yet
_NO_KEY = object()  # _read_table: the next object read is a key

# (typename, version, version_string, handler, torchfile handler) of one class header
ClassInfo = tuple[str, int, "str | None", "Handler | None", Any]


def _decode(raw: bytes, cache: dict[bytes, str | bytes]) -> str | bytes:
    """A Lua string as ``str`` when valid UTF-8, else ``bytes``; short ones are cached (keys repeat)."""
    try:
        text: str | bytes = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw
    if len(raw) <= 64:
        cache[raw] = text
    return text


def parse_class_header(header: bytes, raw_name: bytes) -> ClassInfo | str:
    """Decode a class header (``"V <n>"`` + name, or a bare name in pre-versioning files).

    Returns what was expected as a string when the header is malformed.
    """
    if raw_name or header.startswith(b"V "):
        number = header[2:]
        try:
            version = int(number) if number.isdigit() else int(float(number))
        except (ValueError, OverflowError):
            return "a class version number"
        version_string = None if header == b"V %d" % version else header.decode("utf-8", "surrogateescape")
    else:
        version, version_string, raw_name = 0, "", header
    if not raw_name:
        return "a non-empty Torch class name"
    typename = raw_name.decode("utf-8", "surrogateescape")
    return typename, version, version_string, _HANDLERS.get(typename), torchfile.type_handlers.get(raw_name)


def register_handler(typename: str) -> Callable[[Handler], Handler]:
    """Decorator registering a reader for the instances of the Torch class ``typename``."""

    def register(handler: Handler) -> Handler:
        _HANDLERS[typename] = handler
        return handler

    return register


class T7Reader(torchfile.T7Reader):
    """Parses one Torch7 binary object from a bytes-like ``buffer`` (bytes, mmap, memoryview).

    ``source`` only names the input in error messages. Use :func:`~converters.t7.load` or
    :func:`~converters.t7.loads` instead of this class unless you add handlers.
    """

    #: what error messages suggest (None: :class:`T7FormatError`'s default, for binary files)
    hint: str | None = None

    def __init__(
        self, buffer: Any, source: str | os.PathLike[str] | None = None, max_depth: int = DEFAULT_MAX_DEPTH
    ) -> None:
        super().__init__(None, use_list_heuristic=False, use_int_heuristic=True, force_8bytes_long=True)
        self.buffer = buffer
        self.end = len(buffer)
        self.position = 0
        self.source = source
        self.max_depth = max_depth
        self.depth = 0
        self._string_cache: dict[bytes, str | bytes] = {}
        self._class_cache: dict[bytes, ClassInfo] = {}  # raw header bytes -> class
        # type id -> how the body of a new table, Torch object or function is read (as reader methods of
        # this class: the ascii reader has its own _read_table and _read_class)
        cls = type(self)
        self.bodies: dict[int, Callable[[T7Reader, int], Any]] = {
            TYPE_TABLE: cls._read_table,
            TYPE_TORCH: cls._read_torch_object,
        }
        self.bodies.update({typeidx: partial(cls._read_function, typeidx=typeidx) for typeidx in FUNCTION_TYPES})

    # -- errors ------------------------------------------------------------------------
    def error(self, expected: str, found: str, offset: int | None = None, hint: str | None = None) -> T7FormatError:
        """A :class:`T7FormatError` at ``offset`` (default: the current position)."""
        offset = self.position if offset is None else offset
        return T7FormatError(expected, found, offset, self.source, hint or self.hint, self.line_at(offset))

    def line_at(self, offset: int) -> int | None:
        """The line number of ``offset`` for error messages (None: a binary file has no lines)."""
        return None

    def _truncated(self, expected: str, needed: int) -> T7FormatError:
        left = self.end - self.position
        return self.error(expected, f"the end of the file ({left} of {needed} bytes left)")

    def _check_count(self, count: int, item_bytes: int, what: str, offset: int) -> None:
        """Reject a negative count or one whose items cannot fit in the bytes that are left."""
        if count < 0:
            raise self.error(f"a non-negative {what}", str(count), offset)
        if count * item_bytes > self.end - self.position:
            raise self.error(
                f"a {what} whose {count * item_bytes} bytes fit in the {self.end - self.position} bytes left",
                str(count),
                offset,
            )

    # -- primitives (torchfile's method names, always little-endian, long = 8 bytes) ---
    def _read(self, fmt: str) -> tuple[Any, ...]:
        layout = struct.Struct("<" + fmt.lstrip("<>=!@"))
        position = self.position
        if position + layout.size > self.end:
            raise self._truncated(f"{layout.size} bytes ({fmt})", layout.size)
        self.position = position + layout.size
        return layout.unpack_from(self.buffer, position)

    def read_int(self) -> int:
        position = self.position
        try:
            (value,) = _INT.unpack_from(self.buffer, position)
        except struct.error:
            raise self._truncated("a 4-byte integer", 4) from None
        self.position = position + 4
        return value

    def read_long(self) -> int:
        position = self.position
        try:
            (value,) = _LONG.unpack_from(self.buffer, position)
        except struct.error:
            raise self._truncated("an 8-byte long", 8) from None
        self.position = position + 8
        return value

    def read_long_array(self, n: int) -> list[int]:
        self._check_count(n, 8, "long array length", self.position)
        position = self.position
        values = list(struct.unpack_from(f"<{n}q", self.buffer, position))
        self.position = position + 8 * n
        return values

    def read_double(self) -> float:
        position = self.position
        try:
            (value,) = _DOUBLE.unpack_from(self.buffer, position)
        except struct.error:
            raise self._truncated("an 8-byte double", 8) from None
        self.position = position + 8
        return value

    def read_float(self) -> float:
        return self._read("f")[0]

    def read_boolean(self) -> bool:
        return self.read_int() == 1

    def read_string(self, disable_utf8: bool = False) -> str | bytes:
        """A Lua string: ``str`` when it is valid UTF-8, else ``bytes`` (raw bytes if ``disable_utf8``)."""
        raw = self.raw_string()
        if disable_utf8:
            return raw
        text = self._string_cache.get(raw)
        return _decode(raw, self._string_cache) if text is None else text

    def raw_string(self, what: str = "string") -> bytes:
        """A length-prefixed byte string (``read_string`` without decoding)."""
        buffer = self.buffer
        position = self.position
        try:
            (size,) = _INT.unpack_from(buffer, position)
        except struct.error:
            raise self._truncated(f"the 4-byte length of a {what}", 4) from None
        begin = position + 4
        stop = begin + size
        if size < 0 or stop > self.end:
            self.position = begin
            self._check_count(size, 1, f"{what} length", position)
        self.position = stop
        return bytes(buffer[begin:stop])

    # -- objects -------------------------------------------------------------------------
    def memoize(self, index: int, value: Any) -> None:
        """Make ``value`` the object for reference ``index`` (call before reading nested objects)."""
        self.objects[index] = value

    def read_obj(self) -> Any:
        """Read the next serialized Lua value (the hot loop: primitives are inlined)."""
        buffer = self.buffer
        start = self.position
        try:
            (typeidx,) = _INT.unpack_from(buffer, start)
        except struct.error:
            raise self._truncated("a 4-byte type id", 4) from None

        if typeidx == TYPE_STRING:
            self.position = start + 4
            return self.read_string()
        if typeidx == TYPE_NUMBER:
            try:
                (value,) = _DOUBLE.unpack_from(buffer, start + 4)
            except struct.error:
                self.position = start + 4
                raise self._truncated("an 8-byte double", 8) from None
            self.position = start + 12
            if value.is_integer() and (value or math.copysign(1.0, value) > 0):
                return int(value)
            return value
        if typeidx == TYPE_NIL:
            self.position = start + 4
            return None
        if typeidx == TYPE_BOOLEAN:
            self.position = start + 4
            return self.read_int() == 1
        body = self.bodies.get(typeidx)
        if body is None:
            raise self.error(TYPE_IDS, f"type id {typeidx}", start)

        try:
            (index,) = _INT.unpack_from(buffer, start + 4)
        except struct.error:
            self.position = start + 4
            raise self._truncated("a 4-byte object reference index", 4) from None
        self.position = start + 8
        # inline for speed: read_reference() without its error cases, and one Python frame per nesting level
        value = self.objects.get(index, _NOT_READ)
        if value is _NOT_READ:
            if self.depth < self.max_depth:
                self.depth += 1
                value = body(self, index)
                self.depth -= 1
                return value
        elif value is not _UNDER_CONSTRUCTION:
            return value
        return self.read_reference(typeidx, index, start, start + 4)

    def read_reference(self, typeidx: int, index: int, start: int, index_offset: int) -> Any:
        """The table, Torch object or function with reference ``index`` (type id at ``start``, index at
        ``index_offset``): the one already read, or the one whose body follows, read one nesting level
        deeper (not left again after an error: a reader is done after one)."""
        value = self.objects.get(index, _NOT_READ)
        if value is _UNDER_CONSTRUCTION:
            raise self.error(
                "a reference to a finished object",
                f"a reference to object #{index}, which is still being read (tensors, storages and other "
                "class-handler objects cannot contain themselves)",
                index_offset,
            )
        if value is not _NOT_READ:
            return value
        self.depth += 1
        if self.depth > self.max_depth:
            raise self.nesting_error(start)
        value = self.bodies[typeidx](self, index)
        self.depth -= 1
        return value

    def nesting_error(self, offset: int) -> T7FormatError:
        """The error for an object at ``offset`` nested deeper than ``max_depth``."""
        return self.error(
            f"at most {self.max_depth} nested tables/objects",
            "deeper nesting",
            offset,
            hint="the file is corrupt or hostile; pass a larger max_depth to load() if it is genuine",
        )

    def _read_table(self, index: int) -> T7Table:
        size_offset = self.position
        size = self.read_int()
        # every entry takes at least two type ids (8 bytes)
        if size < 0 or 8 * size > self.end - self.position:
            self._check_count(size, 8, "table size", size_offset)
        table = T7Table()
        self.objects[index] = table
        # Hot loop of the whole parse. Keys and values alternate (2 * size objects);
        # strings, numbers and booleans are decoded inline, anything else (and every
        # malformed case) goes through read_obj. ``key`` is _NO_KEY while a key is expected.
        read_obj = self.read_obj
        buffer = self.buffer
        end = self.end
        strings = self._string_cache
        pair = _INT_INT.unpack_from
        number = _INT_DOUBLE.unpack_from
        no_key = _NO_KEY
        key: Any = no_key
        for _ in range(2 * size):
            position = self.position
            try:
                typeidx, length = pair(buffer, position)
            except struct.error:
                typeidx = length = -1
            if typeidx == TYPE_STRING and 0 <= length <= end - position - 8:
                position += 8
                raw = buffer[position : position + length]
                self.position = position + length
                value = strings.get(raw)
                if value is None:
                    value = _decode(raw, strings)
            elif typeidx == TYPE_NUMBER and position + 12 <= end:
                value = number(buffer, position)[1]
                self.position = position + 12
                if value.is_integer() and (value or math.copysign(1.0, value) > 0):
                    value = int(value)
            elif typeidx == TYPE_BOOLEAN:
                self.position = position + 8
                value = length == 1
            else:
                value = read_obj()
                if value is None and key is no_key:
                    raise self.error("a table key", "nil (Lua tables cannot have nil keys)", position)
            if key is no_key:
                key = value
            else:
                table[key] = value
                key = no_key
        if len(table) != size:
            raise self.table_size_error(table, size, size_offset)
        return table

    def table_size_error(self, table: T7Table, size: int, size_offset: int) -> T7FormatError:
        """The error for a table whose ``size`` entries collapsed into fewer Python keys."""
        return self.error(
            f"{size} distinct table keys",
            f"{len(table)} (duplicate keys, or keys such as true and 1 that Python cannot tell apart)",
            size_offset,
        )

    def _read_function(self, index: int, typeidx: int) -> T7Function:
        dumped = self.raw_string("function bytecode")
        function = T7Function(dumped, None, typeidx)
        self.objects[index] = function
        function.upvalues = self.read_obj()
        return function

    def _read_class(self) -> ClassInfo:
        """The class name, version and reader of a Torch object header (cached per distinct header)."""
        buffer = self.buffer
        offset = self.position
        # fast path: a "V n" header and a name, both inside the buffer
        try:
            (header_size,) = _INT.unpack_from(buffer, offset)
            name_at = offset + 4 + header_size
            (name_size,) = _INT.unpack_from(buffer, name_at)
        except struct.error:
            header_size = name_size = -1
        if header_size >= 0 and name_size >= 0 and name_at + 4 + name_size <= self.end:
            key = bytes(buffer[offset : name_at + 4 + name_size])
            info = self._class_cache.get(key)
            if info is not None:
                self.position = name_at + 4 + name_size
                return info
        header = self.raw_string("class version")
        raw_name = self.raw_string("class name") if header.startswith(b"V ") else b""
        info = parse_class_header(header, raw_name)
        if isinstance(info, str):
            raise self.error(info, repr(raw_name[:40] if raw_name else header[:40]), offset)
        self._class_cache[bytes(buffer[offset : self.position])] = info
        return info

    def _read_torch_object(self, index: int) -> Any:
        typename, version, version_string, handler, legacy_handler = self._read_class()
        if handler is not None:
            self.objects[index] = _UNDER_CONSTRUCTION
            value = handler(self, typename, version, index)
            self.objects[index] = value
            return value
        if legacy_handler is not None:
            self.objects[index] = _UNDER_CONSTRUCTION
            raw_version = (version_string or f"V {version}").encode("utf-8", "surrogateescape")
            value = legacy_handler(self, raw_version)
            self.objects[index] = value
            return value
        # Registered before its fields are read: an object may be its own field.
        instance = T7Object.__new__(T7Object)
        instance.typename = typename
        instance.version = version
        instance.version_string = version_string
        self.objects[index] = instance
        fields_offset = self.position
        fields = self.read_obj()
        if not isinstance(fields, T7Table):
            raise self.error(
                f"the instance table of a {typename}",
                f"a {type(fields).__name__} (the class may have its own serializer that this reader does not "
                "know; register one with converters.t7.register_handler)",
                fields_offset,
            )
        instance.fields = fields
        return instance

    def read_root(self) -> Any:
        """Read the one object a ``torch.save`` file holds (trailing bytes are an error)."""
        try:
            root = self.read_obj()
        except RecursionError:
            raise self.error(
                "nesting Python can follow", "too deep nesting", hint="pass a smaller max_depth to load()"
            ) from None
        except (struct.error, ValueError, TypeError, OverflowError, MemoryError, NotImplementedError) as error:
            # raised by torchfile fallback handlers reading malformed bytes
            raise self.error("a readable object", f"{type(error).__name__}: {error}") from None
        self.check_end()
        return root

    def check_end(self) -> None:
        """Nothing may follow the root object."""
        if self.position != self.end:
            raise self.error("the end of the file after the root object", f"{self.end - self.position} more bytes")


# -- tensors and storages -----------------------------------------------------------------
def _read_storage(reader: T7Reader, typename: str, version: int, index: int) -> T7Storage:
    size_offset = reader.position
    size = reader.read_long()
    dtype = STORAGE_DTYPES[typename]
    reader._check_count(size, dtype.itemsize, f"{typename} size", size_offset)
    storage = T7Storage.__new__(T7Storage)
    storage.typename = typename
    storage.size = size
    storage.dtype = dtype
    storage._array = None
    storage._buffer = reader.buffer
    storage._offset = reader.position
    reader.position += size * dtype.itemsize
    return storage


_TENSOR_HEADERS = {ndim: struct.Struct(f"<{2 * ndim + 1}q") for ndim in range(9)}


def _read_tensor(reader: T7Reader, typename: str, version: int, index: int) -> T7Tensor:
    header_offset = reader.position
    ndim = reader.read_int()
    if ndim < 0 or 16 * ndim + 8 > reader.end - reader.position:
        reader._check_count(ndim, 16, "tensor dimension count", header_offset)
        raise reader._truncated("a tensor header", 16 * ndim + 8)
    layout = _TENSOR_HEADERS.get(ndim) or struct.Struct(f"<{2 * ndim + 1}q")
    header = layout.unpack_from(reader.buffer, reader.position)
    reader.position += layout.size
    size = header[:ndim]
    stride = header[ndim : 2 * ndim]
    storage_offset = header[-1] - 1
    return make_tensor(reader, typename, header_offset, size, stride, storage_offset, reader.read_obj())


def make_tensor(
    reader: T7Reader,
    typename: str,
    header_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    storage_offset: int,
    storage: Any,
) -> T7Tensor:
    """The tensor a header describes (``storage_offset`` 0-based), once its view is checked against its storage."""
    # the empty tensors of cleared modules (no size, no storage) need no check
    if size or storage is not None or storage_offset < 0:
        problem = view_problem(typename, size, stride, storage_offset, storage)
        if problem is not None:
            raise reader.error(f"a {typename} view inside its storage", problem, header_offset)
    tensor = T7Tensor.__new__(T7Tensor)
    tensor.typename = typename
    tensor.size = size
    tensor.stride = stride
    tensor.storage_offset = storage_offset
    tensor.storage = storage
    return tensor


for _typename in STORAGE_DTYPES:
    _HANDLERS[_typename] = _read_storage
for _typename in TENSOR_DTYPES:
    _HANDLERS[_typename] = _read_tensor


@register_handler("tds.Hash")
def _read_tds_hash(reader: T7Reader, typename: str, version: int, index: int) -> T7Object:
    """``tds.Hash``: an 8-byte entry count, then key/value objects (torchfile reads a 4-byte count)."""
    count_offset = reader.position
    count = reader.read_long()
    reader._check_count(count, 8, "tds.Hash size", count_offset)
    entries = T7Table()
    instance = T7Object(typename, entries, version)
    reader.memoize(index, instance)
    for _ in range(count):
        key = reader.read_obj()
        entries[key] = reader.read_obj()
    return instance


@register_handler("tds.Vec")
def _read_tds_vec(reader: T7Reader, typename: str, version: int, index: int) -> T7Object:
    """``tds.Vec``: an 8-byte element count, then the elements (as a T7Table keyed 1..n)."""
    count_offset = reader.position
    count = reader.read_long()
    reader._check_count(count, 4, "tds.Vec size", count_offset)
    entries = T7Table()
    instance = T7Object(typename, entries, version)
    reader.memoize(index, instance)
    for position in range(1, count + 1):
        entries[position] = reader.read_obj()
    return instance
