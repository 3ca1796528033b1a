"""Converters from the original Lua Torch7 DenseNet checkpoints to PyTorch.

``converters.t7`` reads and writes the Torch7 binary format and knows nothing
of DenseNet; the DenseNet mapping on top of it turns a Lua module tree into a
``zoo.DenseNetConfig`` and a state dict.
"""

from __future__ import annotations

from converters.lazy import lazy_exports

__all__ = ["Conversion", "ConversionError", "ConversionPlan", "ConversionReport", "convert", "plan_conversion"]

# Resolved lazily so that ``from converters import t7`` stays numpy-only and fast.
_EXPORTS = {
    "ConversionError": "converters.errors",
    "Conversion": "converters.densenet",
    "ConversionPlan": "converters.densenet",
    "ConversionReport": "converters.densenet",
    "convert": "converters.densenet",
    "plan_conversion": "converters.densenet",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
