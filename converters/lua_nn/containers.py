"""Lua containers whose forward no torch builtin computes: Concat, DepthConcat, ConcatTable, ParallelTable,
Parallel, and dpnn's batching decorator (Inception).

``nn.Sequential`` is ``torch.nn.Sequential``. Children are named ``"0"``,
``"1"``, ... in the Lua ``modules`` order and are passed positionally; the
Lua fields are keyword-only literals (``Concat(conv_a, conv_b, dimension=2)``).
Every class imports only torch and is self-contained, so the standalone
``model.py`` export can copy its source.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["Concat", "ConcatTable", "DepthConcat", "Inception", "Parallel", "ParallelTable"]


class Concat(torch.nn.Module):
    """``nn.Concat(dimension)``: every child gets the same input; outputs joined along ``dimension``.

    ``dimension`` is 1-based and absolute, not batch-aware: ``Concat(2)`` joins
    the channels of an (N, C, H, W) batch but the rows of a (C, H, W) image.
    """

    def __init__(self, *modules: torch.nn.Module, dimension: int) -> None:
        super().__init__()
        self.dimension = dimension
        for index, module in enumerate(modules):
            self.add_module(str(index), module)

    def forward(self, input):
        return torch.cat([module(input) for module in self._modules.values()], self.dimension - 1)

    def extra_repr(self) -> str:
        return f"dimension={self.dimension}"


class DepthConcat(torch.nn.Module):
    """``nn.DepthConcat(dimension)``: like ``Concat``, but outputs smaller in another dimension are zero-padded.

    Each output is centred in the largest size of every other dimension: it
    starts at ``floor((max - size) / 2)`` (0-based), so an odd extra row or
    column of zeros goes to the bottom/right.
    """

    def __init__(self, *modules: torch.nn.Module, dimension: int) -> None:
        super().__init__()
        self.dimension = dimension
        for index, module in enumerate(modules):
            self.add_module(str(index), module)

    def forward(self, input):
        outputs = [module(input) for module in self._modules.values()]
        join = self.dimension - 1
        largest = [max(output.size(dim) for output in outputs) for dim in range(outputs[0].dim())]
        padded = []
        for output in outputs:
            pads = []
            for dim in reversed(range(output.dim())):
                extra = 0 if dim == join else largest[dim] - output.size(dim)
                pads += [extra // 2, extra - extra // 2]
            padded.append(F.pad(output, pads) if any(pads) else output)
        return torch.cat(padded, join)

    def extra_repr(self) -> str:
        return f"dimension={self.dimension}"


class ConcatTable(torch.nn.Module):
    """``nn.ConcatTable``: every child gets the same input; the output is the list of their outputs."""

    def __init__(self, *modules: torch.nn.Module) -> None:
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), module)

    def forward(self, input):
        return [module(input) for module in self._modules.values()]


class ParallelTable(torch.nn.Module):
    """``nn.ParallelTable``: child ``i`` gets ``input[i]`` (a list); the output is the list of their outputs."""

    def __init__(self, *modules: torch.nn.Module) -> None:
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), module)

    def forward(self, input):
        modules = list(self._modules.values())
        if len(input) < len(modules):
            raise ValueError(f"ParallelTable with {len(modules)} modules got a table of {len(input)} inputs")
        return [module(item) for module, item in zip(modules, input[: len(modules)], strict=True)]


class Parallel(torch.nn.Module):
    """``nn.Parallel(inputDimension, outputDimension)``: child ``i`` gets ``input.select(inputDimension, i)``.

    The outputs are joined along ``outputDimension`` of the per-slice outputs.
    Both dimensions are 1-based and absolute (not batch-aware: on a batch,
    ``Parallel(1, 2)`` splits the batch itself).
    """

    def __init__(self, *modules: torch.nn.Module, input_dimension: int, output_dimension: int) -> None:
        super().__init__()
        self.input_dimension = input_dimension
        self.output_dimension = output_dimension
        for index, module in enumerate(modules):
            self.add_module(str(index), module)

    def forward(self, input):
        modules = list(self._modules.values())
        slices = input.size(self.input_dimension - 1)
        if slices > len(modules):
            raise ValueError(f"Parallel with {len(modules)} modules got {slices} slices along its input dimension")
        outputs = [modules[index](input.select(self.input_dimension - 1, index)) for index in range(slices)]
        return torch.cat(outputs, self.output_dimension - 1)

    def extra_repr(self) -> str:
        return f"input_dimension={self.input_dimension}, output_dimension={self.output_dimension}"


class Inception(torch.nn.Module):
    """dpnn's ``nn.Inception`` (a ``Decorator`` around its ``DepthConcat``): runs its one child.

    A single 3-D image (C, H, W) is given a batch dimension of 1 for the
    child (whose ``DepthConcat(2)`` joins channels of a batch) and loses it
    again, as dpnn's ``toBatch``/``fromBatch`` do.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.add_module("0", module)

    def forward(self, input):
        module = self._modules["0"]
        if input.dim() == 3:
            return module(input.unsqueeze(0)).squeeze(0)
        return module(input)
