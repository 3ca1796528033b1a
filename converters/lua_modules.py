"""Read the fields of Lua Torch7 modules safely, failing with the module's path.

The one home of "read a Lua field safely": numbers finite and whole where
Lua's C code takes an ``int``, booleans as Lua (``if self.x``) or the LuaJIT
FFI (``0`` is false) reads them, lists of integers, and tensors that are
floating views backed by their own storage elements. Used by the translators
(:mod:`converters.translate`) and :mod:`converters.lua_layers`; the DenseNet
conversion reads no field itself (it recognises the translated modules).
Every error is a :class:`ConversionError` naming the module path in Lua
notation (``model.modules[5].modules[1]``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from converters import t7
from converters.errors import ConversionError
from converters.views import view_backing_problem

__all__ = [
    "LUA_INT_MAX",
    "LUA_INT_MIN",
    "boolean_field",
    "child_modules",
    "describe",
    "ffi_boolean_field",
    "float_field",
    "integer_field",
    "integers_field",
    "lazy_view",
    "lua_truthy",
    "tensor_field",
]

#: Torch7's C code reads sizes, strides and kernel sizes as C ``int``s.
LUA_INT_MAX = 2**31 - 1
LUA_INT_MIN = -(2**31)


def describe(lua_value: Any) -> str:
    """A short description of a Lua value for the "found ..." part of an error message."""
    if isinstance(lua_value, t7.T7Object):
        if not isinstance(lua_value.fields, dict):
            return f"{lua_value.typename} whose fields are {type(lua_value.fields).__name__}, not a table"
        return lua_value.typename
    if isinstance(lua_value, t7.T7Tensor):
        return f"{lua_value.typename} of size {tuple(lua_value.size)}"
    if isinstance(lua_value, t7.T7Table):
        return "a Lua table"
    return f"{type(lua_value).__name__} {lua_value!r}"


def child_modules(lua_module: t7.T7Object, path: str) -> list[tuple[t7.T7Object, str]]:
    """The ``modules`` list of a container as ``(module, Lua path)`` pairs, 1-based like ``print(model)``."""
    modules = lua_module.get("modules")
    if not isinstance(modules, t7.T7Table) or not modules.is_list():
        raise ConversionError(f"expected a 'modules' list in {lua_module.typename}, found {describe(modules)}", path)
    return [(child, f"{path}.modules[{index + 1}]") for index, child in enumerate(modules.as_list())]


def tensor_field(lua_module: t7.T7Object, name: str, path: str, *, ndim: tuple[int, ...] | None = None) -> t7.T7Tensor:
    """Field ``name`` as a floating-point tensor with a storage (and ``ndim`` dimensions if given)."""
    value = lua_module.get(name)
    if not isinstance(value, t7.T7Tensor):
        what = "missing" if value is None else f"{describe(value)}"
        raise ConversionError(f"expected field '{name}' of {lua_module.typename} to be a tensor, found {what}", path)
    if not np.issubdtype(np.dtype(value.dtype), np.floating):
        raise ConversionError(f"expected a floating-point '{name}' tensor, found {value.typename}", path)
    if value.numel() > 0 and not isinstance(value.storage, t7.T7Storage):
        raise ConversionError(f"field '{name}' has size {tuple(value.size)} but no storage", path)
    if ndim is not None and len(value.size) not in ndim:
        raise ConversionError(
            f"expected '{name}' with {' or '.join(map(str, ndim))} dimensions, found size {tuple(value.size)}", path
        )
    if value.numel() > 0:
        problem = view_backing_problem(value.size, value.stride, value.storage_offset, value.storage.size)
        if problem is not None:
            raise ConversionError(
                f"expected field '{name}' to be a plain view of its own storage elements, found a "
                f"{value.typename} that {problem}; the file is corrupt or crafted, re-save it from Lua",
                path,
            )
    return value


def integer_field(
    lua_module: t7.T7Object,
    name: str,
    path: str,
    default: Any = None,
    *,
    minimum: int = 0,
    maximum: int = LUA_INT_MAX,
) -> int:
    """Field ``name`` as a whole Lua number in ``[minimum, maximum]`` (``default`` when absent).

    Lua numbers are doubles: ``3`` and ``3.0`` are the same number; ``2.5``,
    infinities, NaN, booleans and strings are refused.
    """
    value = lua_module.get(name, default)
    if _is_whole(value) and minimum <= value <= maximum:
        return int(value)
    raise ConversionError(
        f"expected a whole number from {minimum} to {maximum} in field '{name}' of {lua_module.typename}, "
        f"found {_describe_number(value)}",
        path,
    )


def float_field(lua_module: t7.T7Object, name: str, path: str, default: Any = None, *, finite: bool = True) -> float:
    """Field ``name`` as a Lua number (``default`` when absent); NaN always, infinities unless ``finite=False``,
    and non-numbers are errors."""
    value = lua_module.get(name, default)
    if _is_number(value) and not math.isnan(value) and (math.isfinite(value) or not finite):
        return float(value)
    expected = "a finite number" if finite else "a number (not NaN)"
    raise ConversionError(
        f"expected {expected} in field '{name}' of {lua_module.typename}, found {_describe_number(value)}", path
    )


def integers_field(
    lua_module: t7.T7Object, name: str, path: str, *, minimum: int = LUA_INT_MIN, maximum: int = LUA_INT_MAX
) -> tuple[int, ...]:
    """Field ``name`` as whole numbers in ``[minimum, maximum]``: a LongStorage, an integer tensor or a Lua list."""
    value = lua_module.get(name)
    if isinstance(value, (t7.T7Storage, t7.T7Tensor)) and np.issubdtype(value.dtype, np.integer):
        items = value.numpy().reshape(-1).tolist()
    elif isinstance(value, t7.T7Table) and value.is_list():
        items = value.as_list()
    else:
        raise ConversionError(
            f"expected a list of whole numbers in field '{name}' of {lua_module.typename}, "
            f"found {_describe_number(value)}",
            path,
        )
    for item in items:
        if not (_is_whole(item) and minimum <= item <= maximum):
            raise ConversionError(
                f"expected whole numbers from {minimum} to {maximum} in field '{name}' of {lua_module.typename}, "
                f"found {_describe_number(item)}",
                path,
            )
    return tuple(int(item) for item in items)


def boolean_field(lua_module: t7.T7Object, name: str, path: str, default: bool | None = None) -> bool:
    """Field ``name`` as a Lua boolean (``default`` when absent); numbers and strings are refused."""
    value = lua_module.get(name, default)
    if isinstance(value, bool):
        return value
    raise ConversionError(
        f"expected a boolean in field '{name}' of {lua_module.typename}, found {_describe_number(value)}", path
    )


def lua_truthy(value: Any) -> bool:
    """Lua's ``if value then``: false only for ``nil`` and ``false`` (``0`` and ``""`` are true)."""
    return value is not None and value is not False


def ffi_boolean_field(lua_module: t7.T7Object, name: str, path: str, default: bool = False) -> bool:
    """Field ``name`` as the C ``bool`` it becomes through the LuaJIT FFI: ``0`` and ``false`` are false.

    (nn hands ``ceil_mode``, ``count_include_pad``, ``inplace``... to THNN this
    way; ``nil`` becomes ``default``.)
    """
    value = lua_module.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if _is_number(value) and not math.isnan(value):
        return value != 0
    raise ConversionError(
        f"expected a boolean or number in field '{name}' of {lua_module.typename}, found {describe(value)}", path
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    if isinstance(value, numbers.Integral):
        return not isinstance(value, bool)
    return isinstance(value, float) and value.is_integer()


def _describe_number(value: Any) -> str:
    return "nothing" if value is None else describe(value)


def lazy_view(tensor: t7.T7Tensor, shape: tuple[int, ...]) -> Callable[[], np.ndarray]:
    """A reader returning ``tensor``'s values as ``shape`` (a read-only view; nothing is read until called)."""

    def read() -> np.ndarray:
        return tensor.numpy().reshape(shape)

    return read
