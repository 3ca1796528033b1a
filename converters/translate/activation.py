"""Translators of Lua activations: ReLU, Threshold, PReLU, Tanh, Sigmoid, SoftMax, LogSoftMax."""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.ReLU", "nn.Threshold")
def translate_threshold(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """``y = x > threshold ? x : val`` (ReLU is Threshold(0, 0)); ``inplace`` reaches C through the FFI."""
    default = 0 if ctx.typename.endswith(".ReLU") else 1e-6
    threshold, value = ctx.number("threshold", default), ctx.number("val", 0)
    inplace = ctx.ffi_boolean("inplace")
    if threshold == 0 and value == 0:
        return torch.nn.ReLU(inplace=inplace)
    return torch.nn.Threshold(threshold, value, inplace=inplace)


@translates("nn.PReLU")
def translate_prelu(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """``nOutputPlane = 0`` shares one weight; otherwise one per channel (dim 2 of a batch)."""
    planes = ctx.int("nOutputPlane", 0, minimum=0)
    module = torch.nn.PReLU(max(planes, 1))
    ctx.assign(module, "weight", ctx.tensor("weight", shape=(max(planes, 1),)))
    return module


@translates("nn.Tanh")
def translate_tanh(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.Tanh()


@translates("nn.Sigmoid")
def translate_sigmoid(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.Sigmoid()


@translates("nn.SoftMax")
def translate_softmax(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.SoftMax()


@translates("nn.LogSoftMax")
def translate_log_softmax(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.LogSoftMax()
