"""Translators of Lua pooling and resampling: Spatial{Max,Average,LP}Pooling, SpatialUpSamplingNearest.

``ceil_mode`` and ``count_include_pad`` reach THNN through the LuaJIT FFI
(``0`` is false there); ``divide`` is tested by Lua itself (``0`` is true).
"""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates

#: cudnn's pooling mode strings that say whether the padding counts in an average.
CUDNN_AVERAGE_MODES = {
    "CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING": True,
    "CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING": False,
}


def _window(ctx: TranslationContext, *, stride_is_kernel: bool) -> dict[str, int]:
    """kW, kH, dW, dH, padW, padH; a missing stride is the kernel size (max pooling's default) or 1."""
    kW, kH = ctx.int("kW", minimum=1), ctx.int("kH", minimum=1)
    return {
        "kW": kW,
        "kH": kH,
        "dW": ctx.int("dW", kW if stride_is_kernel else 1, minimum=1),
        "dH": ctx.int("dH", kH if stride_is_kernel else 1, minimum=1),
        "padW": ctx.int("padW", 0, minimum=0),
        "padH": ctx.int("padH", 0, minimum=0),
    }


@translates("nn.SpatialMaxPooling")
def translate_spatial_max_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.SpatialMaxPooling(**_window(ctx, stride_is_kernel=True), ceil_mode=ctx.ffi_boolean("ceil_mode"))


@translates("nn.SpatialAveragePooling")
def translate_spatial_average_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """nn's average pooling; a file without ``divide`` sums, one without ``ceil_mode`` gets Lua's old defaults."""
    window = _window(ctx, stride_is_kernel=False)
    divide = ctx.truthy("divide")
    if not divide:
        ctx.note("no 'divide' field (a checkpoint older than it): nn computes window sums, and so does this module")
    if ctx.value("ceil_mode") is None:  # nn's backwardCompatible(): pad 0, floor, count_include_pad
        window.update(padW=0, padH=0)
        return lua_nn.SpatialAveragePooling(**window, divide=divide)
    return lua_nn.SpatialAveragePooling(
        **window,
        ceil_mode=ctx.ffi_boolean("ceil_mode"),
        count_include_pad=ctx.ffi_boolean("count_include_pad", True),
        divide=divide,
    )


@translates("cudnn.SpatialAveragePooling")
def translate_cudnn_spatial_average_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """cudnn always averages (it has no ``divide`` field); its ``mode`` says whether padding counts."""
    mode = ctx.value("mode")
    include = CUDNN_AVERAGE_MODES.get(mode) if isinstance(mode, str) else None
    if include is None:
        include = ctx.ffi_boolean("count_include_pad", True)
    return lua_nn.SpatialAveragePooling(
        **_window(ctx, stride_is_kernel=False),
        ceil_mode=ctx.ffi_boolean("ceil_mode"),
        count_include_pad=include,
        divide=True,
    )


@translates("nn.SpatialLPPooling")
def translate_spatial_lp_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """An ``nn.Sequential`` subclass whose children (Power or Square, average pooling, MulConstant, Power or
    Sqrt) compute it."""
    return torch.nn.Sequential(*ctx.children())


@translates("nn.SpatialUpSamplingNearest")
def translate_spatial_up_sampling_nearest(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.SpatialUpSamplingNearest(ctx.int("scale_factor", minimum=1))
