"""Lua spatial pooling and resampling with THNN's exact window rules.

THNN differs from PyTorch in ceil mode: it drops a last window that starts
outside the input only when there is padding, so with ``pad = 0`` it keeps a
window lying wholly past the input (max pooling gives ``-THInf``, i.e. the
dtype's lowest finite value, average pooling ``0/0 = NaN``). Where both agree
the torch builtins run; otherwise the input is padded explicitly so every
THNN window exists. Every class imports only torch and math and is
self-contained (the standalone ``model.py`` export copies its source).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["SpatialAveragePooling", "SpatialMaxPooling", "SpatialUpSamplingNearest"]


class SpatialMaxPooling(torch.nn.Module):
    """``nn.SpatialMaxPooling(kW, kH, dW, dH, padW, padH)`` (``:ceil()`` sets ``ceil_mode``), and cudnn's.

    A window's maximum starts from ``-THInf`` (the lowest finite value of the
    dtype), so a window holding only ``-inf`` or nothing at all gives that value.
    """

    def __init__(
        self, kW: int, kH: int, dW: int, dH: int, padW: int = 0, padH: int = 0, ceil_mode: bool = False
    ) -> None:
        super().__init__()
        self.kW, self.kH, self.dW, self.dH = kW, kH, dW, dH
        self.padW, self.padH = padW, padH
        self.ceil_mode = ceil_mode

    def forward(self, input):
        height, width = input.shape[-2:]
        kernel, stride = (self.kH, self.kW), (self.dH, self.dW)
        out_h = self._output_size(height, self.kH, self.dH, self.padH)
        out_w = self._output_size(width, self.kW, self.dW, self.padW)
        if self._builtin_agrees(height, width, out_h, out_w):
            output = F.max_pool2d(input, kernel, stride, (self.padH, self.padW), ceil_mode=self.ceil_mode)
        else:
            pads = (
                self.padW,
                (out_w - 1) * self.dW + self.kW - width - self.padW,
                self.padH,
                (out_h - 1) * self.dH + self.kH - height - self.padH,
            )
            output = F.max_pool2d(F.pad(input, pads, value=float("-inf")), kernel, stride)
        return output.clamp_min(-torch.finfo(output.dtype).max)

    def _output_size(self, size: int, kernel: int, stride: int, pad: int) -> int:
        span = size - kernel + 2 * pad
        count = (-(-span // stride) if self.ceil_mode else span // stride) + 1
        if pad and (count - 1) * stride >= size + pad:
            count -= 1
        return count

    def _builtin_agrees(self, height: int, width: int, out_h: int, out_w: int) -> bool:
        """Whether torch's pooling (padding at most half the kernel, its own ceil rule) has THNN's windows."""
        return (
            2 * self.padH <= self.kH
            and 2 * self.padW <= self.kW
            and not (self.ceil_mode and self.padH == 0 and (out_h - 1) * self.dH >= height)
            and not (self.ceil_mode and self.padW == 0 and (out_w - 1) * self.dW >= width)
        )

    def extra_repr(self) -> str:
        return (
            f"kW={self.kW}, kH={self.kH}, dW={self.dW}, dH={self.dH}, padW={self.padW}, padH={self.padH}, "
            f"ceil_mode={self.ceil_mode}"
        )


class SpatialAveragePooling(torch.nn.Module):
    """``nn.SpatialAveragePooling(kW, kH, dW, dH, padW, padH)`` with ``ceil_mode``, ``count_include_pad``, ``divide``.

    The divisor of a window is its extent clipped to the input plus padding
    (``count_include_pad``, the default) or to the input alone; THNN's sizes
    are products of the clipped height and width, so an empty window gives
    ``0/0``. ``divide=False`` (checkpoints older than the field) gives window
    sums: Lua multiplies the average back by ``kW*kH``.
    """

    def __init__(
        self,
        kW: int,
        kH: int,
        dW: int,
        dH: int,
        padW: int = 0,
        padH: int = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divide: bool = True,
    ) -> None:
        super().__init__()
        self.kW, self.kH, self.dW, self.dH = kW, kH, dW, dH
        self.padW, self.padH = padW, padH
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divide = divide

    def forward(self, input):
        height, width = input.shape[-2:]
        kernel, stride = (self.kH, self.kW), (self.dH, self.dW)
        out_h = self._output_size(height, self.kH, self.dH, self.padH)
        out_w = self._output_size(width, self.kW, self.dW, self.padW)
        if self._builtin_agrees(height, width, out_h, out_w):
            output = F.avg_pool2d(input, kernel, stride, (self.padH, self.padW), self.ceil_mode, self.count_include_pad)
        else:
            pads = (
                self.padW,
                (out_w - 1) * self.dW + self.kW - width - self.padW,
                self.padH,
                (out_h - 1) * self.dH + self.kH - height - self.padH,
            )
            sums = F.avg_pool2d(F.pad(input, pads), kernel, stride, divisor_override=1)
            rows = self._divisors(out_h, height, self.kH, self.dH, self.padH)
            columns = self._divisors(out_w, width, self.kW, self.dW, self.padW)
            divisors = torch.tensor(rows, dtype=sums.dtype, device=sums.device)[:, None] * torch.tensor(
                columns, dtype=sums.dtype, device=sums.device
            )
            output = sums / divisors
        return output if self.divide else output * (self.kW * self.kH)

    def _output_size(self, size: int, kernel: int, stride: int, pad: int) -> int:
        span = size - kernel + 2 * pad
        count = (-(-span // stride) if self.ceil_mode else span // stride) + 1
        if pad and (count - 1) * stride >= size + pad:
            count -= 1
        return count

    def _builtin_agrees(self, height: int, width: int, out_h: int, out_w: int) -> bool:
        """Whether torch's pooling (padding at most half the kernel, its own ceil rule) has THNN's windows."""
        return (
            2 * self.padH <= self.kH
            and 2 * self.padW <= self.kW
            and not (self.ceil_mode and self.padH == 0 and (out_h - 1) * self.dH >= height)
            and not (self.ceil_mode and self.padW == 0 and (out_w - 1) * self.dW >= width)
        )

    def _divisors(self, count: int, size: int, kernel: int, stride: int, pad: int) -> list[int]:
        """THNN's divisor factor along one dimension for each of ``count`` windows."""
        factors = []
        for index in range(count):
            start = index * stride - pad
            end = min(start + kernel, size + pad)
            if not self.count_include_pad:
                start, end = max(start, 0), min(end, size)
            factors.append(end - start)
        return factors

    def extra_repr(self) -> str:
        return (
            f"kW={self.kW}, kH={self.kH}, dW={self.dW}, dH={self.dH}, padW={self.padW}, padH={self.padH}, "
            f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}, divide={self.divide}"
        )


class SpatialUpSamplingNearest(torch.nn.Module):
    """``nn.SpatialUpSamplingNearest(scale)``: repeat every pixel ``scale`` times along H and W (3-D or 4-D input)."""

    def __init__(self, scale_factor: int) -> None:
        super().__init__()
        self.scale_factor = scale_factor

    def forward(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(f"SpatialUpSamplingNearest only supports 3D or 4D tensors, got {input.dim()}D")
        return input.repeat_interleave(self.scale_factor, -2).repeat_interleave(self.scale_factor, -1)

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}"
