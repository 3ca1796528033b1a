"""Translators of Lua containers: Sequential, Concat, DepthConcat, ConcatTable, ParallelTable, Parallel.

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
