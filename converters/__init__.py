"""Converters from Lua Torch7 checkpoints to PyTorch.

``converters.t7`` reads and writes the Torch7 binary format and knows nothing
of models; ``converters.translate`` turns any Lua ``nn`` module tree into an
equivalent ``torch.nn.Module`` (``load_module``, one translator per Lua class,
``register_module`` for your own); the DenseNet mapping turns a DenseNet tree
into a ``zoo.DenseNetConfig`` and a state dict.
"""

from __future__ import annotations

from densenet_zoo_util.lazy import lazy_exports

__all__ = [
    "Conversion",
    "ConversionError",
    "ConversionPlan",
    "ConversionReport",
    "Translation",
    "UnsupportedModuleError",
    "convert",
    "load_module",
    "plan_conversion",
    "register_module",
]

# Resolved lazily so that ``from converters import t7`` stays numpy-only and fast.
_EXPORTS = {
    "ConversionError": "converters.errors",
    "Conversion": "converters.densenet",
    "ConversionPlan": "converters.densenet",
    "ConversionReport": "converters.densenet",
    "convert": "converters.densenet",
    "plan_conversion": "converters.densenet",
    "UnsupportedModuleError": "converters.errors",
    "Translation": "converters.translate",
    "load_module": "converters.translate",
    "register_module": "converters.translate",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
