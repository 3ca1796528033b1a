"""torch/image's ``image.scale``, exactly: the resampling behind fb.resnet.torch's ``Scale`` and ``RandomSizedCrop``.

``image.scale`` (torch/image ``generic/image.c``) is separable: every row of every channel is
resampled to the new width into a temporary plane, then every column of that plane to the new
height. One axis pass (``scaleCubic_rowcol`` / ``scaleLinear_rowcol``) works as follows for a
``src``-long line written to a ``dst``-long line:

* equal lengths copy;
* bicubic: output ``di < dst-1`` samples the source at ``si = di*(src-1)/(dst-1)`` (float32,
  align-corners) with the Catmull-Rom cubic ``p1 + 0.5*x*(a1 + x*(a2 + x*a3))``; a missing left or
  right tap is linearly extrapolated (``p0 = 2*p1 - p2``, ``p3 = 2*p2 - p1``); the last output
  copies the last input; no antialiasing and no clamping. A 1-long source is repeated (C leaves the
  last output uninitialised; we repeat the source there as well); a 1-long output copies the last
  input sample;
* bilinear upscaling interpolates at the same align-corners positions; bilinear downscaling
  averages the box ``[di*src/dst, (di+1)*src/dst)`` with fractional end weights.

Each pass is linear in the source line, so it is precomputed once per ``(src, dst, mode)`` as
tap indices and float32 weights (derived from exactly the float32 positions C computes) and applied
as one fused gather-multiply-add per pass (``embedding_bag`` with per-sample weights over the rows
of a 2-D view). The result agrees with the C loops to a few float32 ulps (tested <= 1e-5; in
practice about 5e-7 at most on [0, 1] images).

Besides the whole-image :func:`image_scale`, :func:`scale_region` and :func:`region_plan` /
:func:`scale_region_width_major` compute only the output pixels a crop keeps, with the same taps
and operations (the evaluation fast paths in :mod:`zoo.data.torch7` and :mod:`zoo.data.pipeline`).

A script that never sets the default tensor type (fast-neural-style's ``fast_neural_style.lua``)
loads and scales ``torch.DoubleTensor`` images; :func:`image_scale_float64` is ``image.scale``'s
bilinear mode on such a tensor, operation for operation: the positions are still float32, an
upscale's two products and their sum are double, and a downscale accumulates its box in a float32
``acc`` and ``n`` (C declares them ``float``) before the float32 quotient is stored as a double.
:func:`max_side_size` is the size ``image.scale(img, size)`` gives when ``size`` is a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

__all__ = [
    "BYTE_TO_FLOAT",
    "MODES",
    "AxisPlan",
    "RegionPlan",
    "axis_plan",
    "float_planes",
    "image_scale",
    "image_scale_float64",
    "max_side_size",
    "region_plan",
    "scale_region",
    "scale_region_width_major",
]

MODES = ("bicubic", "bilinear")

# image.load(path, 3, 'float') multiplies bytes by the float32 value of the Lua number 1/255.
BYTE_TO_FLOAT = float(np.float32(1.0 / 255.0))


@dataclass(frozen=True)
class AxisPlan:
    """One axis pass of ``image.scale``: ``out[..., d] = sum_t weights[d, t] * src[..., index[d, t]]``.

    ``index`` is ``[dst, taps]`` int32, ``weights`` is ``[dst, taps]`` float32; unused taps have
    weight 0 and a valid index. ``identity`` marks the equal-length copy.
    """

    src_len: int
    dst_len: int
    index: torch.Tensor
    weights: torch.Tensor
    identity: bool = False

    def rows(self, start: int, stop: int) -> AxisPlan:
        """The plan restricted to outputs ``start:stop`` (what a crop keeps)."""
        if start == 0 and stop == self.dst_len:
            return self
        return AxisPlan(self.src_len, stop - start, self.index[start:stop], self.weights[start:stop], False)

    def source_span(self) -> tuple[int, int]:
        """Smallest ``[lo, hi)`` range of source indices with non-zero weight."""
        used = self.index[self.weights != 0]
        if used.numel() == 0:
            return 0, 1
        return int(used.min()), int(used.max()) + 1

    def shifted(self, offset: int, src_len: int) -> AxisPlan:
        """The plan for a source that starts ``offset`` samples later (a sliced source)."""
        index = (self.index - offset).clamp_(0, src_len - 1)
        return AxisPlan(src_len, self.dst_len, index, self.weights, False)


def _cubic_taps(src_len: int, dst_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Tap indices and weights of ``scaleCubic_rowcol`` (src_len != dst_len)."""
    index = np.zeros((dst_len, 4), dtype=np.int64)
    weights = np.zeros((dst_len, 4), dtype=np.float64)
    if src_len == 1:
        # C copies src[0] to outputs 0..dst-2 and leaves the last one unwritten; we copy it too.
        weights[:, 0] = 1.0
        return index, weights
    if dst_len == 1:
        scale = np.float32(src_len - 1)
    else:
        scale = np.float32(src_len - 1) / np.float32(dst_len - 1)
    positions = np.arange(dst_len - 1, dtype=np.float32) * scale  # float32 like C
    base = positions.astype(np.int64)  # (long) truncation; positions are >= 0
    frac = (positions - base.astype(np.float32)).astype(np.float64)
    x2, x3 = frac * frac, frac * frac * frac
    w0 = -0.5 * frac + x2 - 0.5 * x3
    w1 = 1.0 - 2.5 * x2 + 1.5 * x3
    w2 = 0.5 * frac + 2.0 * x2 - 1.5 * x3
    w3 = -0.5 * x2 + 0.5 * x3
    left = base == 0  # p0 = 2*p1 - p2
    w1 = np.where(left, w1 + 2.0 * w0, w1)
    w2 = np.where(left, w2 - w0, w2)
    w0 = np.where(left, 0.0, w0)
    right = base + 2 >= src_len  # p3 = 2*p2 - p1
    w2 = np.where(right, w2 + 2.0 * w3, w2)
    w1 = np.where(right, w1 - w3, w1)
    w3 = np.where(right, 0.0, w3)
    index[:-1] = base[:, None] + np.arange(-1, 3)[None, :]
    weights[:-1] = np.stack([w0, w1, w2, w3], axis=1)
    index[-1, 1] = src_len - 1
    weights[-1, 1] = 1.0
    np.clip(index, 0, src_len - 1, out=index)
    return index, weights


def _linear_taps(src_len: int, dst_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Tap indices and weights of ``scaleLinear_rowcol`` (src_len != dst_len)."""
    if dst_len > src_len:
        index = np.zeros((dst_len, 2), dtype=np.int64)
        weights = np.zeros((dst_len, 2), dtype=np.float64)
        if src_len == 1:
            weights[:, 0] = 1.0
            return index, weights
        scale = np.float32(src_len - 1) / np.float32(dst_len - 1)
        positions = np.arange(dst_len - 1, dtype=np.float32) * scale
        base = positions.astype(np.int64)
        frac = positions - base.astype(np.float32)
        index[:-1, 0] = base
        index[:-1, 1] = base + 1
        weights[:-1, 0] = np.float32(1) - frac
        weights[:-1, 1] = frac
        index[-1, 0] = src_len - 1
        weights[-1, 0] = 1.0
        np.clip(index, 0, src_len - 1, out=index)
        return index, weights
    # Box average with fractional ends; n is accumulated in float32 like C.
    scale = np.float32(src_len) / np.float32(dst_len)
    rows_index: list[list[int]] = []
    rows_weights: list[list[float]] = []
    start_i, start_f = 0, np.float32(0)
    for di in range(dst_len):
        end_pos = np.float32(di + 1) * scale
        end_i = int(end_pos)
        end_f = end_pos - np.float32(end_i)
        taps = [start_i, *list(range(start_i + 1, end_i))]
        coefficients = [np.float32(1) - start_f] + [np.float32(1)] * (end_i - start_i - 1)
        n = np.float32(1) - start_f
        for _ in range(start_i + 1, end_i):
            n = np.float32(n + np.float32(1))
        if end_i < src_len:
            taps.append(end_i)
            coefficients.append(end_f)
            n = np.float32(n + end_f)
        rows_index.append(taps)
        rows_weights.append([float(c) / float(n) for c in coefficients])
        start_i, start_f = end_i, end_f
    width = max(len(taps) for taps in rows_index)
    index = np.zeros((dst_len, width), dtype=np.int64)
    weights = np.zeros((dst_len, width), dtype=np.float64)
    for di, (taps, coefficients) in enumerate(zip(rows_index, rows_weights, strict=True)):
        index[di, : len(taps)] = taps
        weights[di, : len(taps)] = coefficients
    return index, weights


@lru_cache(maxsize=256)
def axis_plan(src_len: int, dst_len: int, mode: str) -> AxisPlan:
    """The cached interpolation plan for one axis of ``image.scale``."""
    if mode not in MODES:
        raise ValueError(f"image_scale: mode must be one of {MODES}, got {mode!r}")
    if src_len < 1 or dst_len < 1:
        raise ValueError(f"image_scale: lengths must be >= 1, got src={src_len} dst={dst_len}")
    if src_len == dst_len:
        index = torch.arange(dst_len, dtype=torch.int32).unsqueeze(1)
        return AxisPlan(src_len, dst_len, index, torch.ones(dst_len, 1), identity=True)
    taps = _cubic_taps if mode == "bicubic" else _linear_taps
    index, weights = taps(src_len, dst_len)
    return AxisPlan(
        src_len,
        dst_len,
        torch.from_numpy(index.astype(np.int32)),
        torch.from_numpy(weights.astype(np.float32)),
        False,
    )


def _apply_plan(source: torch.Tensor, plan: AxisPlan, dim: int) -> torch.Tensor:
    """Resample float32 ``source [C,H,W]`` along ``dim`` (2: rows/width, 1: columns/height) with ``plan``.

    Each pass is one fused gather-multiply-add (``embedding_bag`` with per-sample weights) over the
    leading axis of a 2-D view: the width pass works on the transposed image ``[W, C*H]``, the
    height pass on ``[C*H, W]`` with the channel offset added to the taps.
    """
    if plan.identity and source.shape[dim] == plan.dst_len:
        return source
    channels, height, width = source.shape
    source = source.contiguous()
    taps, weights = plan.index.to(source.device), plan.weights.to(source.device)
    if dim == 2:
        lines = source.view(channels * height, width).t().contiguous()  # [W, C*H]
        resampled = torch.nn.functional.embedding_bag(taps, lines, per_sample_weights=weights, mode="sum")
        return resampled.t().contiguous().view(channels, height, plan.dst_len)
    lines = source.view(channels * height, width)
    if channels > 1:
        offsets = torch.arange(channels, dtype=torch.int32, device=source.device).mul_(height).view(-1, 1, 1)
        taps = (taps.unsqueeze(0) + offsets).view(-1, taps.shape[1])
        weights = weights.repeat(channels, 1)
    resampled = torch.nn.functional.embedding_bag(taps, lines, per_sample_weights=weights, mode="sum")
    return resampled.view(channels, plan.dst_len, width)


def float_planes(img: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``img`` as float32 planes ``[C,H,W]`` (uint8 mapped to [0, 1] as ``image.load`` does) and whether it
    was ``[H,W]``."""
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor image [C,H,W] or [H,W], got {type(img).__name__}")
    if img.dim() not in (2, 3):
        raise ValueError(f"expected an image tensor [C,H,W] or [H,W], got shape {tuple(img.shape)}")
    squeeze = img.dim() == 2
    planes = img.unsqueeze(0) if squeeze else img
    if planes.dtype == torch.uint8:
        planes = planes.float().mul_(BYTE_TO_FLOAT)
    elif planes.dtype != torch.float32:
        planes = planes.float()
    return planes, squeeze


def image_scale(
    img: torch.Tensor,
    width: int | float,
    height: int | float,
    mode: str = "bicubic",
) -> torch.Tensor:
    """torch/image's ``image.scale(img, width, height, mode)`` on a float tensor ``[C,H,W]`` or ``[H,W]``.

    Torch's argument order: width first. Non-integral sizes are truncated and sizes below 1 become
    1, as ``image.scale`` does. A uint8 tensor is first mapped to [0, 1] as ``image.load`` does.
    The result is float32, not clamped (bicubic over- and undershoots), computed on ``img``'s
    device (only CPU is tested), and never shares memory with ``img``.
    """
    planes, squeeze = float_planes(img)
    dst_width = max(int(width), 1)
    dst_height = max(int(height), 1)
    rows_first = _apply_plan(planes, axis_plan(planes.shape[2], dst_width, mode), dim=2)
    result = _apply_plan(rows_first, axis_plan(planes.shape[1], dst_height, mode), dim=1)
    if result.data_ptr() == img.data_ptr():
        result = result.clone()
    return result.squeeze(0) if squeeze else result


def scale_region(
    img: torch.Tensor,
    width: int,
    height: int,
    mode: str,
    left: int,
    top: int,
    crop_width: int,
    crop_height: int,
) -> torch.Tensor:
    """``image_scale(img, width, height, mode)[..., top:top+crop_height, left:left+crop_width]``.

    Computes only the requested output pixels (and only the intermediate rows they read); every
    output pixel is computed with the same taps and operations as the full scale.
    ``img`` may be uint8 (mapped to [0, 1] as ``image.load`` does) or float32 ``[C,H,W]``.
    """
    if img.dim() != 3:
        raise ValueError(f"scale_region expects [C,H,W], got shape {tuple(img.shape)}")
    row_plan = axis_plan(img.shape[2], width, mode).rows(left, left + crop_width)
    column_plan = axis_plan(img.shape[1], height, mode).rows(top, top + crop_height)
    lo, hi = column_plan.source_span()
    source, _ = float_planes(img[:, lo:hi])
    rows_first = _apply_plan(source, row_plan, dim=2)
    result = _apply_plan(rows_first, column_plan.shifted(lo, hi - lo), dim=1)
    if result.data_ptr() == img.data_ptr():
        result = result.clone()
    return result


@dataclass(frozen=True)
class RegionPlan:
    """What a cropped ``image_scale`` needs: the source window and both axis passes restricted to the crop.

    ``rows``/``columns`` are the ``[lo, hi)`` source windows; ``row_taps``/``row_weights`` resample
    a width-major window (``[columns, rows, K]``) along its first axis to the crop's width, and
    ``column_taps``/``column_weights`` resample the result along the source rows to the crop's height.
    Tap indices are relative to the window and int32 (what ``embedding_bag`` wants).
    """

    rows: tuple[int, int]
    columns: tuple[int, int]
    row_taps: torch.Tensor
    row_weights: torch.Tensor
    column_taps: torch.Tensor
    column_weights: torch.Tensor


@lru_cache(maxsize=1024)
def region_plan(
    width: int,
    height: int,
    out_width: int,
    out_height: int,
    mode: str,
    left: int,
    top: int,
    crop_width: int,
    crop_height: int,
) -> RegionPlan:
    """The cached :class:`RegionPlan` for ``image_scale(img[W x H], out_width, out_height, mode)`` cropped
    to ``crop_width x crop_height`` at ``(left, top)``."""
    if left < 0 or top < 0 or left + crop_width > out_width or top + crop_height > out_height:
        raise ValueError(
            f"image.crop: crop {crop_width}x{crop_height} at ({left},{top}) goes outside the scaled "
            f"{out_width}x{out_height} image"
        )
    row_plan = axis_plan(width, out_width, mode).rows(left, left + crop_width)
    column_plan = axis_plan(height, out_height, mode).rows(top, top + crop_height)
    columns = row_plan.source_span()
    rows = column_plan.source_span()
    row_plan = row_plan.shifted(columns[0], columns[1] - columns[0])
    column_plan = column_plan.shifted(rows[0], rows[1] - rows[0])
    return RegionPlan(
        rows,
        columns,
        row_plan.index.to(torch.int32).contiguous(),
        row_plan.weights.contiguous(),
        column_plan.index.to(torch.int32).contiguous(),
        column_plan.weights.contiguous(),
    )


def _resample_leading_axis(source: torch.Tensor, taps: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``out[d] = sum_t weights[d, t] * source[taps[d, t]]`` over the first axis, as one fused gather."""
    lines = source.reshape(source.shape[0], -1)
    out = torch.nn.functional.embedding_bag(taps, lines, per_sample_weights=weights, mode="sum")
    return out.view((taps.shape[0], *tuple(source.shape[1:])))


def scale_region_width_major(window: torch.Tensor, plan: RegionPlan) -> torch.Tensor:
    """Scale-and-crop a width-major pixel window ``[columns, rows, K]`` (uint8 or float) -> ``[K, crop_h, crop_w]``.

    ``window`` must be the source restricted to ``plan.columns`` x ``plan.rows``. Rows are
    resampled first, then columns, as in ``image.scale``; uint8 is mapped to [0, 1] like
    ``image.load``. ``K`` = 4 (RGBX) makes both transposes moves of 16-byte pixels, which is
    what keeps this fast; the caller drops the padding channel.
    """
    if window.dtype == torch.uint8:
        window = window.float().mul_(BYTE_TO_FLOAT)
    _columns, rows, channels = window.shape
    row_resampled = _resample_leading_axis(window, plan.row_taps, plan.row_weights)  # [crop_w, rows, K]
    if channels == 4:  # move 16-byte pixels: a fast 2-D transpose
        row_major = row_resampled.view(torch.complex128).view(-1, rows).t().contiguous()
        row_major = row_major.view(torch.float32).view(rows, -1, channels)
    else:
        row_major = row_resampled.transpose(0, 1).contiguous()
    scaled = _resample_leading_axis(row_major, plan.column_taps, plan.column_weights)  # [crop_h, crop_w, K]
    return scaled.permute(2, 0, 1)


def max_side_size(width: int, height: int, size: int | float) -> tuple[int, int]:
    """``(width, height)`` of ``image.scale(img, size)`` for a number ``size``: the longer side becomes ``size``.

    Lua computes ``height = iheight*size/imax`` and ``width = iwidth*size/imax`` in double and the
    tensor constructor truncates them; a side below 1 becomes 1, as in :func:`image_scale`.
    """
    longest = max(width, height)
    return max(int(width * size / longest), 1), max(int(height * size / longest), 1)


def image_scale_float64(img: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``image.scale(img, width, height, 'bilinear')`` on a ``torch.DoubleTensor`` ``[C,H,W]``: float64 in and out.

    Rows first, then columns, as ``Main_scaleBilinear`` does; see the module docstring for the
    precision of each operation. CPU only.
    """
    if not isinstance(img, torch.Tensor) or img.dtype != torch.float64 or img.dim() != 3:
        found = f"{img.dtype} {tuple(img.shape)}" if isinstance(img, torch.Tensor) else type(img).__name__
        raise ValueError(f"image_scale_float64 expects a float64 tensor [C,H,W], got {found}")
    planes = img.detach().cpu().numpy()
    rows_first = _linear_pass_float64(planes, max(int(width), 1))
    columns = _linear_pass_float64(np.ascontiguousarray(rows_first.swapaxes(1, 2)), max(int(height), 1))
    return torch.from_numpy(np.ascontiguousarray(columns.swapaxes(1, 2)))


def _linear_pass_float64(lines: np.ndarray, dst_len: int) -> np.ndarray:
    """``scaleLinear_rowcol`` with ``real`` = double along the last axis of ``lines`` (float64)."""
    src_len = lines.shape[-1]
    if src_len == dst_len:
        return lines.copy()
    if dst_len > src_len:  # (1 - si_f) * a + si_f * b in double, with C's float32 si_f (the plan's weights)
        plan = axis_plan(src_len, dst_len, "bilinear")
        index = plan.index.numpy().astype(np.intp)
        weights = plan.weights.numpy().astype(np.float64)
        return lines[..., index[:, 0]] * weights[:, 0] + lines[..., index[:, 1]] * weights[:, 1]
    scale = np.float32(src_len) / np.float32(dst_len)
    ends = np.arange(1, dst_len + 1, dtype=np.float32) * scale
    end_index = ends.astype(np.int64)
    end_frac = ends - end_index.astype(np.float32)
    start_index = np.concatenate([[0], end_index[:-1]])
    start_frac = np.concatenate([[np.float32(0)], end_frac[:-1]]).astype(np.float32)
    last = src_len - 1
    # float acc = (1 - si0_f) * src[si0_i]; float n = 1 - si0_f
    acc = ((np.float32(1) - start_frac).astype(np.float64) * lines[..., np.minimum(start_index, last)]).astype(
        np.float32
    )
    n = np.float32(1) - start_frac
    middle = end_index - start_index - 1
    for step in range(1, int(middle.max(initial=0)) + 1):  # acc += src[si]; n += 1 (a zero term leaves acc as is)
        inside = middle >= step
        term = np.where(inside, lines[..., np.minimum(start_index + step, last)], 0.0)
        acc = (acc.astype(np.float64) + term).astype(np.float32)
        n = np.where(inside, n + np.float32(1), n).astype(np.float32)
    inside = end_index < src_len  # acc += si1_f * src[si1_i]; n += si1_f
    term = np.where(inside, end_frac.astype(np.float64) * lines[..., np.minimum(end_index, last)], 0.0)
    acc = (acc.astype(np.float64) + term).astype(np.float32)
    n = np.where(inside, n + end_frac, n).astype(np.float32)
    return (acc / n).astype(np.float64)
