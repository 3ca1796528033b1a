"""Translate any Lua Torch7 ``nn`` module tree into an equivalent ``torch.nn.Module``.

One small translator per Lua class, in one registry
(:mod:`converters.translate.registry`); the family modules below register the
built-in ones on import. :func:`translate` builds the module skeleton lazily
(nothing read), :func:`load_module` gives the ready module. Naming: a
container's ``modules[i]`` is its child ``str(i - 1)``, so Lua
``model.modules[5].modules[1]`` is PyTorch ``"4.0"``; other fields that hold
modules keep their Lua field name; ``Translation.report.lua_paths`` maps
every PyTorch module name to its Lua path.
"""

from converters.translate import (  # noqa: F401  (registers the built-in translators)
    activation,
    arithmetic,
    community,
    containers,
    convolution,
    dropout,
    linear,
    nngraph,
    normalization,
    pooling,
    reduction,
    shape,
    tables,
)
from converters.translate.context import TranslationContext
from converters.translate.load import Translation, TranslationReport, load_module, translate
from converters.translate.registry import (
    TRANSLATORS,
    Translator,
    register_module,
    supported_classes,
    translator_for,
)
from converters.translate.sources import TensorSource

__all__ = [
    "TRANSLATORS",
    "TensorSource",
    "Translation",
    "TranslationContext",
    "TranslationReport",
    "Translator",
    "load_module",
    "register_module",
    "supported_classes",
    "translate",
    "translator_for",
]
