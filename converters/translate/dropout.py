"""Translators of Lua ``nn.Dropout`` (v1 and v2 scaling) and ``nn.SpatialDropout``."""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.lua_layers import dropout_fields
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.Dropout")
def translate_dropout(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """A file without ``v2`` predates it and has v1 scaling, as Lua's ``not self.v2`` reads it."""
    p, v2 = dropout_fields(lua_module, ctx.path)
    return lua_nn.Dropout(p, v2, ctx.truthy("inplace"), ctx.truthy("stochastic_inference"))


@translates("nn.SpatialDropout")
def translate_spatial_dropout(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Whole feature maps dropped while training; evaluation scales by ``1 - p`` (SpatialDropout has no v2)."""
    p, _ = dropout_fields(lua_module, ctx.path)
    return lua_nn.SpatialDropout(p, ctx.truthy("stochastic_inference"))
