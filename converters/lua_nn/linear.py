"""Lua layers with weights that no torch builtin computes the Lua way: TemporalConvolution (channels last),
Bilinear (a table input), Euclidean (distances), LookupTable (1-based indices).

Every class imports only torch and is self-contained (the standalone
``model.py`` export copies its source); parameters keep the shapes Lua
stores, constructor arguments are plain literals.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["Bilinear", "Euclidean", "LookupTable", "TemporalConvolution"]


class TemporalConvolution(torch.nn.Module):
    """``nn.TemporalConvolution(inputFrameSize, outputFrameSize, kW, dW)`` over (T, inputFrameSize) frames or a
    batch (N, T, inputFrameSize) of them: channels last.

    ``weight`` is Lua's 2-D (outputFrameSize, kW * inputFrameSize) in
    time-major order (frame 1's inputs, then frame 2's, ...): each output frame
    is ``weight @ (kW consecutive input frames, flattened) + bias``. ``pad``
    zero-pads both ends of time first (``cudnn.TemporalConvolution``'s ``padH``).
    """

    def __init__(self, input_frame_size: int, output_frame_size: int, kW: int, dW: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.input_frame_size = input_frame_size
        self.output_frame_size = output_frame_size
        self.kW, self.dW, self.pad = kW, dW, pad
        self.weight = torch.nn.Parameter(torch.empty(output_frame_size, kW * input_frame_size))
        self.bias = torch.nn.Parameter(torch.zeros(output_frame_size))

    def forward(self, input):
        if input.dim() not in (2, 3) or input.size(-1) != self.input_frame_size:
            raise ValueError(
                f"TemporalConvolution expects (T, {self.input_frame_size}) or (N, T, {self.input_frame_size}) "
                f"input, got {tuple(input.shape)}"
            )
        if self.pad:
            input = F.pad(input, (0, 0, self.pad, self.pad))
        windows = input.unfold(-2, self.kW, self.dW)  # (..., T', inputFrameSize, kW)
        frames = windows.transpose(-2, -1).reshape(*windows.shape[:-2], self.kW * self.input_frame_size)
        return F.linear(frames, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"input_frame_size={self.input_frame_size}, output_frame_size={self.output_frame_size}, "
            f"kW={self.kW}, dW={self.dW}, pad={self.pad}"
        )


class Bilinear(torch.nn.Module):
    """``nn.Bilinear(inputSize1, inputSize2, outputSize, bias)`` on a list ``[x1, x2]`` of (N, in1), (N, in2):
    ``y[:, k] = x1 @ weight[k] @ x2^T (row by row) + bias[k]``, with Lua's (out, in1, in2) ``weight``."""

    def __init__(self, input_size1: int, input_size2: int, output_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size1, self.input_size2, self.output_size = input_size1, input_size2, output_size
        self.weight = torch.nn.Parameter(torch.empty(output_size, input_size1, input_size2))
        if bias:
            self.bias = torch.nn.Parameter(torch.zeros(output_size))
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        first, second = input
        if first.dim() != 2 or second.dim() != 2:
            raise ValueError(f"Bilinear expects two 2D tensors, got {first.dim()}D and {second.dim()}D")
        return F.bilinear(first, second, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"input_size1={self.input_size1}, input_size2={self.input_size2}, output_size={self.output_size}, "
            f"bias={self.bias is not None}"
        )


class Euclidean(torch.nn.Module):
    """``nn.Euclidean(inputSize, outputSize)``: ``y[j] = ||x - weight[:, j]||_2`` for a 1-D input or each row of a
    2-D one; ``weight`` is (inputSize, outputSize), transposed with respect to ``nn.Linear``'s."""

    def __init__(self, input_size: int, output_size: int) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, output_size
        self.weight = torch.nn.Parameter(torch.empty(input_size, output_size))

    def forward(self, input):
        if input.dim() not in (1, 2):
            raise ValueError(f"Euclidean expects a 1D or 2D input, got {input.dim()}D")
        return (input.unsqueeze(-1) - self.weight).norm(dim=-2)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, output_size={self.output_size}"


class LookupTable(torch.nn.Module):
    """``nn.LookupTable(nIndex, nOutput, paddingValue, maxNorm, normType)``: rows of ``weight`` for 1-based indices.

    The input is a 1-D or 2-D tensor of indices; floating indices are
    truncated to integers, as Lua's copy into a LongTensor does. With
    ``max_norm`` each looked-up row whose ``norm_type``-norm exceeds it is
    rescaled in place first, as Lua's ``renorm`` does. Rows at index
    ``padding_value`` get no gradient (``0``: none).
    """

    def __init__(
        self,
        n_index: int,
        n_output: int,
        padding_value: int = 0,
        max_norm: float | None = None,
        norm_type: float = 2.0,
    ) -> None:
        super().__init__()
        self.n_index, self.n_output = n_index, n_output
        self.padding_value = padding_value
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.weight = torch.nn.Parameter(torch.empty(n_index, n_output))

    def forward(self, input):
        if input.dim() not in (1, 2):
            raise ValueError(f"LookupTable expects a vector or matrix of indices, got {input.dim()}D")
        indices = input.to(torch.int64) - 1
        if indices.numel() and (indices.min() < 0 or indices.max() >= self.n_index):
            raise IndexError(f"LookupTable indices must be within 1..{self.n_index}")
        padding = self.padding_value - 1 if 1 <= self.padding_value <= self.n_index else None
        return F.embedding(indices, self.weight, padding, self.max_norm, self.norm_type)

    def extra_repr(self) -> str:
        return (
            f"n_index={self.n_index}, n_output={self.n_output}, padding_value={self.padding_value}, "
            f"max_norm={self.max_norm!r}, norm_type={self.norm_type!r}"
        )
