"""The errors of zoo's own modules (``zoo.lua_models``, ``zoo.style``, ``zoo.faces``, ``zoo.figures``).

Kept apart from those modules (they import torch) so that the command line can name them at start-up;
each is also importable from the module that raises it.
"""

from __future__ import annotations

__all__ = ["FaceEmbeddingError", "FigureError", "ModelArgumentError", "StyleTransferError"]


class ModelArgumentError(ValueError):
    """MODEL names neither an existing file nor something that can be a registry name."""


class StyleTransferError(ValueError):
    """A style model, an image or an output path that ``stylize`` cannot use."""


class FaceEmbeddingError(ValueError):
    """A face model or image that ``embed`` cannot use."""


class FigureError(ValueError):
    """A figure that cannot be drawn: matplotlib missing, an unknown output format, a records folder that is not one."""
