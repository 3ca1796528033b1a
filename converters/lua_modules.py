"""Classify the modules of a Lua Torch7 tree and read their fields, failing with the module's path.

Shared by the per-layer parser (:mod:`converters.layers`) and the top-level
walk (:mod:`converters.densenet`). Every error is a :class:`ConversionError`
naming the module path in Lua notation (``model.modules[5].modules[1]``).
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
    "EXPECTED",
    "KINDS",
    "NAMESPACES",
    "child_modules",
    "describe",
    "float_field",
    "integer_field",
    "lazy_view",
    "module_kind",
    "tensor_field",
]

#: Torch7's C code reads sizes, strides and kernel sizes as C ``int``s.
LUA_INT_MAX = 2**31 - 1

#: Class namespaces the original code (and its CPU/GPU conversions) produce.
NAMESPACES = ("nn", "cudnn", "cunn")

#: Module class name (without namespace) -> the role the conversion gives it.
KINDS = {
    "SpatialConvolution": "conv",
    "SpatialConvolutionMM": "conv",
    "SpatialBatchNormalization": "bn",
    "ReLU": "relu",
    "SpatialMaxPooling": "maxpool",
    "SpatialAveragePooling": "avgpool",
    "Dropout": "dropout",
    "Linear": "linear",
    "Reshape": "reshape",
    "View": "reshape",
    "JoinTable": "join",
    "Concat": "concat",
    "Sequential": "sequential",
    "Identity": "identity",
    "DenseConnectLayerCustom": "custom",
    "DataParallelTable": "dataparallel",
}

#: What an error message says was expected, per role.
EXPECTED = {
    "conv": "a SpatialConvolution (nn./cudnn.)",
    "bn": "a SpatialBatchNormalization (nn./cudnn.)",
    "relu": "a ReLU (nn./cudnn.)",
    "maxpool": "a SpatialMaxPooling",
    "avgpool": "a SpatialAveragePooling",
    "linear": "an nn.Linear",
    "reshape": "an nn.Reshape or nn.View",
    "join": "an nn.JoinTable(2)",
}


def module_kind(lua_value: Any) -> str | None:
    """The role of a ``nn.``/``cudnn.``/``cunn.`` module (``"conv"``, ``"bn"``, ...), None for anything else."""
    if not isinstance(lua_value, t7.T7Object) or not isinstance(lua_value.fields, dict):
        return None
    namespace, _, name = lua_value.typename.partition(".")
    if namespace not in NAMESPACES:
        return None
    return KINDS.get(name)


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


def integer_field(lua_module: t7.T7Object, name: str, path: str, default: Any = None, *, minimum: int = 0) -> int:
    """Field ``name`` as a whole Lua number in ``[minimum, 2**31 - 1]`` (``default`` when absent)."""
    value = lua_module.get(name, default)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and minimum <= value <= LUA_INT_MAX:
        return int(value)
    raise ConversionError(
        f"expected a whole number from {minimum} to {LUA_INT_MAX} in field '{name}' of {lua_module.typename}, "
        f"found {_describe_number(value)}",
        path,
    )


def float_field(lua_module: t7.T7Object, name: str, path: str, default: Any = None) -> float:
    """Field ``name`` as a finite Lua number (``default`` when absent); NaN, infinities and non-numbers are errors."""
    value = lua_module.get(name, default)
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ConversionError(
        f"expected a finite number in field '{name}' of {lua_module.typename}, found {_describe_number(value)}", path
    )


def _describe_number(value: Any) -> str:
    return "nothing" if value is None else describe(value)


def lazy_view(tensor: t7.T7Tensor, shape: tuple[int, ...]) -> Callable[[], np.ndarray]:
    """A reader returning ``tensor``'s values as ``shape`` (a read-only view; nothing is read until called)."""

    def read() -> np.ndarray:
        return tensor.numpy().reshape(shape)

    return read
