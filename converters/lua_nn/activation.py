"""Lua activations with no exact torch builtin: SoftMax, LogSoftMax and SoftMin with THNN's choice of
dimension, and cuDNN's instance-mode SoftMax.

Every class imports only torch and is self-contained (the standalone
``model.py`` export copies its source).
"""

from __future__ import annotations

import torch

__all__ = ["InstanceSoftMax", "LogSoftMax", "SoftMax", "SoftMin"]


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


class SoftMin(torch.nn.Module):
    """``nn.SoftMin``: ``SoftMax(-x)``, over the dimension THNN's SoftMax picks (see :class:`SoftMax`)."""

    def forward(self, input):
        if not 1 <= input.dim() <= 4:
            raise ValueError(f"SoftMin expects a 1D, 2D, 3D or 4D tensor, got {input.dim()}D")
        return torch.softmax(-input, 0 if input.dim() in (1, 3) else 1)


class InstanceSoftMax(torch.nn.Module):
    """``cudnn.SoftMax`` / ``cudnn.LogSoftMax`` (``CUDNN_SOFTMAX_MODE_INSTANCE``): over everything but the batch.

    cudnn.torch views 1-D input as one sample, 2-D as (N, C), 3-D as one
    (C, H, W) image and 4-D as a batch of them, and normalises each sample
    over all its values (for images: over C*H*W together, unlike ``nn.SoftMax``,
    which normalises over the channels at each pixel). ``log`` gives
    log-probabilities (``CUDNN_SOFTMAX_LOG``).
    """

    def __init__(self, log: bool = False) -> None:
        super().__init__()
        self.log = log

    def forward(self, input):
        if not 1 <= input.dim() <= 4:
            raise ValueError(f"InstanceSoftMax expects a 1D, 2D, 3D or 4D tensor, got {input.dim()}D")
        rows = input.reshape(input.size(0), -1) if input.dim() in (2, 4) else input.reshape(1, -1)
        output = torch.log_softmax(rows, 1) if self.log else torch.softmax(rows, 1)
        return output.reshape(input.shape)

    def extra_repr(self) -> str:
        return f"log={self.log}"
