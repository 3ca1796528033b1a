"""Lua reductions along one dimension: Sum (and Mean), Max, Min.

Dimensions are 1-based; a negative one counts from the end; with
``n_input_dims`` an input with one more dimension (a batch) shifts a positive
dimension by one. Every class imports only torch and is self-contained (the
standalone ``model.py`` export copies its source).
"""

from __future__ import annotations

import torch

__all__ = ["Max", "Min", "Sum"]


class Sum(torch.nn.Module):
    """``nn.Sum(dimension, nInputDims, sizeAverage, squeeze)``, and ``nn.Mean(dimension, nInputDims)``
    (``size_average=True``).

    ``size_average`` divides by the size of the summed dimension. The summed
    dimension is removed when ``squeeze`` and the result still has more than
    one dimension (a 1-D input gives a tensor of one element).
    """

    def __init__(
        self, dimension: int = 1, n_input_dims: int | None = None, size_average: bool = False, squeeze: bool = True
    ) -> None:
        super().__init__()
        self.dimension = dimension
        self.n_input_dims = n_input_dims
        self.size_average = size_average
        self.squeeze = squeeze

    def forward(self, input):
        dim = self.dimension + input.dim() if self.dimension < 0 else self.dimension - 1
        if self.dimension > 0 and self.n_input_dims is not None and input.dim() == self.n_input_dims + 1:
            dim += 1
        output = input.sum(dim, keepdim=True)
        if self.size_average:
            output = output / input.size(dim)
        return output.squeeze(dim) if self.squeeze and output.dim() > 1 else output

    def extra_repr(self) -> str:
        return (
            f"dimension={self.dimension}, n_input_dims={self.n_input_dims}, size_average={self.size_average}, "
            f"squeeze={self.squeeze}"
        )


class Max(torch.nn.Module):
    """``nn.Max(dimension, nInputDims)``: the largest values along ``dimension`` (removed unless the input is 1-D)."""

    def __init__(self, dimension: int = 1, n_input_dims: int | None = None) -> None:
        super().__init__()
        self.dimension = dimension
        self.n_input_dims = n_input_dims

    def forward(self, input):
        dim = self.dimension + input.dim() if self.dimension < 0 else self.dimension - 1
        if self.dimension > 0 and self.n_input_dims is not None and input.dim() == self.n_input_dims + 1:
            dim += 1
        return input.amax(dim) if input.dim() > 1 else input.amax(dim, keepdim=True)

    def extra_repr(self) -> str:
        return f"dimension={self.dimension}, n_input_dims={self.n_input_dims}"


class Min(torch.nn.Module):
    """``nn.Min(dimension, nInputDims)``: the smallest values along ``dimension`` (removed unless the input is
    1-D)."""

    def __init__(self, dimension: int = 1, n_input_dims: int | None = None) -> None:
        super().__init__()
        self.dimension = dimension
        self.n_input_dims = n_input_dims

    def forward(self, input):
        dim = self.dimension + input.dim() if self.dimension < 0 else self.dimension - 1
        if self.dimension > 0 and self.n_input_dims is not None and input.dim() == self.n_input_dims + 1:
            dim += 1
        return input.amin(dim) if input.dim() > 1 else input.amin(dim, keepdim=True)

    def extra_repr(self) -> str:
        return f"dimension={self.dimension}, n_input_dims={self.n_input_dims}"
