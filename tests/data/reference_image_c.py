"""An independent, loop-by-loop transcription of torch/image's ``generic/image.c`` scaling for FloatTensors
(and, in ``scale_bilinear_double``, the bilinear mode for DoubleTensors).

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
    """``scaleLinear_rowcol`` along the last axis, float32 throughout."""
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
            acc = (f32(1) - si0_f) * src[:, si0_i]
            n = f32(1) - si0_f
            for si in range(si0_i + 1, si1_i):
                acc = acc + src[:, si]
                n = f32(n + f32(1))
            if si1_i < src_len:
                acc = acc + si1_f * src[:, si1_i]
                n = f32(n + si1_f)
            dst[:, di] = acc / n
            si0_i, si0_f = si1_i, si1_f
    else:
        for i in range(dst_len):
            dst[:, i] = src[:, i]


def reference_scale(img: np.ndarray, width: int, height: int, mode: str) -> np.ndarray:
    """``image.scale(img, width, height, mode)`` for a float32 ``[C,H,W]`` array.

    Rows of each channel go into a temporary ``[src_height, dst_width]`` plane, then its columns
    into the destination. The slots C leaves unwritten (1-pixel sources upscaled bicubically) are
    filled with NaN so that a test can see exactly where they are.
    """
    rowcol = scale_cubic_rowcol if mode == "bicubic" else scale_linear_rowcol
    img = np.asarray(img, dtype=np.float32)
    channels, src_height, _src_width = img.shape
    result = np.full((channels, height, width), np.nan, dtype=np.float32)
    for k in range(channels):
        tmp = np.full((src_height, width), np.nan, dtype=np.float32)
        rowcol(img[k], tmp)
        column_major = np.full((width, height), np.nan, dtype=np.float32)
        rowcol(np.ascontiguousarray(tmp.T), column_major)
        result[k] = column_major.T
    return result


def scale_linear_rowcol_double(src: np.ndarray, dst_len: int) -> np.ndarray:
    """``scaleLinear_rowcol`` with real = double along the last axis of ``src [lines, src_len]``.

    ``si_f``, ``scale``, ``acc`` and ``n`` stay float (C declares them so); products with ``src`` are double.
    """
    lines, src_len = src.shape
    dst = np.zeros((lines, dst_len), dtype=np.float64)
    if dst_len > src_len:
        scale = f32(src_len - 1) / f32(dst_len - 1)
        for di in range(dst_len - 1):
            if src_len == 1:
                dst[:, di] = src[:, 0]
                continue
            si_f = f32(di) * scale
            si_i = int(si_f)
            si_f = f32(si_f - f32(si_i))
            # (1 - si_f) * src[a] + si_f * src[b]: float factors, double products and sum
            dst[:, di] = np.float64(f32(1) - si_f) * src[:, si_i] + np.float64(si_f) * src[:, si_i + 1]
        dst[:, dst_len - 1] = src[:, src_len - 1]
    elif dst_len < src_len:
        si0_i, si0_f = 0, f32(0)
        scale = f32(src_len) / f32(dst_len)
        for di in range(dst_len):
            si1_f = f32(di + 1) * scale
            si1_i = int(si1_f)
            si1_f = f32(si1_f - f32(si1_i))
            acc = (np.float64(f32(1) - si0_f) * src[:, si0_i]).astype(f32)  # float acc
            n = f32(1) - si0_f
            for si in range(si0_i + 1, si1_i):
                acc = (acc.astype(np.float64) + src[:, si]).astype(f32)
                n = f32(n + f32(1))
            if si1_i < src_len:
                acc = (acc.astype(np.float64) + np.float64(si1_f) * src[:, si1_i]).astype(f32)
                n = f32(n + si1_f)
            dst[:, di] = (acc / n).astype(f32)
            si0_i, si0_f = si1_i, si1_f
    else:
        dst[:] = src
    return dst


def scale_bilinear_double(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """``scaleBilinear`` of a double ``[C,H,W]``: rows to ``width`` into a temporary plane, then its columns."""
    planes = []
    for plane in img:
        rows = scale_linear_rowcol_double(plane, width)  # [H, width]
        planes.append(scale_linear_rowcol_double(np.ascontiguousarray(rows.T), height).T)
    return np.stack(planes)
