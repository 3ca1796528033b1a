"""Lua containers whose forward no torch builtin computes: Concat, DepthConcat, ConcatTable, ParallelTable,
Parallel, MapTable, Bottle, dpnn's batching decorator (Inception) and liuzhuang13/DenseNet's
memory-efficient DenseConnectLayerCustom.

``nn.Sequential`` is ``torch.nn.Sequential``. Children are named ``"0"``,
``"1"``, ... in the Lua ``modules`` order and are passed positionally; the
Lua fields are keyword-only literals (``Concat(conv_a, conv_b, dimension=2)``).
Every class imports only torch and is self-contained, so the standalone
``model.py`` export can copy its source.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "Bottle",
    "Concat",
    "ConcatTable",
    "DenseConnectLayerCustom",
    "DepthConcat",
    "Inception",
    "MapTable",
    "Parallel",
    "ParallelTable",
]


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


class MapTable(torch.nn.Module):
    """``nn.MapTable(module)``: input ``i`` of a list goes through clone ``i`` of the module.

    The children are the clones the file holds (``modules``; a file saved
    after ``clearState`` holds only the first); inputs beyond them use the
    first, as Lua's fresh clones (which share its parameters) would.
    """

    def __init__(self, *modules: torch.nn.Module) -> None:
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), module)

    def forward(self, input):
        modules = list(self._modules.values())
        return [modules[index if index < len(modules) else 0](item) for index, item in enumerate(input)]


class Bottle(torch.nn.Module):
    """``nn.Bottle(module, nInputDim, nOutputDim)``: run ``module`` on an input whose leading dimensions beyond
    ``n_input_dim`` are fused into its first one, then split them off the output again.

    The module's output must have ``n_output_dim`` dimensions (default ``n_input_dim``).
    """

    def __init__(self, module: torch.nn.Module, n_input_dim: int = 2, n_output_dim: int | None = None) -> None:
        super().__init__()
        self.n_input_dim = n_input_dim
        self.n_output_dim = n_input_dim if n_output_dim is None else n_output_dim
        self.add_module("0", module)

    def forward(self, input):
        module = self._modules["0"]
        batch_dims = input.dim() - self.n_input_dim + 1
        if batch_dims <= 1:
            return module(input)
        leading = list(input.shape[: batch_dims - 1])
        fused = 1
        for size in leading:
            fused *= size
        output = module(input.reshape(fused * input.size(batch_dims - 1), *input.shape[batch_dims:]))
        if output.dim() != self.n_output_dim:
            raise ValueError(f"Bottle expected {self.n_output_dim} output dimensions, got {output.dim()}")
        return output.reshape(*leading, output.size(0) // fused, *output.shape[1:])

    def extra_repr(self) -> str:
        return f"n_input_dim={self.n_input_dim}, n_output_dim={self.n_output_dim}"


class DenseConnectLayerCustom(torch.nn.Module):
    """liuzhuang13/DenseNet's ``nn.DenseConnectLayerCustom`` (``-optMemory 3/4``): one dense layer.

    The input is a tensor or a list of them (the feature maps so far); the
    output is that list plus ``net2(net1(x))``, where ``x`` is the input
    joined along the channels. The Lua layer recomputes ``net1`` in backward
    to save memory; the values are the same.
    """

    def __init__(self, net1: torch.nn.Module, net2: torch.nn.Module) -> None:
        super().__init__()
        self.net1 = net1
        self.net2 = net2

    def forward(self, input):
        if isinstance(input, torch.Tensor):
            return [input, self.net2(self.net1(input))]
        return [*input, self.net2(self.net1(torch.cat(list(input), 1)))]
