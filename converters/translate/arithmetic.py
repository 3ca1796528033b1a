"""Translators of Lua element-wise arithmetic: MulConstant, Power, Square, Sqrt."""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.MulConstant")
def translate_mul_constant(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.MulConstant(ctx.number("constant_scalar"), ctx.truthy("inplace"))


@translates("nn.Power")
def translate_power(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Power(ctx.number("pow"))


@translates("nn.Square")
def translate_square(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Square()


@translates("nn.Sqrt")
def translate_sqrt(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Sqrt()
