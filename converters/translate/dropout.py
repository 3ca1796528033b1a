"""Translators of Lua ``nn.Dropout`` (v1 and v2 scaling) and ``nn.SpatialDropout``."""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.Dropout")
def translate_dropout(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """A file without ``v2`` predates it and has v1 scaling, as Lua's ``not self.v2`` reads it."""
    return lua_nn.Dropout(
        _probability(ctx), ctx.truthy("v2"), ctx.truthy("inplace"), ctx.truthy("stochastic_inference")
    )


@translates("nn.SpatialDropout")
def translate_spatial_dropout(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Whole feature maps dropped while training; evaluation scales by ``1 - p`` (SpatialDropout has no v2)."""
    return lua_nn.SpatialDropout(_probability(ctx), ctx.truthy("stochastic_inference"))


def _probability(ctx: TranslationContext) -> float:
    p = ctx.number("p", 0.5)
    if not 0 <= p < 1:
        raise ctx.error(f"expected a dropout probability 0 <= p < 1, found {p}")
    return p
