"""Lua modules that reshape or pad with Lua's batch rules: View, Reshape, Padding.

Every class imports only torch and math and is self-contained (the
standalone ``model.py`` export copies its source); constructor arguments are
the Lua fields as plain literals, dimensions 1-based as in Lua.
"""

from __future__ import annotations

import math

import torch

__all__ = ["Padding", "Reshape", "View"]


class View(torch.nn.Module):
    """``nn.View(sizes...)`` with ``setNumInputDims(num_input_dims)``.

    The leading dimensions beyond the last ``num_input_dims`` (or the ones
    needed to make up ``size``'s element count) form a batch dimension. Without
    ``num_input_dims``, ``View(-1)`` flattens the batch too and a batch of one
    loses its batch dimension, exactly as in Lua.
    """

    def __init__(self, size: tuple[int, ...], num_input_dims: int | None = None) -> None:
        super().__init__()
        self.size = tuple(size)
        self.num_input_dims = num_input_dims

    def forward(self, input):
        batch = self._batch_size(tuple(input.shape))
        return input.reshape(self.size if batch is None else (batch, *self.size))

    def _batch_size(self, shape: tuple[int, ...]) -> int | None:
        """Lua's ``batchsize``: the leading size to prepend, or None for a plain view."""
        sample_dims = self.num_input_dims if self.num_input_dims is not None else len(shape)
        if sample_dims > len(shape):
            raise ValueError(f"View expects at least {sample_dims} input dimensions, got {len(shape)}")
        known = math.prod(extent for extent in self.size if extent >= 0)
        sample = math.prod(shape[len(shape) - sample_dims :])
        if known == 0 or sample % known:
            raise ValueError(f"input view {shape} and desired view {self.size} do not match")
        batch = 1 if -1 in self.size else sample // known
        batch *= math.prod(shape[: len(shape) - sample_dims])
        if batch == 1 and (self.num_input_dims is None or len(shape) <= self.num_input_dims):
            return None
        return batch

    def extra_repr(self) -> str:
        return f"size={self.size}, num_input_dims={self.num_input_dims}"


class Reshape(torch.nn.Module):
    """``nn.Reshape(sizes..., batchMode)``: reshape each sample, or the whole input.

    Without ``batch_mode`` the input counts as one sample when it has exactly
    ``prod(size)`` elements and its first size is not 1 (then the batch
    dimension is consumed); otherwise the first dimension is kept as a batch.
    ``batch_mode`` True/False forces either reading.
    """

    def __init__(self, size: tuple[int, ...], batch_mode: bool | None = None) -> None:
        super().__init__()
        self.size = tuple(size)
        self.batch_mode = batch_mode

    def forward(self, input):
        whole = self.batch_mode is False or (
            self.batch_mode is None and input.numel() == math.prod(self.size) and input.size(0) != 1
        )
        return input.reshape(self.size if whole else (input.size(0), *self.size))

    def extra_repr(self) -> str:
        return f"size={self.size}, batch_mode={self.batch_mode}"


class Padding(torch.nn.Module):
    """``nn.Padding(dim, pad, nInputDim, value, index)``: insert ``|pad|`` entries of ``value`` along ``dim``.

    ``dim`` is 1-based, shifted by one when the input does not have
    ``n_input_dim`` dimensions (a batch). ``pad < 0`` inserts before 1-based
    position ``index``; ``pad > 0`` counts ``index`` from the end (``index = 1``
    appends after the last entry).
    """

    def __init__(self, dim: int, pad: int, n_input_dim: int | None = None, value: float = 0.0, index: int = 1) -> None:
        super().__init__()
        self.dim = dim
        self.pad = pad
        self.n_input_dim = n_input_dim
        self.value = value
        self.index = index

    def forward(self, input):
        dim = self.dim - 1
        if self.n_input_dim is not None and input.dim() != self.n_input_dim:
            dim += 1
        size = input.size(dim)
        index = size - self.index + 2 if self.pad > 0 else self.index
        before = index - 1
        if not 0 <= before <= size:
            raise ValueError(f"Padding index {self.index} is outside a dimension of size {size}")
        filler_shape = list(input.shape)
        filler_shape[dim] = abs(self.pad)
        filler = input.new_full(filler_shape, self.value)
        parts = [input.narrow(dim, 0, before), filler, input.narrow(dim, before, size - before)]
        return torch.cat(parts, dim)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, pad={self.pad}, n_input_dim={self.n_input_dim}, value={self.value!r}, index={self.index}"
        )
