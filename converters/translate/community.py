"""Translators of classes from packages other than nn: dpnn's Inception, fast-neural-style's
InstanceNormalization, ShaveImage and TotalVariation, and liuzhuang13/DenseNet's DenseConnectLayerCustom."""

from __future__ import annotations

import torch

from converters import lua_nn
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.Inception")
def translate_inception(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """dpnn's Inception is a Decorator: ``modules[1]`` (its DepthConcat) does the work; the other fields
    (``pool``, ``transfer``, ...) are the constructor's parts, shared with that tree."""
    children = ctx.children()
    if len(children) != 1:
        raise ctx.error(f"expected nn.Inception to decorate one module (its DepthConcat), found {len(children)}")
    return lua_nn.Inception(children[0])


@translates("nn.InstanceNormalization")
def translate_instance_normalization(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """fast-neural-style's layer normalises each image over its own spatial statistics, in training and in
    evaluation: that is what its models were trained and released with (2016). It runs an inner
    SpatialBatchNormalization (field ``bn``) in training mode on the batch viewed as one image; nn since 919eecae
    (2017-08) uses the running statistics for a batch of one there, which turns the layer into a fixed affine map.
    The real instance norm is what this gives; ``bn`` and its statistics are ignored."""
    channels = ctx.int("nOutput", minimum=1)
    affine = ctx.has("weight") or ctx.has("bias")
    module = torch.nn.InstanceNorm2d(channels, eps=ctx.number("eps", 1e-5), affine=affine)
    if affine:
        ctx.assign(module, "weight", ctx.tensor("weight", shape=(channels,)))
        ctx.assign(module, "bias", ctx.tensor("bias", shape=(channels,)))
    return module


@translates("nn.ShaveImage")
def translate_shave_image(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """Crops ``size`` pixels from every border of an (N, C, H, W) batch: a negative zero padding."""
    size = ctx.int("size", minimum=0)
    return torch.nn.ZeroPad2d(-size)


@translates("nn.TotalVariation")
def translate_total_variation(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """The identity in forward; its total-variation gradient only matters while training the style network."""
    ctx.note("nn.TotalVariation: the identity; its total-variation gradient (a training loss) is not reproduced")
    return torch.nn.Identity()


@translates("nn.DenseConnectLayerCustom")
def translate_dense_connect_layer_custom(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    """The layer computes with its ``net1`` and ``net2`` fields (its ``modules`` list holds the same layers, but
    after ``deepCopy`` those are other Lua objects sharing the tensors); the children are named so."""
    return lua_nn.DenseConnectLayerCustom(ctx.child(ctx.value("net1"), "net1"), ctx.child(ctx.value("net2"), "net2"))
