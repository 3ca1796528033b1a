"""Lua modules that reshape, slice or pad with Lua's dimension rules: View, Reshape, Padding, Narrow, Select,
Squeeze, Unsqueeze, Transpose, Replicate, Contiguous, Copy.

Every class imports only torch and math and is self-contained (the
standalone ``model.py`` export copies its source); constructor arguments are
the Lua fields as plain literals, dimensions 1-based as in Lua.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "Contiguous",
    "Copy",
    "Narrow",
    "Padding",
    "Replicate",
    "Reshape",
    "Select",
    "Squeeze",
    "Transpose",
    "Unsqueeze",
    "View",
]


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


class Narrow(torch.nn.Module):
    """``nn.Narrow(dimension, offset, length)``: a copy of ``length`` entries from 1-based ``offset`` along
    ``dimension``.

    A negative ``dimension`` counts from the end; a negative ``length`` means
    ``size - offset + length + 2`` (``-1`` reaches the last entry); a negative
    ``offset`` is Lua's odd rule: from the first entry, ``size - length`` entries.
    """

    def __init__(self, dimension: int, index: int, length: int = 1) -> None:
        super().__init__()
        self.dimension = dimension
        self.index = index
        self.length = length

    def forward(self, input):
        dim = self.dimension - 1 if self.dimension > 0 else input.dim() + self.dimension
        size = input.size(dim)
        length = size - self.index + self.length + 2 if self.length < 0 else self.length
        index = self.index
        if index < 0:
            index, length = 1, size - length
        return input.narrow(dim, index - 1, length).clone(memory_format=torch.contiguous_format)

    def extra_repr(self) -> str:
        return f"dimension={self.dimension}, index={self.index}, length={self.length}"


class Select(torch.nn.Module):
    """``nn.Select(dimension, index)``: a copy of the slice at 1-based ``index``; negatives count from the end."""

    def __init__(self, dimension: int, index: int) -> None:
        super().__init__()
        self.dimension = dimension
        self.index = index

    def forward(self, input):
        dim = self.dimension - 1 if self.dimension > 0 else input.dim() + self.dimension
        index = self.index - 1 if self.index > 0 else input.size(dim) + self.index
        return input.select(dim, index).clone(memory_format=torch.contiguous_format)

    def extra_repr(self) -> str:
        return f"dimension={self.dimension}, index={self.index}"


class Squeeze(torch.nn.Module):
    """``nn.Squeeze(dim, numInputDims)``: remove the size-1 dimension ``dim`` (1-based), or all of them.

    With ``num_input_dims``, an input with one more dimension (a batch) shifts
    ``dim`` by one, and without ``dim`` a batch of one keeps its batch
    dimension. As in Torch7 (which has no 0-dim tensors) a tensor is never
    squeezed below one dimension.
    """

    def __init__(self, dim: int | None = None, num_input_dims: int | None = None) -> None:
        super().__init__()
        self.dim = dim
        self.num_input_dims = num_input_dims

    def forward(self, input):
        dim, batch_of_one = self.dim, False
        if self.num_input_dims is not None and input.dim() == self.num_input_dims + 1:
            if dim is not None:
                dim += 1
            elif input.size(0) == 1:
                batch_of_one = True
        if dim is None:
            output = input.squeeze()
            if output.dim() == 0:
                output = output.reshape(1)
        else:
            output = input.squeeze(dim - 1) if input.dim() > 1 else input
        return output.unsqueeze(0) if batch_of_one else output

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_input_dims={self.num_input_dims}"


class Unsqueeze(torch.nn.Module):
    """``nn.Unsqueeze(pos, numInputDims)``: insert a size-1 dimension at 1-based ``pos``, shifted by the input's
    dimensions beyond ``num_input_dims`` (a batch).

    Lua sets ``numInputDims`` to the input's dimension count on the first
    forward when it is nil; ``None`` here keeps that first forward's reading
    (no shift).
    """

    def __init__(self, pos: int, num_input_dims: int | None = None) -> None:
        super().__init__()
        self.pos = pos
        self.num_input_dims = num_input_dims

    def forward(self, input):
        offset = 0 if self.num_input_dims is None else input.dim() - self.num_input_dims
        position = self.pos + offset
        if offset < 0 or not 1 <= position <= input.dim() + 1:
            raise ValueError(f"Unsqueeze position {self.pos} is invalid for a {input.dim()}D input")
        return input.unsqueeze(position - 1)

    def extra_repr(self) -> str:
        return f"pos={self.pos}, num_input_dims={self.num_input_dims}"


class Transpose(torch.nn.Module):
    """``nn.Transpose({a, b}, {c, d}, ...)``: swap 1-based dimension pairs in order; a contiguous copy.

    With ``num_input_dims`` (``setNumInputDims``) every dimension is shifted by
    the input's extra leading dimensions.
    """

    def __init__(self, permutations: tuple[tuple[int, int], ...], num_input_dims: int | None = None) -> None:
        super().__init__()
        self.permutations = tuple(tuple(pair) for pair in permutations)
        self.num_input_dims = num_input_dims

    def forward(self, input):
        offset = 0 if self.num_input_dims is None else input.dim() - self.num_input_dims
        output = input
        for first, second in self.permutations:
            output = output.transpose(first + offset - 1, second + offset - 1)
        return output.clone(memory_format=torch.contiguous_format)

    def extra_repr(self) -> str:
        return f"permutations={self.permutations}, num_input_dims={self.num_input_dims}"


class Replicate(torch.nn.Module):
    """``nn.Replicate(nFeatures, dim, ndim)``: ``nfeatures`` copies along a new 1-based dimension ``dim``
    (a stride-0 view of the input, as in Lua); ``dim`` shifts by one when the input has more than ``ndim``
    dimensions."""

    def __init__(self, nfeatures: int, dim: int = 1, ndim: int | None = None) -> None:
        super().__init__()
        self.nfeatures = nfeatures
        self.dim = dim
        self.ndim = ndim

    def forward(self, input):
        if self.dim > input.dim() + 1:
            raise ValueError(f"Replicate cannot add dimension {self.dim} to a {input.dim()}D input")
        position = self.dim - 1 + (1 if self.ndim is not None and input.dim() > self.ndim else 0)
        sizes = list(input.shape)
        sizes.insert(position, self.nfeatures)
        return input.unsqueeze(position).expand(sizes)

    def extra_repr(self) -> str:
        return f"nfeatures={self.nfeatures}, dim={self.dim}, ndim={self.ndim}"


class Contiguous(torch.nn.Module):
    """``nn.Contiguous``: the input itself when contiguous, else a contiguous copy."""

    def forward(self, input):
        return input.contiguous()


class Copy(torch.nn.Module):
    """``nn.Copy(intype, outtype)``: a copy of the input converted to ``dtype`` (a torch dtype name such as
    ``"float64"``)."""

    def __init__(self, dtype: str) -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, input):
        return input.to(getattr(torch, self.dtype), copy=True)

    def extra_repr(self) -> str:
        return f"dtype={self.dtype!r}"
