"""Lua modules over tables (lists) of tensors: element-wise CAdd/CSub/CMul/CDiv/CMax/CMinTable, JoinTable,
SplitTable, SelectTable, NarrowTable, FlattenTable, and the batched matrix product MM.

Every class imports only torch and is self-contained (the standalone
``model.py`` export copies its source); constructor arguments are the Lua
fields as plain literals.
"""

from __future__ import annotations

import torch

__all__ = [
    "MM",
    "CAddTable",
    "CDivTable",
    "CMaxTable",
    "CMinTable",
    "CMulTable",
    "CSubTable",
    "FlattenTable",
    "JoinTable",
    "NarrowTable",
    "SelectTable",
    "SplitTable",
]


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


class CSubTable(torch.nn.Module):
    """``nn.CSubTable``: ``input[0] - input[1]``."""

    def forward(self, input):
        return input[0] - input[1]


class CMulTable(torch.nn.Module):
    """``nn.CMulTable``: the element-wise product of a list of tensors."""

    def forward(self, input):
        output = input[0].clone()
        for item in input[1:]:
            output.mul_(item)
        return output


class CDivTable(torch.nn.Module):
    """``nn.CDivTable``: ``input[0] / input[1]``."""

    def forward(self, input):
        return input[0] / input[1]


class CMaxTable(torch.nn.Module):
    """``nn.CMaxTable``: the element-wise maximum of a list of tensors; a later tensor wins only where it is
    greater (so a NaN after the first tensor never wins, as in Lua)."""

    def forward(self, input):
        output = input[0].clone()
        for item in input[1:]:
            output = torch.where(item > output, item, output)
        return output


class CMinTable(torch.nn.Module):
    """``nn.CMinTable``: the element-wise minimum of a list of tensors; a later tensor wins only where it is
    smaller."""

    def forward(self, input):
        output = input[0].clone()
        for item in input[1:]:
            output = torch.where(item < output, item, output)
        return output


class SplitTable(torch.nn.Module):
    """``nn.SplitTable(dimension, nInputDims)``: the list of slices (views) along a 1-based ``dimension``.

    A negative ``dimension`` counts from the end; with ``n_input_dims`` an
    input with one more dimension (a batch) shifts it by one.
    """

    def __init__(self, dimension: int, n_input_dims: int | None = None) -> None:
        super().__init__()
        self.dimension = dimension
        self.n_input_dims = n_input_dims

    def forward(self, input):
        dimension = self.dimension
        if dimension < 0:
            dimension = input.dim() + dimension + 1
        elif self.n_input_dims is not None and input.dim() == self.n_input_dims + 1:
            dimension += 1
        return list(input.unbind(dimension - 1))

    def extra_repr(self) -> str:
        return f"dimension={self.dimension}, n_input_dims={self.n_input_dims}"


class SelectTable(torch.nn.Module):
    """``nn.SelectTable(index)``: entry ``index`` (1-based; negative counts from the end) of the input list."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def forward(self, input):
        index = self.index - 1 if self.index > 0 else len(input) + self.index
        if not 0 <= index < len(input):
            raise IndexError(f"SelectTable index {self.index} does not exist in a table of {len(input)}")
        return input[index]

    def extra_repr(self) -> str:
        return f"index={self.index}"


class NarrowTable(torch.nn.Module):
    """``nn.NarrowTable(offset, length)``: the ``length`` entries of the input list from 1-based ``offset``."""

    def __init__(self, offset: int, length: int = 1) -> None:
        super().__init__()
        self.offset = offset
        self.length = length

    def forward(self, input):
        if self.offset + self.length - 1 > len(input):
            raise IndexError(f"NarrowTable({self.offset}, {self.length}) reaches past a table of {len(input)}")
        return list(input[self.offset - 1 : self.offset - 1 + self.length])

    def extra_repr(self) -> str:
        return f"offset={self.offset}, length={self.length}"


class FlattenTable(torch.nn.Module):
    """``nn.FlattenTable``: the tensors of a nested list, depth first, as one flat list."""

    def forward(self, input):
        flat = []
        pending = [input]
        while pending:
            item = pending.pop()
            if isinstance(item, (list, tuple)):
                pending.extend(reversed(item))
            else:
                flat.append(item)
        return flat


class MM(torch.nn.Module):
    """``nn.MM(transA, transB)``: the matrix product of a pair of matrices (2-D) or of batches of them (3-D),
    each transposed first when asked."""

    def __init__(self, trans_a: bool = False, trans_b: bool = False) -> None:
        super().__init__()
        self.trans_a = trans_a
        self.trans_b = trans_b

    def forward(self, input):
        first, second = input
        if first.dim() not in (2, 3) or second.dim() != first.dim():
            raise ValueError(f"MM expects two 2D or two 3D tensors, got {first.dim()}D and {second.dim()}D")
        if self.trans_a:
            first = first.transpose(-2, -1)
        if self.trans_b:
            second = second.transpose(-2, -1)
        return torch.mm(first, second) if first.dim() == 2 else torch.bmm(first, second)

    def extra_repr(self) -> str:
        return f"trans_a={self.trans_a}, trans_b={self.trans_b}"
