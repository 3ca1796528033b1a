"""Translators of Lua layers with weights that act on feature vectors: Bilinear, Euclidean, LookupTable."""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.Bilinear")
def translate_bilinear(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Weight (outputSize, inputSize1, inputSize2); bias absent when built with ``bias = false``."""
    weight = ctx.tensor("weight", ndim=(3,))
    out_size, in1, in2 = weight.shape
    module = lua_nn.Bilinear(in1, in2, out_size, bias=ctx.has("bias"))
    ctx.assign(module, "weight", weight)
    if ctx.has("bias"):
        ctx.assign(module, "bias", ctx.tensor("bias", shape=(out_size,)))
    return module


@translates("nn.Euclidean")
def translate_euclidean(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Weight (inputSize, outputSize): one column per output (transposed with respect to nn.Linear's)."""
    weight = ctx.tensor("weight", ndim=(2,))
    module = lua_nn.Euclidean(*weight.shape)
    ctx.assign(module, "weight", weight)
    return module


@translates("nn.LookupTable")
def translate_lookup_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Weight (nIndex, nOutput); ``maxNorm`` (renormalising looked-up rows in forward) and ``normType`` when set."""
    weight = ctx.tensor("weight", ndim=(2,))
    max_norm = ctx.number("maxNorm") if ctx.has("maxNorm") else None
    if max_norm is not None and max_norm <= 0:
        raise ctx.error(f"expected a positive maxNorm, found {max_norm}")
    module = lua_nn.LookupTable(
        *weight.shape, ctx.int("paddingValue", 0), max_norm, ctx.number("normType", 2.0) if max_norm else 2.0
    )
    ctx.assign(module, "weight", weight)
    return module
