"""Lua normalisation modules: BatchNormalization (all three), SpatialCrossMapLRN, Normalize.

Every class imports only torch and math and is self-contained (the
standalone ``model.py`` export copies its source); constructor arguments are
the Lua fields as plain literals.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["BatchNormalization", "Normalize", "SpatialCrossMapLRN"]


class BatchNormalization(torch.nn.Module):
    """``nn.BatchNormalization`` (``n_dim=2``), ``SpatialBatchNormalization`` (4), ``VolumetricBatchNormalization`` (5).

    Training mode uses the batch statistics and updates the running ones;
    evaluation mode uses the running ones and also accepts a single sample
    without its batch dimension. ``running_var`` is the variance. A training
    batch of one: nn since 919eecae (2017-08, the last nn release) uses and
    keeps the running statistics; older nn normalised it with its own
    statistics, which ``batch_statistics_for_one=True`` selects.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        n_dim: int = 4,
        batch_statistics_for_one: bool = False,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.n_dim = n_dim
        self.batch_statistics_for_one = batch_statistics_for_one
        if affine:
            self.weight = torch.nn.Parameter(torch.ones(num_features))
            self.bias = torch.nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, input):
        single = input.dim() == self.n_dim - 1 and not self.training
        if input.dim() != self.n_dim and not single:
            raise ValueError(f"only mini-batch supported ({self.n_dim}D tensor), got {input.dim()}D tensor instead")
        batch = input.unsqueeze(0) if single else input
        batch_statistics = self.training and (batch.size(0) > 1 or self.batch_statistics_for_one)
        output = F.batch_norm(
            batch,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            batch_statistics,
            self.momentum,
            self.eps,
        )
        return output.squeeze(0) if single else output

    def extra_repr(self) -> str:
        return (
            f"num_features={self.num_features}, eps={self.eps!r}, momentum={self.momentum!r}, affine={self.affine}, "
            f"n_dim={self.n_dim}, batch_statistics_for_one={self.batch_statistics_for_one}"
        )


class SpatialCrossMapLRN(torch.nn.Module):
    """``nn.SpatialCrossMapLRN(size, alpha, beta, k)``: ``x / (k + alpha/size * sum of x^2 over size channels)^beta``.

    The window of channel ``c`` is ``c - look_behind .. c - look_behind + size - 1``;
    nn looks ``floor(size/2)`` channels back (the default), cuDNN
    (``cudnn.SpatialCrossMapLRN``) ``floor((size-1)/2)``: the two differ for
    an even ``size``. A 3-D input is one (C, H, W) image.
    """

    def __init__(
        self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0, look_behind: int | None = None
    ) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.look_behind = size // 2 if look_behind is None else look_behind

    def forward(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(f"SpatialCrossMapLRN expects a 3D or 4D input, got {input.dim()}D")
        batch = input.unsqueeze(0) if input.dim() == 3 else input
        pads = (0, 0, 0, 0, self.look_behind, self.size - 1 - self.look_behind)
        squares = F.pad((batch * batch).unsqueeze(1), pads)
        mean = F.avg_pool3d(squares, (self.size, 1, 1), stride=1).squeeze(1)
        output = batch * (mean * self.alpha + self.k).pow(-self.beta)
        return output.squeeze(0) if input.dim() == 3 else output

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, alpha={self.alpha!r}, beta={self.beta!r}, k={self.k!r}, look_behind={self.look_behind}"
        )


class Normalize(torch.nn.Module):
    """``nn.Normalize(p, eps)``: divide each row (1-D or 2-D input) by its p-norm.

    The norm is ``(sum |x|^p + eps)^(1/p)`` (``eps`` inside the root), or the
    largest ``|x|`` plus ``eps`` for ``p = inf``.
    """

    def __init__(self, p: float, eps: float = 1e-10) -> None:
        super().__init__()
        self.p = p
        self.eps = eps

    def forward(self, input):
        if input.dim() > 2:
            raise ValueError(f"Normalize only supports 1D or 2D input, got {input.dim()}D")
        rows = input.reshape(1, -1) if input.dim() == 1 else input
        if math.isinf(self.p):
            norm = rows.abs().amax(dim=1, keepdim=True) + self.eps
        else:
            powers = rows.abs().pow(self.p) if self.p % 2 != 0 else rows.pow(self.p)
            norm = (powers.sum(dim=1, keepdim=True) + self.eps).pow(1 / self.p)
        return (rows / norm).reshape(input.shape)

    def extra_repr(self) -> str:
        p = "float('inf')" if math.isinf(self.p) else repr(self.p)
        return f"p={p}, eps={self.eps!r}"
