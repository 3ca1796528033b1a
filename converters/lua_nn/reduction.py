"""Lua reductions along one dimension: Sum, Mean, Max, Min.

Every class imports only torch and is self-contained (the standalone
``model.py`` export copies its source).
"""

from __future__ import annotations

import torch

__all__ = ["Reduction"]


class Reduction(torch.nn.Module):
    """``nn.Sum(dimension, nInputDims, sizeAverage, squeeze)`` (``operation="sum"``), ``nn.Mean(dimension,
    nInputDims)`` (a Sum with ``size_average``), ``nn.Max(dimension, nInputDims)`` (``"max"``) and ``nn.Min``
    (``"min"``).

    ``dimension`` is 1-based; a negative one counts from the end; with
    ``n_input_dims`` an input with one more dimension (a batch) shifts a
    positive one by one. ``size_average`` divides by the size of that
    dimension. It is removed when ``squeeze`` and the result still has more
    than one dimension (a 1-D input gives a tensor of one element).
    """

    def __init__(
        self,
        operation: str,
        dimension: int = 1,
        n_input_dims: int | None = None,
        size_average: bool = False,
        squeeze: bool = True,
    ) -> None:
        super().__init__()
        if operation not in ("sum", "max", "min"):
            raise ValueError(f"expected operation 'sum', 'max' or 'min', got {operation!r}")
        self.operation = operation
        self.dimension = dimension
        self.n_input_dims = n_input_dims
        self.size_average = size_average
        self.squeeze = squeeze

    def forward(self, input):
        dim = self.dimension + input.dim() if self.dimension < 0 else self.dimension - 1
        if self.dimension > 0 and self.n_input_dims is not None and input.dim() == self.n_input_dims + 1:
            dim += 1
        if self.operation == "sum":
            output = input.sum(dim, keepdim=True)
        else:
            output = input.amax(dim, keepdim=True) if self.operation == "max" else input.amin(dim, keepdim=True)
        if self.size_average:
            output = output / input.size(dim)
        return output.squeeze(dim) if self.squeeze and output.dim() > 1 else output

    def extra_repr(self) -> str:
        return (
            f"operation={self.operation!r}, dimension={self.dimension}, n_input_dims={self.n_input_dims}, "
            f"size_average={self.size_average}, squeeze={self.squeeze}"
        )
