"""Translators of Lua shape and padding modules: Identity, Reshape, View, Padding, Spatial{Zero,Reflection}Padding.

Padding constructors take (left, right, top, bottom), the order of ``torch.nn.ZeroPad2d``.
"""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.Identity")
def translate_identity(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.Identity()


@translates("nn.Reshape")
def translate_reshape(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    size = ctx.ints("size")
    if not size or min(size) < 1:
        raise ctx.error(f"expected positive sizes in field 'size' of nn.Reshape, found {size}")
    batch_mode = None if ctx.value("batchMode") is None else ctx.boolean("batchMode")
    return lua_nn.Reshape(size, batch_mode)


@translates("nn.View")
def translate_view(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    size = ctx.ints("size")
    if not size or min(size) < -1 or size.count(-1) > 1:
        raise ctx.error(f"expected sizes >= 0 with at most one -1 in field 'size' of nn.View, found {size}")
    return lua_nn.View(size, ctx.optional_int("numInputDims", minimum=0))


@translates("nn.Padding")
def translate_padding(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Padding(
        ctx.int("dim", minimum=1),
        ctx.int("pad"),
        ctx.optional_int("nInputDim", minimum=0),
        ctx.number("value", 0, finite=False),
        ctx.int("index", 1, minimum=1),
    )


def _pads(ctx: TranslationContext) -> tuple[int, int, int, int]:
    """(left, right, top, bottom); right, top and bottom default to left, as the Lua constructors do."""
    left = ctx.int("pad_l")
    return left, ctx.int("pad_r", left), ctx.int("pad_t", left), ctx.int("pad_b", left)


@translates("nn.SpatialZeroPadding")
def translate_spatial_zero_padding(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Negative pads crop, as in Lua."""
    return torch.nn.ZeroPad2d(_pads(ctx))


@translates("nn.SpatialReflectionPadding")
def translate_spatial_reflection_padding(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.ReflectionPad2d(_pads(ctx))
