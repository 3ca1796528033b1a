"""Translators of Lua activations: ReLU, Threshold, PReLU, LeakyReLU, RReLU, ELU, ReLU6, HardTanh/Clamp,
SoftPlus, SoftSign, LogSigmoid, Hard/SoftShrink, Tanh, Sigmoid, SoftMax, LogSoftMax, SoftMin, SpatialSoftMax,
and cudnn's softmaxes (whose modes differ from nn's) and ClippedReLU.

THNN receives ``inplace`` (and RReLU's ``train``) through the LuaJIT FFI,
where ``0`` is false.
"""

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


@translates("nn.SoftMin")
def translate_softmin(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.SoftMin()


@translates("nn.SpatialSoftMax")
def translate_spatial_softmax(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """THNN's SoftMax, which already normalises images over their channels at each pixel."""
    return lua_nn.SoftMax()


#: cuDNN softmax mode of each cudnn.torch class: SoftMax and LogSoftMax force instance mode in every forward;
#: the Spatial classes keep a saved ``mode`` (channel mode, nn's semantics, when there is none).
CUDNN_SOFTMAX_MODES = {
    "cudnn.SoftMax": "CUDNN_SOFTMAX_MODE_INSTANCE",
    "cudnn.LogSoftMax": "CUDNN_SOFTMAX_MODE_INSTANCE",
    "cudnn.SpatialSoftMax": None,
    "cudnn.SpatialLogSoftMax": None,
}


@translates(*CUDNN_SOFTMAX_MODES)
def translate_cudnn_softmax(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """cudnn.SoftMax normalises each sample over all its values (C*H*W of an image), not over the channels as
    nn.SoftMax does; the Log classes (or ``algorithm = CUDNN_SOFTMAX_LOG``) give log-probabilities."""
    mode = CUDNN_SOFTMAX_MODES[ctx.typename] or ctx.value("mode") or "CUDNN_SOFTMAX_MODE_CHANNEL"
    log = "LogSoftMax" in ctx.typename or ctx.value("algorithm") == "CUDNN_SOFTMAX_LOG"
    if mode == "CUDNN_SOFTMAX_MODE_INSTANCE":
        return lua_nn.InstanceSoftMax(log)
    if mode == "CUDNN_SOFTMAX_MODE_CHANNEL":
        return lua_nn.LogSoftMax() if log else lua_nn.SoftMax()
    raise ctx.error(f"expected a cuDNN softmax mode in field 'mode', found {mode!r}")


@translates("nn.LeakyReLU")
def translate_leaky_relu(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    negval = ctx.number("negval", 0.01)
    return torch.nn.LeakyReLU(negval, inplace=ctx.ffi_boolean("inplace") and negval >= 0)


@translates("nn.RReLU")
def translate_rrelu(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Random negative slopes in ``[lower, upper]`` while training, ``(lower + upper) / 2`` in evaluation; the
    mode is ``train`` as the FFI hands it to THNN."""
    lower, upper = ctx.number("lower", 1 / 8), ctx.number("upper", 1 / 3)
    if not 0 <= lower <= upper:
        raise ctx.error(f"expected 0 <= lower <= upper in nn.RReLU, found lower {lower} and upper {upper}")
    ctx.training = ctx.ffi_boolean("train")
    return torch.nn.RReLU(lower, upper, inplace=ctx.ffi_boolean("inplace"))


@translates("nn.ELU")
def translate_elu(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.ELU(ctx.number("alpha", 1.0), inplace=ctx.ffi_boolean("inplace"))


@translates("nn.ReLU6")
def translate_relu6(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.ReLU6(inplace=ctx.ffi_boolean("inplace"))


@translates("nn.HardTanh", "nn.Clamp")
def translate_hard_tanh(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """``min(max(x, min_val), max_val)`` (Clamp is a HardTanh with other defaults in its constructor only)."""
    low, high = ctx.number("min_val", -1.0), ctx.number("max_val", 1.0)
    if not low < high:
        raise ctx.error(f"expected min_val < max_val, found {low} and {high}")
    return torch.nn.Hardtanh(low, high, inplace=ctx.ffi_boolean("inplace"))


@translates("cudnn.ClippedReLU")
def translate_cudnn_clipped_relu(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """``min(max(x, 0), ceiling)``."""
    ceiling = ctx.number("ceiling")
    if ceiling <= 0:
        raise ctx.error(f"expected a positive ceiling in cudnn.ClippedReLU, found {ceiling}")
    return torch.nn.Hardtanh(0.0, ceiling, inplace=ctx.truthy("inplace"))


@translates("nn.SoftPlus")
def translate_softplus(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``."""
    return torch.nn.Softplus(ctx.number("beta", 1.0), ctx.number("threshold", 20.0))


@translates("nn.SoftSign")
def translate_softsign(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.Softsign()


@translates("nn.LogSigmoid")
def translate_log_sigmoid(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.LogSigmoid()


@translates("nn.HardShrink")
def translate_hard_shrink(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return torch.nn.Hardshrink(ctx.number("lambda", 0.5))


@translates("nn.SoftShrink")
def translate_soft_shrink(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    lambd = ctx.number("lambda", 0.5)
    if lambd < 0:
        raise ctx.error(f"expected lambda >= 0 in nn.SoftShrink, found {lambd}")
    return torch.nn.Softshrink(lambd)
