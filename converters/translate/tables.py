"""Translators of Lua modules over tables of tensors: CAddTable, JoinTable."""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.CAddTable")
def translate_cadd_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.CAddTable(inplace=ctx.truthy("inplace"))


@translates("nn.JoinTable")
def translate_join_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    dimension = ctx.int("dimension")
    if dimension == 0:
        raise ctx.error("expected a 1-based (or negative) dimension in field 'dimension' of nn.JoinTable, found 0")
    return lua_nn.JoinTable(dimension, ctx.optional_int("nInputDims", minimum=0))
