"""Translators of classes from packages other than nn: dpnn's Inception.

(fast-neural-style's InstanceNormalization, ShaveImage and TotalVariation belong here too.)
"""

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
