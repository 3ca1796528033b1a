"""The Python object model of Torch7 serialized values.

Lua values map to Python as follows: ``nil`` -> ``None``, booleans -> ``bool``,
numbers -> ``int`` when integral (and not ``-0.0``) else ``float``, strings ->
``str`` (``bytes`` when not valid UTF-8), tables -> :class:`T7Table`, Torch
class instances -> :class:`T7Object`, tensors -> :class:`T7Tensor`, storages
-> :class:`T7Storage`, Lua functions -> :class:`T7Function`. An object that is
referenced several times in a file is one Python object, so shared storages
and cyclic tables survive a load/save round trip.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator
from typing import Any

import numpy as np

from .typenames import STORAGE_DTYPES, STORAGE_OF_TENSOR, TENSOR_DTYPES, default_typenames, element_dtype


class T7Table(dict):
    """A Lua table: a dict in file order, hashable by identity (tables can be keys, as in Lua).

    Equality is dict equality (handy in tests); hashing is by identity, so two
    distinct tables are always distinct keys.
    """

    __slots__ = ("__weakref__",)
    __hash__ = object.__hash__

    def is_list(self) -> bool:
        """True when the keys are exactly the integers ``1..n`` (any order)."""
        n = len(self)
        return all(type(key) is int and 1 <= key <= n for key in self)

    def as_list(self) -> list[Any]:
        """The values for keys ``1..n``; ``ValueError`` if the table is not a list."""
        if not self.is_list():
            raise ValueError(f"Lua table with keys {list(self)[:8]!r}... is not a list (keys 1..n)")
        return [self[index] for index in range(1, len(self) + 1)]

    def __repr__(self) -> str:
        return f"T7Table({dict.__repr__(self)})"


class T7Object:
    """An instance of a Torch class that has no dedicated Python type (``nn.*``, ``cudnn.*``, ...).

    ``typename`` is the Torch class name, ``version`` the class serialization
    version (``"V 1"`` -> 1; 0 for files from before versioning) and
    ``fields`` the instance table. Item access (``obj["weight"]``,
    ``obj.get``, ``in``) delegates to ``fields``. ``version_string`` is only
    set for unusual headers that ``"V {version}"`` would not reproduce; ``""``
    means "written without a version header" (pre-2015 files).
    """

    __slots__ = ("__weakref__", "fields", "typename", "version", "version_string")

    def __init__(
        self,
        typename: str,
        fields: dict[Any, Any] | Any = None,
        version: int = 1,
        *,
        version_string: str | None = None,
    ) -> None:
        self.typename = typename
        self.version = version
        if fields is None:
            fields = T7Table()
        elif type(fields) is dict:
            fields = T7Table(fields)
        self.fields = fields
        self.version_string = version_string

    def __getitem__(self, key: Any) -> Any:
        return self.fields[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.fields[key] = value

    def __contains__(self, key: Any) -> bool:
        return key in self.fields

    def get(self, key: Any, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def keys(self) -> Any:
        return self.fields.keys()

    def items(self) -> Any:
        return self.fields.items()

    def values(self) -> Any:
        return self.fields.values()

    def __repr__(self) -> str:
        count = len(self.fields) if isinstance(self.fields, dict) else "?"
        return f"T7Object({self.typename!r}, version={self.version}, {count} fields)"


class T7Storage:
    """A Torch storage: a flat typed buffer.

    Storages read from a file are lazy: they remember where their payload is
    and :meth:`numpy` returns a read-only view over the memory-mapped file (or
    the loaded bytes), so nothing is copied until the caller copies.
    """

    __slots__ = ("__weakref__", "_array", "_buffer", "_offset", "dtype", "size", "typename")

    def __init__(self, typename: str, size: int, buffer: Any = None, offset: int = 0) -> None:
        """A storage of ``size`` elements whose payload starts at ``offset`` in ``buffer`` (a bytes-like)."""
        if typename not in STORAGE_DTYPES:
            raise ValueError(f"unknown Torch storage class {typename!r}; expected one of {sorted(STORAGE_DTYPES)}")
        self.typename = typename
        self.size = int(size)
        self.dtype = STORAGE_DTYPES[typename]
        self._array: np.ndarray | None = None
        self._buffer = buffer
        self._offset = int(offset)
        if buffer is None and self.size:
            raise ValueError("a storage with elements needs a buffer; use T7Storage.from_numpy")

    @classmethod
    def from_numpy(cls, array: Any, typename: str | None = None) -> T7Storage:
        """A storage holding ``array`` flattened (C order), converted to the class's element type.

        No copy is made when ``array`` is already C-contiguous with that type.
        """
        if typename is None:
            typename = default_typenames(np.asarray(array).dtype)[1]
        if typename not in STORAGE_DTYPES:
            raise ValueError(f"unknown Torch storage class {typename!r}; expected one of {sorted(STORAGE_DTYPES)}")
        flat = np.ascontiguousarray(array, dtype=STORAGE_DTYPES[typename]).reshape(-1)
        storage = cls.__new__(cls)
        storage.typename = typename
        storage.size = flat.size
        storage.dtype = STORAGE_DTYPES[typename]
        storage._array = flat
        storage._buffer = None
        storage._offset = 0
        return storage

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def numpy(self) -> np.ndarray:
        """The elements as a read-only 1-D array (a zero-copy view)."""
        array = self._array
        if array is None:
            if self.size == 0:
                array = np.empty(0, dtype=self.dtype)
            else:
                array = np.frombuffer(self._buffer, dtype=self.dtype, count=self.size, offset=self._offset)
            self._array = array
        view = array.view()
        view.flags.writeable = False
        return view

    def raw_bytes(self) -> memoryview:
        """The payload exactly as stored in the file (little-endian), without copying."""
        if self._array is None and self._buffer is not None:
            return memoryview(self._buffer)[self._offset : self._offset + self.nbytes]
        return memoryview(self.numpy()).cast("B")

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"T7Storage({self.typename!r}, size={self.size})"


def view_problem(
    typename: str, size: tuple[int, ...], stride: tuple[int, ...], offset: int, storage: Any
) -> str | None:
    """What is wrong with a tensor view header, or None when it stays inside its storage."""
    if typename not in TENSOR_DTYPES:
        return f"unknown tensor class {typename!r}"
    if len(size) != len(stride):
        return f"{len(size)} sizes but {len(stride)} strides"
    if offset < 0:
        return f"negative storage offset {offset}"
    if size:
        if min(size) < 0:
            return f"negative size {size}"
        if min(stride) < 0:
            return f"negative stride {stride}"
    if storage is None:
        if size and math.prod(size) > 0:
            return f"a tensor of size {size} without a storage"
        return None
    if type(storage) is not T7Storage and not isinstance(storage, T7Storage):
        return f"{type(storage).__name__} instead of a storage"
    if storage.typename != STORAGE_OF_TENSOR[typename]:
        return f"a {storage.typename} under a {typename}"
    if not size or 0 in size:
        return None
    last = offset + sum(map(operator.mul, size, stride)) - sum(stride)
    if last >= storage.size:
        return f"a view reaching element {last} of a storage with {storage.size} elements"
    return None


class T7Tensor:
    """A Torch tensor: a strided view (size, stride, 0-based offset, in elements) into a storage.

    ``storage`` may be shared with other tensors (e.g. every weight of a model
    flattened by ``getParameters``). A tensor with no dimensions is Torch7's
    empty tensor (``numel() == 0``).
    """

    __slots__ = ("__weakref__", "size", "storage", "storage_offset", "stride", "typename")

    def __init__(
        self,
        typename: str,
        size: tuple[int, ...] | list[int],
        stride: tuple[int, ...] | list[int],
        storage_offset: int = 0,
        storage: T7Storage | None = None,
    ) -> None:
        size = tuple(int(extent) for extent in size)
        stride = tuple(int(step) for step in stride)
        problem = view_problem(typename, size, stride, int(storage_offset), storage)
        if problem is not None:
            raise ValueError(f"invalid {typename} view: {problem}")
        self.typename = typename
        self.size = size
        self.stride = stride
        self.storage_offset = int(storage_offset)
        self.storage = storage

    @classmethod
    def from_numpy(cls, array: Any, typename: str | None = None) -> T7Tensor:
        """A contiguous tensor with its own storage holding ``array`` (Torch7 has no 0-size dims: an
        empty array gives the empty tensor, a 0-d array a 1-element 1-D tensor)."""
        array = np.asarray(array)
        if typename is None:
            typename = default_typenames(array.dtype)[0]
        if typename not in TENSOR_DTYPES:
            raise ValueError(f"unknown Torch tensor class {typename!r}; expected one of {sorted(TENSOR_DTYPES)}")
        if array.size == 0:
            return cls(typename, (), (), 0, None)
        shape = array.shape or (1,)
        storage = T7Storage.from_numpy(array, STORAGE_OF_TENSOR[typename])
        return cls(typename, shape, contiguous_strides(shape), 0, storage)

    @property
    def dtype(self) -> np.dtype:
        return TENSOR_DTYPES[self.typename]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.size

    @property
    def ndim(self) -> int:
        return len(self.size)

    def numel(self) -> int:
        return math.prod(self.size) if self.size else 0

    def is_contiguous(self) -> bool:
        return self.stride == contiguous_strides(self.size) or self.numel() <= 1

    def numpy(self) -> np.ndarray:
        """A read-only numpy view of the elements (zero-copy; the storage payload is mapped lazily)."""
        numel = self.numel()
        if numel == 0 or self.storage is None:
            empty = np.empty(self.size if self.size else (0,), dtype=self.dtype)
            empty.flags.writeable = False
            return empty
        flat = self.storage.numpy()
        start = self.storage_offset
        if self.is_contiguous():
            return flat[start : start + numel].reshape(self.size)
        itemsize = self.dtype.itemsize
        return np.lib.stride_tricks.as_strided(
            flat[start:],
            shape=self.size,
            strides=tuple(step * itemsize for step in self.stride),
            writeable=False,
        )

    def torch(self) -> Any:
        """A ``torch.Tensor`` with its own contiguous memory (a copy of :meth:`numpy`)."""
        import torch

        return torch.from_numpy(np.array(self.numpy(), order="C", copy=True))

    def __repr__(self) -> str:
        return (
            f"T7Tensor({self.typename!r}, size={self.size}, stride={self.stride}, "
            f"storage_offset={self.storage_offset}, storage={self.storage!r})"
        )


class T7Function:
    """A serialized Lua function: its ``string.dump`` bytecode and its upvalues table.

    The bytecode is kept verbatim (it is LuaJIT/Lua specific and cannot be run
    here); ``typeidx`` is the type id it was stored with (8 for current
    Torch7, 6 and 7 in older files).
    """

    __slots__ = ("__weakref__", "dumped", "typeidx", "upvalues")

    def __init__(self, dumped: bytes, upvalues: Any = None, typeidx: int = 8) -> None:
        self.dumped = bytes(dumped)
        self.upvalues = upvalues
        self.typeidx = typeidx

    @property
    def size(self) -> int:
        return len(self.dumped)

    def __repr__(self) -> str:
        return f"T7Function({len(self.dumped)} bytes of bytecode)"


def contiguous_strides(size: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides, in elements, of a tensor of ``size``."""
    strides = []
    step = 1
    for extent in reversed(size):
        strides.append(step)
        step *= max(extent, 1)
    return tuple(reversed(strides))


def iter_tree(root: Any) -> Iterator[Any]:
    """Every table, object, tensor, storage and function reachable from ``root``, each once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        value = stack.pop()
        if not isinstance(value, (T7Table, T7Object, T7Tensor, T7Storage, T7Function)) or id(value) in seen:
            continue
        seen.add(id(value))
        yield value
        if isinstance(value, T7Table):
            for key, item in value.items():
                stack.append(key)
                stack.append(item)
        elif isinstance(value, T7Object):
            stack.append(value.fields)
        elif isinstance(value, T7Tensor):
            stack.append(value.storage)
        elif isinstance(value, T7Function):
            stack.append(value.upvalues)


__all__ = [
    "T7Function",
    "T7Object",
    "T7Storage",
    "T7Table",
    "T7Tensor",
    "contiguous_strides",
    "element_dtype",
    "iter_tree",
]
