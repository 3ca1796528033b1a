"""Lua activations with no exact torch builtin: SoftMax and LogSoftMax with THNN's choice of dimension.

Every class imports only torch and is self-contained (the standalone
``model.py`` export copies its source).
"""

from __future__ import annotations

import torch

__all__ = ["LogSoftMax", "SoftMax"]


class SoftMax(torch.nn.Module):
    """``nn.SoftMax``: over the only dim of 1-D input, over dim 2 (1-based) of 2-D and 4-D, dim 1 of 3-D.

    THNN reads 3-D input as one (C, H, W) image and 4-D as a batch of them,
    so images are normalised over their channels at every pixel.
    """

    def forward(self, input):
        if not 1 <= input.dim() <= 4:
            raise ValueError(f"SoftMax expects a 1D, 2D, 3D or 4D tensor, got {input.dim()}D")
        return torch.softmax(input, 0 if input.dim() in (1, 3) else 1)


class LogSoftMax(torch.nn.Module):
    """``nn.LogSoftMax``: ``log(SoftMax)`` over the dimension THNN picks (see :class:`SoftMax`)."""

    def forward(self, input):
        if not 1 <= input.dim() <= 4:
            raise ValueError(f"LogSoftMax expects a 1D, 2D, 3D or 4D tensor, got {input.dim()}D")
        return torch.log_softmax(input, 0 if input.dim() in (1, 3) else 1)
