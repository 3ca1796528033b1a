"""Translators of Lua modules over tables of tensors: CAdd/CSub/CMul/CDiv/CMax/CMinTable, JoinTable,
SplitTable, SelectTable, NarrowTable, FlattenTable, MM."""

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


@translates("nn.CSubTable")
def translate_csub_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.CSubTable()


@translates("nn.CMulTable")
def translate_cmul_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.CMulTable()


@translates("nn.CDivTable")
def translate_cdiv_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.CDivTable()


@translates("nn.CMaxTable")
def translate_cmax_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.CMaxTable()


@translates("nn.CMinTable")
def translate_cmin_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.CMinTable()


@translates("nn.SplitTable")
def translate_split_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    dimension = ctx.int("dimension")
    if dimension == 0:
        raise ctx.error("expected a 1-based (or negative) dimension in field 'dimension' of nn.SplitTable, found 0")
    return lua_nn.SplitTable(dimension, ctx.optional_int("nInputDims", minimum=0))


@translates("nn.SelectTable")
def translate_select_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """A number index (nn also accepts a key of a non-list table, which a PyTorch list input cannot have)."""
    index = ctx.int("index")
    if index == 0:
        raise ctx.error("expected a 1-based (or negative) index in field 'index' of nn.SelectTable, found 0")
    return lua_nn.SelectTable(index)


@translates("nn.NarrowTable")
def translate_narrow_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.NarrowTable(ctx.int("offset", minimum=1), ctx.int("length", 1, minimum=0))


@translates("nn.FlattenTable")
def translate_flatten_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.FlattenTable()


@translates("nn.MM")
def translate_mm(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.MM(ctx.truthy("transA"), ctx.truthy("transB"))
