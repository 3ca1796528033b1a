"""Translators of Lua pooling and resampling: Spatial{Max,Average,LP,AdaptiveMax,AdaptiveAverage}Pooling,
Volumetric{Max,Average}Pooling (and cudnn's), SpatialUpSampling{Nearest,Bilinear}.

``ceil_mode`` and ``count_include_pad`` reach THNN through the LuaJIT FFI
(``0`` is false there); ``divide`` is tested by Lua itself (``0`` is true).
"""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.lua_layers import pooling_window
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.SpatialMaxPooling")
def translate_spatial_max_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.SpatialMaxPooling(
        **pooling_window(lua_module, ctx.path, stride_is_kernel=True), ceil_mode=ctx.ffi_boolean("ceil_mode")
    )


@translates("cudnn.SpatialMaxPooling")
def translate_cudnn_spatial_max_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """cudnn.torch sizes the output in Lua (``if self.ceil_mode then``), so ``ceil_mode = 0`` is ceil mode there."""
    return lua_nn.SpatialMaxPooling(
        **pooling_window(lua_module, ctx.path, stride_is_kernel=True), ceil_mode=ctx.truthy("ceil_mode")
    )


@translates("nn.SpatialAveragePooling")
def translate_spatial_average_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """nn's average pooling; a file without ``divide`` sums, one without ``ceil_mode`` gets Lua's old defaults."""
    window = pooling_window(lua_module, ctx.path, stride_is_kernel=False)
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
    """cudnn always averages (it has no ``divide`` field) and always counts the padding: its forward sets
    ``count_include_pad = count_include_pad ~= nil and count_include_pad or true``, true whatever the field holds.
    Lua itself tests ``ceil_mode``; a file without it gets pad 0 and floor mode (its ``backwardCompatible``)."""
    window = pooling_window(lua_module, ctx.path, stride_is_kernel=False)
    if ctx.value("ceil_mode") is None:
        window.update(padW=0, padH=0)
    return lua_nn.SpatialAveragePooling(**window, ceil_mode=ctx.truthy("ceil_mode"), count_include_pad=True)


@translates("nn.SpatialLPPooling")
def translate_spatial_lp_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """An ``nn.Sequential`` subclass whose children (Power or Square, average pooling, MulConstant, Power or
    Sqrt) compute it."""
    return torch.nn.Sequential(*ctx.children())


@translates("nn.SpatialUpSamplingNearest")
def translate_spatial_up_sampling_nearest(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.SpatialUpSamplingNearest(ctx.int("scale_factor", minimum=1))


@translates("nn.SpatialUpSamplingBilinear")
def translate_spatial_up_sampling_bilinear(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Either ``scale_factor`` (output ``in * scale``) or the constructor's ``{oheight=, owidth=}``."""
    if ctx.has("scale_factor"):
        return lua_nn.SpatialUpSamplingBilinear(scale_factor=ctx.int("scale_factor", minimum=1))
    return lua_nn.SpatialUpSamplingBilinear(oheight=ctx.int("oheight", minimum=1), owidth=ctx.int("owidth", minimum=1))


@translates("nn.SpatialAdaptiveMaxPooling")
def translate_spatial_adaptive_max_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """The constructor takes (W, H): W first."""
    return lua_nn.SpatialAdaptiveMaxPooling(ctx.int("W", minimum=1), ctx.int("H", minimum=1))


@translates("nn.SpatialAdaptiveAveragePooling")
def translate_spatial_adaptive_average_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """THNN's windows (``floor(i*size/n)`` to ``ceil((i+1)*size/n)``) are torch's while ``size * n`` stays below
    2^24, where its single-precision division is still exact."""
    return torch.nn.AdaptiveAvgPool2d((ctx.int("H", minimum=1), ctx.int("W", minimum=1)))


def _volume(ctx: TranslationContext) -> dict[str, int]:
    """kT, kW, kH, dT, dW, dH (a missing stride is the kernel size), padT, padW, padH."""
    kernel = {name: ctx.int(name, minimum=1) for name in ("kT", "kW", "kH")}
    strides = {f"d{axis}": ctx.int(f"d{axis}", kernel[f"k{axis}"], minimum=1) for axis in "TWH"}
    pads = {f"pad{axis}": ctx.int(f"pad{axis}", 0, minimum=0) for axis in "TWH"}
    return {**kernel, **strides, **pads}


@translates("nn.VolumetricMaxPooling")
def translate_volumetric_max_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.VolumetricMaxPooling(**_volume(ctx), ceil_mode=ctx.ffi_boolean("ceil_mode"))


@translates("nn.VolumetricAveragePooling")
def translate_volumetric_average_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """nn's class hands THNN no padding, floor mode and count_include_pad whatever its fields say."""
    window = _volume(ctx)
    kernel = (window["kT"], window["kH"], window["kW"])
    return torch.nn.AvgPool3d(kernel, (window["dT"], window["dH"], window["dW"]))


@translates("cudnn.VolumetricMaxPooling", "cudnn.VolumetricAveragePooling")
def translate_cudnn_volumetric_pooling(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """cuDNN's 3-D pooling in floor mode, averages counting the padding. cudnn.torch sizes a ceil-mode output
    without THNN's rule for windows starting in the padding, and what cuDNN computes there is not reproduced:
    ceil mode is refused."""
    window = _volume(ctx)
    if ctx.truthy("ceil_mode"):
        raise ctx.error(
            f"{ctx.typename} in ceil mode is not supported (cuDNN's windows past the input are not reproduced); "
            "call :floor() on it in Lua and save again, or register a translator with converters.register_module"
        )
    if ctx.typename.endswith("MaxPooling"):
        return lua_nn.VolumetricMaxPooling(**window)
    kernel, padding = (window["kT"], window["kH"], window["kW"]), (window["padT"], window["padH"], window["padW"])
    if any(2 * pad > size for pad, size in zip(padding, kernel, strict=True)):
        raise ctx.error(f"expected padding at most half the kernel, found pads {padding} for kernel {kernel}")
    return torch.nn.AvgPool3d(kernel, (window["dT"], window["dH"], window["dW"]), padding, count_include_pad=True)
