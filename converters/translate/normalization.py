"""Translators of Lua normalisation layers: (Spatial/Volumetric)BatchNormalization and cudnn's, SpatialCrossMapLRN
and cudnn's, Normalize."""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.lua_layers import batchnorm_variance_field, running_var_from_std
from converters.translate.context import TranslationContext
from converters.translate.registry import translates

#: Input dimensions of a batch, per BatchNormalization class (Lua's class field ``nDim``, not saved in files).
BATCH_NORM_DIMS = {"BatchNormalization": 2, "SpatialBatchNormalization": 4, "VolumetricBatchNormalization": 5}


@translates(
    "nn.BatchNormalization",
    "nn.SpatialBatchNormalization",
    "nn.VolumetricBatchNormalization",
    "cudnn.BatchNormalization",
    "cudnn.SpatialBatchNormalization",
    "cudnn.VolumetricBatchNormalization",
)
def translate_batch_normalization(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """BatchNorm with nn's semantics (see ``lua_nn.BatchNormalization``), and cudnn's, which differ in training
    mode on a batch of one (cuDNN uses its statistics; nn since 919eecae uses the running ones).

    Class version 1 files stored ``running_std = 1/sqrt(var + eps)``; nn's
    ``read`` turns it into ``running_var = running_std^-2 - eps``, and so does
    this. The mode is Lua's truthiness of ``train``: nn computes
    ``self.train and (batch > 1)`` before handing it to C.
    """
    n_dim = BATCH_NORM_DIMS[ctx.typename.partition(".")[2]]
    mean = ctx.tensor("running_mean", ndim=(1,))
    (channels,) = mean.shape
    eps = ctx.number("eps", 1e-5)
    variance_field, legacy = batchnorm_variance_field(lua_module, ctx.path)
    variance = ctx.tensor(variance_field, shape=(channels,))
    if legacy:
        variance = variance.map(lambda std: running_var_from_std(std, eps), "running_std^-2 - eps, as nn reads it")
    affine = ctx.has("weight") or ctx.has("bias")
    # cudnn.*BatchNormalization runs cuDNN's training forward whenever self.train: batch statistics even for one.
    batch_statistics_for_one = ctx.typename.startswith("cudnn.")
    module = lua_nn.BatchNormalization(
        channels, eps, ctx.number("momentum", 0.1), affine, n_dim, batch_statistics_for_one
    )
    ctx.assign(module, "running_mean", mean)
    ctx.assign(module, "running_var", variance)
    if affine:
        ctx.assign(module, "weight", ctx.tensor("weight", shape=(channels,)))
        ctx.assign(module, "bias", ctx.tensor("bias", shape=(channels,)))
    return module


@translates("nn.SpatialCrossMapLRN", "cudnn.SpatialCrossMapLRN")
def translate_spatial_cross_map_lrn(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """cuDNN's window looks ``floor((size-1)/2)`` channels back, nn's ``floor(size/2)`` (they differ for even
    sizes); old cudnn files call ``k`` ``K``."""
    size = ctx.int("size", minimum=1)
    k = ctx.number("K") if ctx.typename.startswith("cudnn.") and ctx.has("K") else ctx.number("k", 1.0)
    look_behind = (size - 1) // 2 if ctx.typename.startswith("cudnn.") else size // 2
    return lua_nn.SpatialCrossMapLRN(size, ctx.number("alpha", 1e-4), ctx.number("beta", 0.75), k, look_behind)


@translates("nn.Normalize")
def translate_normalize(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    p = ctx.number("p", finite=False)
    if p <= 0:
        raise ctx.error(f"expected a positive p-norm in field 'p', found {p}")
    return lua_nn.Normalize(p, ctx.number("eps", 1e-10))
