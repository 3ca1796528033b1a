"""Translators of Lua normalisation layers: (Spatial/Volumetric)BatchNormalization, SpatialCrossMapLRN, Normalize."""

from __future__ import annotations

import torch

from converters import lua_nn, t7
from converters.translate.context import TranslationContext
from converters.translate.registry import translates

#: Input dimensions of a batch, per BatchNormalization class (Lua's class field ``nDim``, not saved in files).
BATCH_NORM_DIMS = {"BatchNormalization": 2, "SpatialBatchNormalization": 4, "VolumetricBatchNormalization": 5}


@translates("nn.BatchNormalization", "nn.SpatialBatchNormalization", "nn.VolumetricBatchNormalization")
def translate_batch_normalization(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """BatchNorm with nn's semantics (see ``lua_nn.BatchNormalization``).

    Class version 1 files stored ``running_std = 1/sqrt(var + eps)``; nn's
    ``read`` turns it into ``running_var = running_std^-2 - eps``, and so does
    this. The mode is Lua's truthiness of ``train``: nn computes
    ``self.train and (batch > 1)`` before handing it to C.
    """
    n_dim = BATCH_NORM_DIMS[ctx.typename.partition(".")[2]]
    mean = ctx.tensor("running_mean", ndim=(1,))
    (channels,) = mean.shape
    eps = ctx.number("eps", 1e-5)
    legacy = lua_module.version < 2 and ctx.has("running_std")
    if legacy:
        variance = ctx.tensor("running_std", shape=(channels,)).map(
            lambda std: std**-2.0 - eps, "running_std^-2 - eps, as nn reads class version 1"
        )
    elif isinstance(ctx.value("running_var"), t7.T7Tensor):
        variance = ctx.tensor("running_var", shape=(channels,))
    else:
        raise ctx.error("expected BatchNorm field 'running_var' (or 'running_std' in class version < 2), found neither")
    affine = ctx.has("weight") or ctx.has("bias")
    module = lua_nn.BatchNormalization(channels, eps, ctx.number("momentum", 0.1), affine, n_dim)
    ctx.assign(module, "running_mean", mean)
    ctx.assign(module, "running_var", variance)
    if affine:
        ctx.assign(module, "weight", ctx.tensor("weight", shape=(channels,)))
        ctx.assign(module, "bias", ctx.tensor("bias", shape=(channels,)))
    return module


@translates("nn.SpatialCrossMapLRN")
def translate_spatial_cross_map_lrn(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    return lua_nn.SpatialCrossMapLRN(
        ctx.int("size", minimum=1), ctx.number("alpha", 1e-4), ctx.number("beta", 0.75), ctx.number("k", 1.0)
    )


@translates("nn.Normalize")
def translate_normalize(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    p = ctx.number("p", finite=False)
    if p <= 0:
        raise ctx.error(f"expected a positive p-norm in field 'p', found {p}")
    return lua_nn.Normalize(p, ctx.number("eps", 1e-10))
