"""Translators of Lua shape, slicing and padding modules: Identity, Reshape, View, Narrow, Select, Squeeze,
Unsqueeze, Transpose, Replicate, Contiguous, Copy, Padding, Spatial{Zero,Reflection,Replication}Padding.

Padding constructors take (left, right, top, bottom), the order of ``torch.nn.ZeroPad2d``.
"""

from __future__ import annotations

import torch

from converters import lua_nn, t7
from converters.lua_modules import describe
from converters.translate.context import TranslationContext
from converters.translate.registry import translates

#: The most dimensions a Reshape or View may produce (Torch7 models use up to 5; a crafted file may hold millions).
MAX_DIMENSIONS = 8


@translates("nn.Identity")
def translate_identity(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.Identity()


@translates("nn.Reshape")
def translate_reshape(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    size = _sizes(ctx)
    if min(size) < 1:
        raise ctx.error(f"expected positive sizes in field 'size' of nn.Reshape, found {size}")
    batch_mode = None if ctx.value("batchMode") is None else ctx.boolean("batchMode")
    return lua_nn.Reshape(size, batch_mode)


@translates("nn.View")
def translate_view(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    size = _sizes(ctx)
    if min(size) < -1 or size.count(-1) > 1:
        raise ctx.error(f"expected sizes >= 0 with at most one -1 in field 'size' of nn.View, found {size}")
    return lua_nn.View(size, ctx.optional_int("numInputDims", minimum=0))


def _sizes(ctx: TranslationContext) -> tuple[int, ...]:
    """The ``size`` of a Reshape or View: 1 to ``MAX_DIMENSIONS`` whole numbers."""
    size = ctx.ints("size")
    if not 1 <= len(size) <= MAX_DIMENSIONS:
        raise ctx.error(f"expected a 'size' of 1 to {MAX_DIMENSIONS} dimensions in {ctx.typename}, found {len(size)}")
    return size


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


@translates("nn.SpatialReplicationPadding")
def translate_spatial_replication_padding(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.ReplicationPad2d(_pads(ctx))


def _nonzero(ctx: TranslationContext, name: str, default: int | None = None) -> int:
    """A 1-based (or, counting from the end, negative) dimension or index: any integer but 0."""
    value = ctx.int(name, default)
    if value == 0:
        raise ctx.error(f"expected a 1-based (or negative) value in field '{name}' of {ctx.typename}, found 0")
    return value


@translates("nn.Narrow")
def translate_narrow(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Narrow(_nonzero(ctx, "dimension"), _nonzero(ctx, "index"), ctx.int("length", 1))


@translates("nn.Select")
def translate_select(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Select(_nonzero(ctx, "dimension"), _nonzero(ctx, "index"))


@translates("nn.Squeeze")
def translate_squeeze(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Squeeze(ctx.optional_int("dim", minimum=1), ctx.optional_int("numInputDims", minimum=0))


@translates("nn.Unsqueeze")
def translate_unsqueeze(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Unsqueeze(ctx.int("pos", minimum=1), ctx.optional_int("numInputDims", minimum=0))


@translates("nn.Transpose")
def translate_transpose(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """``permutations`` is the constructor's list of ``{a, b}`` pairs of 1-based dimensions."""
    permutations = ctx.value("permutations")
    pairs = permutations.as_list() if isinstance(permutations, t7.T7Table) and permutations.is_list() else None
    if pairs is None:
        raise ctx.error(f"expected a list of dimension pairs in field 'permutations', found {describe(permutations)}")
    swaps = []
    for pair in pairs:
        items = pair.as_list() if isinstance(pair, t7.T7Table) and pair.is_list() else []
        if len(items) != 2 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in items):
            raise ctx.error(f"expected pairs of dimensions >= 1 in field 'permutations', found {describe(pair)}")
        swaps.append(tuple(items))
    return lua_nn.Transpose(tuple(swaps), ctx.optional_int("numInputDims", minimum=0))


@translates("nn.Replicate")
def translate_replicate(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Replicate(
        ctx.int("nfeatures", minimum=0), ctx.int("dim", 1, minimum=1), ctx.optional_int("ndim", minimum=0)
    )


@translates("nn.Contiguous")
def translate_contiguous(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Contiguous()


#: Torch7 tensor types -> the torch dtype (by name) of their elements.
TENSOR_DTYPES = {
    "torch.HalfTensor": "float16",
    "torch.FloatTensor": "float32",
    "torch.DoubleTensor": "float64",
    "torch.CudaHalfTensor": "float16",
    "torch.CudaTensor": "float32",
    "torch.CudaDoubleTensor": "float64",
    "torch.ByteTensor": "uint8",
    "torch.CharTensor": "int8",
    "torch.ShortTensor": "int16",
    "torch.IntTensor": "int32",
    "torch.LongTensor": "int64",
    "torch.CudaLongTensor": "int64",
}


@translates("nn.Copy")
def translate_copy(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """The output type is that of the saved (empty) ``output`` tensor; the constructor's ``outtype`` itself is not
    saved. ``load_module(dtype=...)`` changes a floating output type too, as Lua's ``model:type(...)`` does,
    unless the module was built with ``dontCast``."""
    output = ctx.value("output")
    dtype = TENSOR_DTYPES.get(output.typename) if isinstance(output, t7.T7Tensor) else None
    if dtype is None:
        raise ctx.error(f"expected field 'output' of nn.Copy to be a tensor of a Torch7 type, found {describe(output)}")
    if ctx.dtype is not None and dtype.startswith("float") and not ctx.truthy("dontCast"):
        dtype = str(ctx.dtype).removeprefix("torch.")
    return lua_nn.Copy(dtype)
