"""Translators of Lua reductions along one dimension: Sum, Mean, Max, Min."""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


def _dimension(ctx: TranslationContext) -> int:
    """The 1-based (or, from the end, negative) ``dimension``; 1 when absent, as the constructors default."""
    dimension = ctx.int("dimension", 1)
    if dimension == 0:
        raise ctx.error(f"expected a 1-based (or negative) dimension in field 'dimension' of {ctx.typename}, found 0")
    return dimension


@translates("nn.Sum", "nn.Mean")
def translate_sum(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Mean is a Sum with ``sizeAverage`` (files older than that field, from when Mean had its own code, lack it
    and average); ``squeeze`` is off only when it is ``false`` (Lua tests ``squeeze == nil or squeeze``)."""
    size_average = ctx.truthy("sizeAverage") if ctx.has("sizeAverage") else ctx.typename.endswith(".Mean")
    n_input_dims = ctx.optional_int("nInputDims", minimum=0)
    return lua_nn.Reduction("sum", _dimension(ctx), n_input_dims, size_average, ctx.value("squeeze") is not False)


@translates("nn.Max", "nn.Min")
def translate_max_min(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    operation = "max" if ctx.typename.endswith(".Max") else "min"
    return lua_nn.Reduction(operation, _dimension(ctx), ctx.optional_int("nInputDims", minimum=0))
