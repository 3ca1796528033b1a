"""An independent, loop-by-loop transcription of torch/image's ``generic/image.c`` scaling for FloatTensors
(and, for a float64 image, the bilinear mode on a DoubleTensor).

Written from the C source (``scaleCubic_rowcol``, ``scaleLinear_rowcol``, ``Main_scaleBicubic``,
``Main_scaleBilinear``), not from ``zoo.data``. The loop over output positions is literal; the
work across the other axis (all rows or all columns of a plane) is a numpy float32 vector, which
keeps every operation in the precision C uses: ``real`` is float, ``temp_t`` is float, and the
``0.5`` literal in ``cubicInterpolate`` promotes ``0.5 * x * (...)`` and the final addition to
double before the result is stored back as float.
"""

from __future__ import annotations

import numpy as np

f32 = np.float32


def cubic_interpolate(p0, p1, p2, p3, x):
    """``image_(Main_cubicInterpolate)`` with temp_t = float; p* are float32 arrays, x a float32 scalar."""
    a0 = p1
    a1 = p2 - p0
    a2 = f32(2) * p0 - f32(5) * p1 + f32(4) * p2 - p3
    a3 = f32(3) * (p1 - p2) + p3 - p0
    inner = a1 + x * (a2 + x * a3)  # float
    value = a0.astype(np.float64) + (0.5 * np.float64(x)) * inner.astype(np.float64)  # double
    return value.astype(np.float32)


def scale_cubic_rowcol(src: np.ndarray, dst: np.ndarray) -> None:
    """Resample the last axis of float32 ``src [lines, src_len]`` into ``dst [lines, dst_len]``."""
    src_len, dst_len = src.shape[1], dst.shape[1]
    if dst_len == src_len:
        for i in range(dst_len):
            dst[:, i] = src[:, i]
    elif src_len == 1:
        for i in range(dst_len - 1):
            dst[:, i] = src[:, 0]
        # C leaves dst[:, dst_len-1] unwritten (uninitialised memory); callers decide.
    else:
        if dst_len == 1:
            scale = f32(src_len - 1)
        else:
            scale = f32(src_len - 1) / f32(dst_len - 1)
        for di in range(dst_len - 1):
            si_f = f32(di) * scale
            si_i = int(si_f)
            si_f = f32(si_f - f32(si_i))
            p1 = src[:, si_i]
            p2 = src[:, si_i + 1]
            p0 = src[:, si_i - 1] if si_i > 0 else f32(2) * p1 - p2
            p3 = src[:, si_i + 2] if si_i + 2 < src_len else f32(2) * p2 - p1
            dst[:, di] = cubic_interpolate(p0, p1, p2, p3, si_f)
        dst[:, dst_len - 1] = src[:, src_len - 1]


def scale_linear_rowcol(src: np.ndarray, dst: np.ndarray) -> None:
    """``scaleLinear_rowcol`` along the last axis, ``real`` = ``src``'s dtype.

    float32 throughout for a FloatTensor. For a DoubleTensor (float64 ``src``) the products with ``src``
    and the upscale sums are double while ``scale``, ``si_f``, ``acc`` and ``n`` stay float (C declares
    them so): numpy promotes a float32 scalar times a float64 array to float64, and ``acc`` is stored back
    as float32 after every addition.
    """
    src_len, dst_len = src.shape[1], dst.shape[1]
    if dst_len > src_len:
        scale = f32(src_len - 1) / f32(dst_len - 1)
        if src_len == 1:
            for di in range(dst_len - 1):
                dst[:, di] = src[:, 0]
        else:
            for di in range(dst_len - 1):
                si_f = f32(di) * scale
                si_i = int(si_f)
                si_f = f32(si_f - f32(si_i))
                dst[:, di] = (f32(1) - si_f) * src[:, si_i] + si_f * src[:, si_i + 1]
        dst[:, dst_len - 1] = src[:, src_len - 1]
    elif dst_len < src_len:
        si0_i, si0_f = 0, f32(0)
        scale = f32(src_len) / f32(dst_len)
        for di in range(dst_len):
            si1_f = f32(di + 1) * scale
            si1_i = int(si1_f)
            si1_f = f32(si1_f - f32(si1_i))
            acc = ((f32(1) - si0_f) * src[:, si0_i]).astype(f32)
            n = f32(1) - si0_f
            for si in range(si0_i + 1, si1_i):
                acc = (acc + src[:, si]).astype(f32)
                n = f32(n + f32(1))
            if si1_i < src_len:
                acc = (acc + si1_f * src[:, si1_i]).astype(f32)
                n = f32(n + si1_f)
            dst[:, di] = acc / n
            si0_i, si0_f = si1_i, si1_f
    else:
        for i in range(dst_len):
            dst[:, i] = src[:, i]


def reference_scale(img: np.ndarray, width: int, height: int, mode: str) -> np.ndarray:
    """``image.scale(img, width, height, mode)`` for a float32 ``[C,H,W]`` array (a float64 one in bilinear mode:
    a DoubleTensor, result float64).

    Rows of each channel go into a temporary ``[src_height, dst_width]`` plane, then its columns
    into the destination. The slots C leaves unwritten (1-pixel sources upscaled bicubically) are
    filled with NaN so that a test can see exactly where they are.
    """
    rowcol = scale_cubic_rowcol if mode == "bicubic" else scale_linear_rowcol
    real = np.float64 if mode == "bilinear" and np.asarray(img).dtype == np.float64 else np.float32
    img = np.asarray(img, dtype=real)
    channels, src_height, _src_width = img.shape
    result = np.full((channels, height, width), np.nan, dtype=real)
    for k in range(channels):
        tmp = np.full((src_height, width), np.nan, dtype=real)
        rowcol(img[k], tmp)
        column_major = np.full((width, height), np.nan, dtype=real)
        rowcol(np.ascontiguousarray(tmp.T), column_major)
        result[k] = column_major.T
    return result
