"""Translators of classes from packages other than nn: dpnn's Inception, fast-neural-style's
InstanceNormalization, ShaveImage and TotalVariation, and liuzhuang13/DenseNet's DenseConnectLayerCustom."""

from __future__ import annotations

import torch

from converters import lua_nn, t7
from converters.lua_modules import child_modules, describe
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
    """The layer computes with its ``net1`` and ``net2`` fields; its ``modules`` list holds the same layers (after
    ``deepCopy`` other Lua objects sharing the tensors), so each net must have its mirror's classes. A file without
    the fields computes with ``modules[1]`` and ``modules[2]``. The children are named ``net1`` and ``net2``."""
    parts = ctx.lua_children()
    if len(parts) != 2 or any(part.typename != "nn.Sequential" for part, _ in parts):
        raise ctx.error("expected nn.DenseConnectLayerCustom with modules = {nn.Sequential, nn.Sequential}")
    nets = []
    for index, name in enumerate(("net1", "net2")):
        net = ctx.value(name)
        if net is None:
            nets.append(ctx.child(parts[index][0], name, lua_name=str(index)))
            continue
        if not isinstance(net, t7.T7Object) or net.typename != "nn.Sequential":
            raise ctx.error(f"expected '{name}' to be an nn.Sequential, found {describe(net)}")
        used = _child_classes(net, f"{ctx.path}.{name}")
        mirror = _child_classes(*parts[index])
        if used != mirror:
            raise ctx.error(f"expected '{name}' to match modules[{index + 1}], found {used} vs {mirror}")
        nets.append(ctx.child(net, name))
    return lua_nn.DenseConnectLayerCustom(*nets)


def _child_classes(container: t7.T7Object, path: str) -> list[str | None]:
    return [child.typename if isinstance(child, t7.T7Object) else None for child, _ in child_modules(container, path)]
