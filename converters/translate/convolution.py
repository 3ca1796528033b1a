"""Translators of Lua layers with weights: Spatial(Dilated)Convolution(MM), SpatialFullConvolution,
VolumetricConvolution, TemporalConvolution (and cudnn's, which differs), Linear.

Spatial constructors put W before H (``kW, kH, dW, dH, padW, padH``); the
weights are stored (..., kH, kW) as in PyTorch, except SpatialConvolutionMM's
(and some old SpatialConvolution's) 2-D ``(nOutputPlane, nInputPlane*kH*kW)``
and TemporalConvolution's channels-last 2-D ``(outputFrameSize, kW*inputFrameSize)``.
"""

from __future__ import annotations

import math

import torch

from converters import lua_nn
from converters.lua_layers import convolution_fields
from converters.translate.context import TranslationContext
from converters.translate.registry import translates
from converters.translate.sources import TensorSource


def _kernel_weight(ctx: TranslationContext, shape: tuple[int, ...], fields: str) -> TensorSource:
    """The ``weight`` of a convolution as ``shape`` (nOut, nIn, *kernel), also from the 2-D (nOut, nIn*prod(kernel))
    layout of the MM variants; ``fields`` names the fields that give ``shape``, for the error message."""
    flat = (shape[0], math.prod(shape[1:]))
    weight = ctx.tensor("weight", ndim=(2, len(shape)))
    if weight.shape not in (shape, flat):
        raise ctx.error(
            f"expected a weight of size {shape} (or {flat}, as the MM variants store it) for {fields}, "
            f"found {weight.shape}"
        )
    return weight.reshape(shape)


def _bias(ctx: TranslationContext, module: torch.nn.Module, size: int) -> None:
    bias = ctx.optional_tensor("bias", shape=(size,))
    if bias is not None:
        ctx.assign(module, "bias", bias)


@translates("nn.SpatialConvolution", "nn.SpatialConvolutionMM", "nn.SpatialDilatedConvolution")
def translate_spatial_convolution(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Also SpatialDilatedConvolution (a SpatialConvolution with ``dilationW``/``dilationH``)."""
    fields = convolution_fields(lua_module, ctx.path)
    n_in, n_out, groups = fields.n_in, fields.n_out, fields.groups
    if n_in % groups or n_out % groups:
        raise ctx.error(f"expected nInputPlane {n_in} and nOutputPlane {n_out} to be multiples of groups={groups}")
    (k_h, k_w), named = fields.kernel, f"nOutputPlane={n_out} nInputPlane={n_in} groups={groups}"
    weight = _kernel_weight(ctx, (n_out, n_in // groups, k_h, k_w), f"{named} kW={k_w} kH={k_h}")
    module = torch.nn.Conv2d(
        n_in, n_out, fields.kernel, fields.stride, fields.padding, fields.dilation, groups, bias=ctx.has("bias")
    )
    ctx.assign(module, "weight", weight)
    _bias(ctx, module, n_out)
    return module


@translates("nn.VolumetricConvolution")
def translate_volumetric_convolution(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Constructor (nIn, nOut, kT, kW, kH, dT, dW, dH, padT, padW, padH); weight (nOut, nIn, kT, kH, kW), or 2-D."""
    n_in, n_out = ctx.int("nInputPlane", minimum=1), ctx.int("nOutputPlane", minimum=1)
    kernel = tuple(ctx.int(f"k{axis}", minimum=1) for axis in "THW")
    stride = tuple(ctx.int(f"d{axis}", 1, minimum=1) for axis in "THW")
    padding = tuple(ctx.int(f"pad{axis}", 0, minimum=0) for axis in "THW")
    module = torch.nn.Conv3d(n_in, n_out, kernel, stride, padding, bias=ctx.has("bias"))
    named = f"nOutputPlane={n_out} nInputPlane={n_in} kT={kernel[0]} kW={kernel[2]} kH={kernel[1]}"
    ctx.assign(module, "weight", _kernel_weight(ctx, (n_out, n_in, *kernel), named))
    _bias(ctx, module, n_out)
    return module


@translates("nn.TemporalConvolution")
def translate_temporal_convolution(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Constructor (inputFrameSize, outputFrameSize, kW, dW) over channels-last (N, T, inputFrameSize)."""
    n_in, n_out = ctx.int("inputFrameSize", minimum=1), ctx.int("outputFrameSize", minimum=1)
    return _temporal(ctx, n_in, n_out, ctx.int("kW", minimum=1), ctx.int("dW", 1, minimum=1), 0)


@translates("cudnn.TemporalConvolution")
def translate_cudnn_temporal_convolution(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """cudnn's is a SpatialConvolution over (N, 1, T, inputFrameSize): its kernel length is ``kH``, its stride
    ``dH`` and its time padding ``padH`` (its ``kW`` is ``inputFrameSize``); the weight is nn's 2-D layout."""
    n_in, n_out = ctx.int("inputFrameSize", minimum=1), ctx.int("outputFrameSize", minimum=1)
    kernel, stride = ctx.int("kH", minimum=1), ctx.int("dH", 1, minimum=1)
    return _temporal(ctx, n_in, n_out, kernel, stride, ctx.int("padH", 0, minimum=0))


def _temporal(ctx: TranslationContext, n_in: int, n_out: int, kernel: int, stride: int, pad: int) -> torch.nn.Module:
    module = lua_nn.TemporalConvolution(n_in, n_out, kernel, stride, pad)
    ctx.assign(module, "weight", ctx.tensor("weight", shape=(n_out, kernel * n_in)))
    ctx.assign(module, "bias", ctx.tensor("bias", shape=(n_out,)))
    return module


@translates("nn.SpatialFullConvolution")
def translate_spatial_full_convolution(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    n_in, n_out = ctx.int("nInputPlane", minimum=1), ctx.int("nOutputPlane", minimum=1)
    kernel = (ctx.int("kH", minimum=1), ctx.int("kW", minimum=1))
    stride = (ctx.int("dH", 1, minimum=1), ctx.int("dW", 1, minimum=1))
    padding = (ctx.int("padH", 0, minimum=0), ctx.int("padW", 0, minimum=0))
    adjustment = (ctx.int("adjH", 0, minimum=0), ctx.int("adjW", 0, minimum=0))
    if adjustment[0] >= stride[0] or adjustment[1] >= stride[1]:
        raise ctx.error(f"expected adjW/adjH smaller than dW/dH, found adj {adjustment[::-1]} and d {stride[::-1]}")
    weight = ctx.tensor("weight", shape=(n_in, n_out, *kernel))
    module = torch.nn.ConvTranspose2d(
        n_in, n_out, kernel, stride, padding, output_padding=adjustment, bias=ctx.has("bias")
    )
    ctx.assign(module, "weight", weight)
    _bias(ctx, module, n_out)
    return module


@translates("nn.Linear")
def translate_linear(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    weight = ctx.tensor("weight", ndim=(2,))
    out_features, in_features = weight.shape
    if not out_features or not in_features:
        raise ctx.error(f"expected a weight with rows and columns, found size {weight.shape}")
    module = torch.nn.Linear(in_features, out_features, bias=ctx.has("bias"))
    ctx.assign(module, "weight", weight)
    _bias(ctx, module, out_features)
    return module
