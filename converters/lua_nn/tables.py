"""Lua modules over tables (lists) of tensors: CAddTable, JoinTable.

Every class imports only torch and is self-contained (the standalone
``model.py`` export copies its source); constructor arguments are the Lua
fields as plain literals.
"""

from __future__ import annotations

import torch

__all__ = ["CAddTable", "JoinTable"]


class CAddTable(torch.nn.Module):
    """``nn.CAddTable(inplace)``: the element-wise sum of a list of tensors.

    With ``inplace`` the sum is written into ``input[0]``, as Lua does (other
    holders of that tensor see the sum, in Lua and here).
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        first, rest = input[0], input[1:]
        output = first if self.inplace else first.clone()
        for item in rest:
            output.add_(item)
        return output

    def extra_repr(self) -> str:
        return f"inplace={self.inplace}"


class JoinTable(torch.nn.Module):
    """``nn.JoinTable(dimension, nInputDims)``: concatenate a list of tensors along a 1-based ``dimension``.

    A negative ``dimension`` counts from the end; with ``n_input_dims`` set,
    an input with one more dimension than that (a batch) shifts the dimension
    by one.
    """

    def __init__(self, dimension: int, n_input_dims: int | None = None) -> None:
        super().__init__()
        self.dimension = dimension
        self.n_input_dims = n_input_dims

    def forward(self, input):
        dimension = self.dimension
        if dimension < 0:
            dimension = input[0].dim() + dimension + 1
        elif self.n_input_dims is not None and input[0].dim() == self.n_input_dims + 1:
            dimension += 1
        return torch.cat(list(input), dimension - 1)

    def extra_repr(self) -> str:
        return f"dimension={self.dimension}, n_input_dims={self.n_input_dims}"
