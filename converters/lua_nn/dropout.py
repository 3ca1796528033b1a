"""Lua ``nn.Dropout`` (v1 and v2 scaling, stochastic inference, Lua's copy semantics) and ``nn.SpatialDropout``.

Self-contained and torch-only (the standalone ``model.py`` export copies its
source); constructor arguments are the Lua fields as plain literals.
"""

from __future__ import annotations

import torch

__all__ = ["Dropout", "SpatialDropout"]


class Dropout(torch.nn.Module):
    """``nn.Dropout(p, v1, inplace, stochasticInference)``.

    ``v2`` (the default since 2015) scales kept units by ``1/(1-p)`` while
    training and is the identity in evaluation, like ``torch.nn.Dropout``;
    ``v2=False`` (``Dropout(p, true)`` and files older than the field) keeps
    units unscaled while training and multiplies by ``1-p`` in evaluation.
    ``stochastic_inference`` drops units in evaluation too. Unless
    ``inplace``, the output is always a new tensor, as in Lua (``torch.nn.Dropout``
    returns its input in evaluation, which an in-place module further on
    would then modify for every other holder of it).
    """

    def __init__(self, p: float = 0.5, v2: bool = True, inplace: bool = False, stochastic_inference: bool = False):
        super().__init__()
        self.p = p
        self.v2 = v2
        self.inplace = inplace
        self.stochastic_inference = stochastic_inference

    def forward(self, input):
        if self.p <= 0:
            return input if self.inplace else input.clone()
        if self.training or self.stochastic_inference:
            noise = torch.empty_like(input).bernoulli_(1 - self.p)
            if self.v2:
                noise.div_(1 - self.p)
        elif not self.v2:
            noise = 1 - self.p
        else:
            return input if self.inplace else input.clone()
        return input.mul_(noise) if self.inplace else input * noise

    def extra_repr(self) -> str:
        return f"p={self.p!r}, v2={self.v2}, inplace={self.inplace}, stochastic_inference={self.stochastic_inference}"


class SpatialDropout(torch.nn.Module):
    """``nn.SpatialDropout(p, stochasticInference)``: drop whole feature maps of (N, C, H, W) or (C, H, W) input.

    Training (or ``stochastic_inference``) zeroes each map with probability
    ``p`` and keeps the others unscaled; evaluation multiplies everything by
    ``1 - p`` (there is no v2 scaling). The output is always a new tensor.
    """

    def __init__(self, p: float = 0.5, stochastic_inference: bool = False) -> None:
        super().__init__()
        self.p = p
        self.stochastic_inference = stochastic_inference

    def forward(self, input):
        if not (self.training or self.stochastic_inference):
            return input * (1 - self.p)
        if input.dim() not in (3, 4):
            raise ValueError(f"SpatialDropout expects (N, C, H, W) or (C, H, W) input, got {input.dim()}D")
        noise = input.new_empty((*input.shape[:-2], 1, 1)).bernoulli_(1 - self.p)
        return input * noise

    def extra_repr(self) -> str:
        return f"p={self.p!r}, stochastic_inference={self.stochastic_inference}"
