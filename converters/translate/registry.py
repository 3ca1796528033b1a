"""The one registry of translators: Lua class name -> function building the equivalent PyTorch module.

A translator is ``def translate_x(lua_module, ctx) -> torch.nn.Module``: it
reads the Lua module's fields through ``ctx`` (a
:class:`converters.translate.context.TranslationContext`, which validates them
and names the Lua path in every error), builds the module on the ``meta``
device and binds its tensors to lazy sources with ``ctx.assign``. The family
modules of this package register the built-in translators with
:func:`translates`; users add their own with :func:`register_module`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from converters import t7
    from converters.translate.context import TranslationContext

__all__ = [
    "GPU_NAMESPACES",
    "TRANSLATORS",
    "Translator",
    "register_module",
    "supported_classes",
    "translates",
    "translator_for",
]

Translator = Callable[["t7.T7Object", "TranslationContext"], "torch.nn.Module"]

#: Lua class name (``"nn.SpatialConvolution"``) -> its translator.
TRANSLATORS: dict[str, Translator] = {}

#: Namespaces whose classes are GPU namesakes of ``nn`` classes: ``cudnn.ReLU`` is translated as
#: ``nn.ReLU`` unless ``cudnn.ReLU`` has a translator of its own (registered where semantics differ).
GPU_NAMESPACES = ("cudnn", "cunn")


def register_module(lua_class: str, translator: Translator, *, replace: bool = False) -> Translator:
    """Register ``translator`` for the Lua class ``lua_class`` (``"nn.MyLayer"``); returns the translator.

    ``replace=True`` overrides an existing translator (a built-in one too);
    without it, registering a class twice is a ``ValueError``.
    """
    if not isinstance(lua_class, str) or "." not in lua_class:
        raise ValueError(f"expected a Lua class name such as 'nn.MyLayer', found {lua_class!r}")
    if not callable(translator):
        raise TypeError(f"expected a callable translator(lua_module, ctx) for {lua_class}, found {translator!r}")
    if lua_class in TRANSLATORS and not replace:
        raise ValueError(f"{lua_class} already has a translator; pass replace=True to override it")
    TRANSLATORS[lua_class] = translator
    return translator


def translates(*lua_classes: str) -> Callable[[Translator], Translator]:
    """Decorator registering a built-in translator for one or more Lua classes."""

    def register(translator: Translator) -> Translator:
        for lua_class in lua_classes:
            register_module(lua_class, translator)
        return translator

    return register


def translator_for(lua_class: Any) -> Translator | None:
    """The translator of ``lua_class``; ``cudnn.X``/``cunn.X`` fall back to ``nn.X``; None when there is none."""
    if not isinstance(lua_class, str):
        return None
    translator = TRANSLATORS.get(lua_class)
    if translator is None:
        namespace, _, name = lua_class.partition(".")
        if namespace in GPU_NAMESPACES:
            translator = TRANSLATORS.get(f"nn.{name}")
    return translator


def supported_classes() -> list[str]:
    """The Lua classes that have a translator now, sorted (``cudnn.X``/``cunn.X`` also translate when ``nn.X`` is
    listed; the ``cudnn`` entries are the namesakes that compute differently or have other fields)."""
    return sorted(TRANSLATORS)
