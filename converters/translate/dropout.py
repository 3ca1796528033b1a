"""Translator of Lua ``nn.Dropout`` (v1 and v2 scaling)."""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.Dropout")
def translate_dropout(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """A file without ``v2`` predates it and has v1 scaling, as Lua's ``not self.v2`` reads it."""
    p = ctx.number("p", 0.5)
    if not 0 <= p < 1:
        raise ctx.error(f"expected a dropout probability 0 <= p < 1, found {p}")
    return lua_nn.Dropout(p, ctx.truthy("v2"), ctx.truthy("inplace"), ctx.truthy("stochastic_inference"))
