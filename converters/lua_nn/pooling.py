"""Lua pooling and resampling with THNN's exact window rules: Spatial/Volumetric max and average pooling,
adaptive max pooling, nearest and bilinear upsampling.

THNN differs from PyTorch in ceil mode: it drops a last window that starts
outside the input only when there is padding, so with ``pad = 0`` it keeps a
window lying wholly past the input (max pooling gives ``-THInf``, i.e. the
dtype's lowest finite value, average pooling ``0/0 = NaN``). Where both agree
the torch builtins run; otherwise the input is padded explicitly so every
THNN window exists (:class:`_ThnnWindows`, the one home of that rule). Every
class imports only torch and math and is self-contained but for that base
class (the standalone ``model.py`` export copies the source of both).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "SpatialAdaptiveMaxPooling",
    "SpatialAveragePooling",
    "SpatialMaxPooling",
    "SpatialUpSamplingBilinear",
    "SpatialUpSamplingNearest",
    "VolumetricMaxPooling",
]


class _ThnnWindows(torch.nn.Module):
    """THNN's pooling windows (``ceil_mode`` and the padding rule), for the max and average pooling classes."""

    ceil_mode: bool

    def _windows(self, sizes, kernel, stride, padding) -> tuple[list[int], list[int] | None]:
        """The window count along each dimension, and ``F.pad``'s pads (last dimension first) that make every
        THNN window exist, or None where torch's pooling (padding at most half the kernel, always dropping a last
        window that starts past the padded input) has THNN's windows."""
        padded = any(padding)
        dims = list(zip(sizes, kernel, stride, padding, strict=True))
        counts = [self._window_count(size, k, d, pad, padded) for size, k, d, pad in dims]
        kept = self.ceil_mode and not padded  # THNN keeps a last window starting past the input
        if all(2 * pad <= k for _, k, _, pad in dims) and not (
            kept and any((count - 1) * d >= size for (size, _, d, _), count in zip(dims, counts, strict=True))
        ):
            return counts, None
        pads = []
        for (size, k, d, pad), count in reversed(list(zip(dims, counts, strict=True))):
            pads += [pad, (count - 1) * d + k - size - pad]
        return counts, pads

    def _window_count(self, size: int, kernel: int, stride: int, pad: int, padded: bool) -> int:
        """THNN's window count: a last window starting past the padded input is dropped only when some dimension
        (not necessarily this one) is ``padded``."""
        span = size - kernel + 2 * pad
        count = (-(-span // stride) if self.ceil_mode else span // stride) + 1
        if padded and (count - 1) * stride >= size + pad:
            count -= 1
        return count


class SpatialMaxPooling(_ThnnWindows):
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
        kernel, stride, padding = (self.kH, self.kW), (self.dH, self.dW), (self.padH, self.padW)
        _, pads = self._windows(input.shape[-2:], kernel, stride, padding)
        if pads is None:
            output = F.max_pool2d(input, kernel, stride, padding, ceil_mode=self.ceil_mode)
        else:
            output = F.max_pool2d(F.pad(input, pads, value=float("-inf")), kernel, stride)
        return output.clamp_min(-torch.finfo(output.dtype).max)

    def extra_repr(self) -> str:
        return (
            f"kW={self.kW}, kH={self.kH}, dW={self.dW}, dH={self.dH}, padW={self.padW}, padH={self.padH}, "
            f"ceil_mode={self.ceil_mode}"
        )


class SpatialAveragePooling(_ThnnWindows):
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
        kernel, stride, padding = (self.kH, self.kW), (self.dH, self.dW), (self.padH, self.padW)
        (out_h, out_w), pads = self._windows((height, width), kernel, stride, padding)
        if pads is None:
            output = F.avg_pool2d(input, kernel, stride, padding, self.ceil_mode, self.count_include_pad)
        else:
            sums = F.avg_pool2d(F.pad(input, pads), kernel, stride, divisor_override=1)
            rows = self._divisors(out_h, height, self.kH, self.dH, self.padH)
            columns = self._divisors(out_w, width, self.kW, self.dW, self.padW)
            divisors = torch.tensor(rows, dtype=sums.dtype, device=sums.device)[:, None] * torch.tensor(
                columns, dtype=sums.dtype, device=sums.device
            )
            output = sums / divisors
        return output if self.divide else output * (self.kW * self.kH)

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


class VolumetricMaxPooling(_ThnnWindows):
    """``nn.VolumetricMaxPooling(kT, kW, kH, dT, dW, dH, padT, padW, padH)`` (``:ceil()`` sets ``ceil_mode``) on
    (C, T, H, W) or (N, C, T, H, W) input, with THNN's window rule (see :class:`SpatialMaxPooling`)."""

    def __init__(
        self,
        kT: int,
        kW: int,
        kH: int,
        dT: int,
        dW: int,
        dH: int,
        padT: int = 0,
        padW: int = 0,
        padH: int = 0,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kT, self.kW, self.kH, self.dT, self.dW, self.dH = kT, kW, kH, dT, dW, dH
        self.padT, self.padW, self.padH = padT, padW, padH
        self.ceil_mode = ceil_mode

    def forward(self, input):
        kernel, stride = (self.kT, self.kH, self.kW), (self.dT, self.dH, self.dW)
        padding = (self.padT, self.padH, self.padW)
        _, pads = self._windows(input.shape[-3:], kernel, stride, padding)
        if pads is None:
            output = F.max_pool3d(input, kernel, stride, padding, ceil_mode=self.ceil_mode)
        else:
            output = F.max_pool3d(F.pad(input, pads, value=float("-inf")), kernel, stride)
        return output.clamp_min(-torch.finfo(output.dtype).max)

    def extra_repr(self) -> str:
        return (
            f"kT={self.kT}, kW={self.kW}, kH={self.kH}, dT={self.dT}, dW={self.dW}, dH={self.dH}, "
            f"padT={self.padT}, padW={self.padW}, padH={self.padH}, ceil_mode={self.ceil_mode}"
        )


class SpatialAdaptiveMaxPooling(torch.nn.Module):
    """``nn.SpatialAdaptiveMaxPooling(W, H)``: max pooling to an (H, W) output (note W first, as in Lua).

    THNN's window ``i`` of ``n`` over ``size`` inputs runs from
    ``floor(float(i) / n * size)`` to ``ceil(float(i + 1) / n * size)``,
    computed in single precision, which sometimes gives a window one element
    longer than ``torch.nn.AdaptiveMaxPool2d``'s exact integer bounds (e.g.
    13 -> 13); the builtin runs only where both agree.
    """

    def __init__(self, W: int, H: int) -> None:
        super().__init__()
        self.W = W
        self.H = H

    def forward(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(f"SpatialAdaptiveMaxPooling expects a 3D or 4D input, got {input.dim()}D")
        height, width = input.shape[-2:]
        rows, columns = self._windows(self.H, height), self._windows(self.W, width)
        if rows == self._exact_windows(self.H, height) and columns == self._exact_windows(self.W, width):
            return F.adaptive_max_pool2d(input, (self.H, self.W))
        pooled_rows = torch.stack([input[..., start:end, :].amax(-2) for start, end in rows], -2)
        return torch.stack([pooled_rows[..., start:end].amax(-1) for start, end in columns], -1)

    @staticmethod
    def _windows(count: int, size: int) -> list[tuple[int, int]]:
        positions = torch.arange(count + 1, dtype=torch.float32, device="cpu") / count * size
        starts, ends = positions[:-1].floor(), positions[1:].ceil()
        return [(int(start), int(end)) for start, end in zip(starts.tolist(), ends.tolist(), strict=True)]

    @staticmethod
    def _exact_windows(count: int, size: int) -> list[tuple[int, int]]:
        return [(index * size // count, -(-(index + 1) * size // count)) for index in range(count)]

    def extra_repr(self) -> str:
        return f"W={self.W}, H={self.H}"


class SpatialUpSamplingBilinear(torch.nn.Module):
    """``nn.SpatialUpSamplingBilinear(scale_factor)`` or ``({oheight=, owidth=})``: bilinear upsampling of 3-D or
    4-D input with aligned corners, to ``(H * scale_factor, W * scale_factor)`` or ``(oheight, owidth)``."""

    def __init__(self, scale_factor: int | None = None, oheight: int | None = None, owidth: int | None = None) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.oheight = oheight
        self.owidth = owidth

    def forward(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(f"SpatialUpSamplingBilinear only supports 3D or 4D tensors, got {input.dim()}D")
        batch = input.unsqueeze(0) if input.dim() == 3 else input
        if self.scale_factor is None:
            size = (self.oheight, self.owidth)
        else:
            size = (batch.size(2) * self.scale_factor, batch.size(3) * self.scale_factor)
        output = F.interpolate(batch, size=size, mode="bilinear", align_corners=True)
        return output.squeeze(0) if input.dim() == 3 else output

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, oheight={self.oheight}, owidth={self.owidth}"
