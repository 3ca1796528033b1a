"""Translators of Lua containers: Sequential, Concat, DepthConcat, ConcatTable, ParallelTable, Parallel,
MapTable, Bottle, and cunn's DataParallelTable.

A container's ``modules[i]`` becomes its child ``str(i - 1)``.
"""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.Sequential")
def translate_sequential(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.Sequential(*ctx.children())


@translates("nn.Concat")
def translate_concat(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Concat(*ctx.children(), dimension=ctx.int("dimension", minimum=1))


@translates("nn.DepthConcat")
def translate_depth_concat(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.DepthConcat(*ctx.children(), dimension=ctx.int("dimension", minimum=1))


@translates("nn.ConcatTable")
def translate_concat_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.ConcatTable(*ctx.children())


@translates("nn.ParallelTable")
def translate_parallel_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.ParallelTable(*ctx.children())


@translates("nn.Parallel")
def translate_parallel(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Parallel(
        *ctx.children(),
        input_dimension=ctx.int("inputDimension", minimum=1),
        output_dimension=ctx.int("outputDimension", minimum=1),
    )


@translates("nn.MapTable")
def translate_map_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """The clones in ``modules`` (only the first after ``clearState``); ``module`` is that first one."""
    children = ctx.children()
    if not children:
        raise ctx.error("expected nn.MapTable to hold its module in 'modules', found an empty list")
    return lua_nn.MapTable(*children)


@translates("nn.Bottle")
def translate_bottle(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    children = ctx.children()
    if len(children) != 1:
        raise ctx.error(f"expected nn.Bottle to decorate one module, found {len(children)}")
    n_input_dim = ctx.int("nInputDim", 2, minimum=1)
    return lua_nn.Bottle(children[0], n_input_dim, ctx.int("nOutputDim", n_input_dim, minimum=1))


@translates("nn.DataParallelTable")
def translate_data_parallel_table(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """cunn's multi-GPU wrapper (class ``nn.DataParallelTable``) becomes the model it replicates: its first
    module, which takes the wrapper's place in the PyTorch tree (and its name)."""
    lua_children = ctx.lua_children()
    if not lua_children:
        raise ctx.error("expected the model inside nn.DataParallelTable, found an empty 'modules' list")
    return ctx.inline(lua_children[0][0], "0")
