"""The fields of Lua layers, read once for every converter: convolution geometry, BatchNorm statistics, dropout,
pooling windows.

The translators (``converters.translate``) read these layers through it (the
DenseNet conversion recognises their translated modules); the rules of what a field
means (a missing stride, a class-version-1 ``running_std``, a Dropout without
``v2``) live here, on top of the validated readers of :mod:`converters.lua_modules`.
Tensors are not read here: the callers read them lazily by field name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from converters import t7
from converters.errors import ConversionError
from converters.lua_modules import float_field, integer_field, lua_truthy

__all__ = [
    "ConvolutionFields",
    "batchnorm_variance_field",
    "convolution_fields",
    "dropout_fields",
    "pooling_window",
    "running_var_from_std",
]


@dataclass(frozen=True)
class ConvolutionFields:
    """A Spatial(Dilated)Convolution(MM)'s geometry, each pair (H, W) as PyTorch orders it."""

    n_in: int
    n_out: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


def convolution_fields(lua_module: t7.T7Object, path: str) -> ConvolutionFields:
    """The geometry of a 2-D convolution: missing strides are 1, missing padding 0 (files from before
    ``padW``/``padH`` have one ``padding``), missing ``groups`` (only cudnn has it) and dilation 1."""

    def whole(name: str, default: int | None = None, minimum: int = 1) -> int:
        return integer_field(lua_module, name, path, default, minimum=minimum)

    if lua_module.get("padding") is not None:
        padding = (whole("padding", minimum=0),) * 2
    else:
        padding = (whole("padH", 0, minimum=0), whole("padW", 0, minimum=0))
    return ConvolutionFields(
        n_in=whole("nInputPlane"),
        n_out=whole("nOutputPlane"),
        kernel=(whole("kH"), whole("kW")),
        stride=(whole("dH", 1), whole("dW", 1)),
        padding=padding,
        dilation=(whole("dilationH", 1), whole("dilationW", 1)),
        groups=whole("groups", 1),
    )


def batchnorm_variance_field(lua_module: t7.T7Object, path: str) -> tuple[str, bool]:
    """Which field holds a BatchNorm's variance: ``("running_var", False)``, or ``("running_std", True)`` for a
    class version 1 file, which stored ``1/sqrt(var + eps)`` (see :func:`running_var_from_std`)."""
    legacy = lua_module.version < 2 and lua_module.get("running_std") is not None
    if legacy:
        return "running_std", True
    if isinstance(lua_module.get("running_var"), t7.T7Tensor):
        return "running_var", False
    found = "running_std with class version >= 2 (nn would ignore it)" if "running_std" in lua_module else "neither"
    raise ConversionError(
        f"expected BatchNorm field 'running_var' (or 'running_std' in class version < 2), found {found}", path
    )


def running_var_from_std(running_std: np.ndarray, eps: float) -> np.ndarray:
    """``running_var`` from a class version 1 ``running_std``, as nn's ``read`` converts it: ``std^-2 - eps``."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return np.asarray(running_std, dtype=np.float64) ** -2.0 - eps


def dropout_fields(lua_module: t7.T7Object, path: str) -> tuple[float, bool]:
    """``(p, v2)`` of an nn.Dropout: ``0 <= p < 1``; ``v2`` as Lua's ``if self.v2`` reads it, so a file without the
    field (older than it) has version-1 scaling (outputs times ``1 - p`` at test time)."""
    p = float_field(lua_module, "p", path, 0.5)
    if not 0 <= p < 1:
        raise ConversionError(f"expected a dropout probability 0 <= p < 1, found p={p:g}", path)
    return p, lua_truthy(lua_module.get("v2"))


def pooling_window(lua_module: t7.T7Object, path: str, *, stride_is_kernel: bool) -> dict[str, int]:
    """kW, kH, dW, dH, padW, padH of a 2-D pooling; a missing stride is the kernel size (max pooling's
    default, ``stride_is_kernel``) or 1."""

    def whole(name: str, default: int | None = None, minimum: int = 1) -> int:
        return integer_field(lua_module, name, path, default, minimum=minimum)

    k_w, k_h = whole("kW"), whole("kH")
    return {
        "kW": k_w,
        "kH": k_h,
        "dW": whole("dW", k_w if stride_is_kernel else 1),
        "dH": whole("dH", k_h if stride_is_kernel else 1),
        "padW": whole("padW", 0, minimum=0),
        "padH": whole("padH", 0, minimum=0),
    }
