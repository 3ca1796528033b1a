"""Translators of Lua element-wise arithmetic: MulConstant, AddConstant, Power, Square, Sqrt, Abs, Exp, Log,
the learned Mul, Add, CMul, CAdd, and the gradient-only GradientReversal and L1Penalty."""

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


@translates("nn.AddConstant")
def translate_add_constant(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """A number constant (nn also allows a 1-D tensor added to each row, which is not supported here)."""
    return lua_nn.AddConstant(ctx.number("constant_scalar"), ctx.truthy("inplace"))


@translates("nn.Abs")
def translate_abs(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Abs()


@translates("nn.Exp")
def translate_exp(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Exp()


@translates("nn.Log")
def translate_log(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.Log()


@translates("nn.Mul")
def translate_mul(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    module = lua_nn.Mul()
    ctx.assign(module, "weight", ctx.tensor("weight", shape=(1,)))
    return module


@translates("nn.Add")
def translate_add(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    bias = ctx.tensor("bias")
    if not bias.numel:
        raise ctx.error(f"expected a non-empty bias in nn.Add, found size {bias.shape}")
    module = lua_nn.Add(bias.shape, ctx.truthy("scalar"))
    ctx.assign(module, "bias", bias)
    return module


@translates("nn.CMul", "nn.CAdd")
def translate_cmul_cadd(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """A learned tensor of the constructor's size: CMul's ``weight`` multiplies, CAdd's ``bias`` adds."""
    multiply = ctx.typename.endswith(".CMul")
    name = "weight" if multiply else "bias"
    source = ctx.tensor(name)
    module = lua_nn.CMul(source.shape) if multiply else lua_nn.CAdd(source.shape)
    ctx.assign(module, name, source)
    return module


@translates("nn.GradientReversal")
def translate_gradient_reversal(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.GradientReversal(ctx.number("lambda", 1.0))


@translates("nn.L1Penalty")
def translate_l1_penalty(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Lua tests ``sizeAverage == true`` and ``provideOutput == true``: only the boolean true counts."""
    return lua_nn.L1Penalty(
        ctx.number("l1weight"), ctx.value("sizeAverage") is True, ctx.value("provideOutput") is True
    )
