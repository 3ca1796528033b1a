"""fast_neural_style.lua's image path, transcribed independently of ``zoo.style`` for the tests.

Written from fast-neural-style's ``fast_neural_style.lua``, ``fast_neural_style/preprocess.lua`` and
``fast_neural_style/utils.lua`` and torch/image's ``init.lua`` / ``generic/image.c`` /
``generic/png.c``, with numpy doing each operation in the precision Lua and C use:

* ``image.load(path, 3)`` into the default DoubleTensor: ``byte * (1/255)`` in double;
* ``image.scale(img, size)``: ``height = iheight*size/imax``, ``width = iwidth*size/imax`` (truncated by
  the tensor constructor), then ``scaleBilinear`` on a DoubleTensor (``data/reference_image_c.py``);
* preprocess in double, then ``:type('torch.FloatTensor')``; deprocess in float;
* ``utils.median_filter``: ``unfold`` twice (no padding) and ``median`` (the lower one);
* ``image.save``: copy to double, ``saturate`` to [0, 1], ``mul(255)``, stored into ``png_byte``.
"""

from __future__ import annotations

import numpy as np
from data.reference_image_c import reference_scale

f32 = np.float32
VGG_MEAN = (103.939, 116.779, 123.68)
RESNET_MEAN = (0.485, 0.456, 0.406)
RESNET_STD = (0.229, 0.224, 0.225)


def load_double(pixels: np.ndarray) -> np.ndarray:
    """``image.load`` of uint8 ``[3,H,W]`` into a DoubleTensor."""
    return pixels.astype(np.float64) * (1 / 255)


def scale_to_max_side(img: np.ndarray, size: int) -> np.ndarray:
    """``image.scale(img, size)`` on a DoubleTensor (mode: bilinear, the default)."""
    iheight, iwidth = img.shape[1:]
    imax = max(iwidth, iheight)
    height = iheight * size / imax
    width = iwidth * size / imax
    return reference_scale(img, int(width), int(height), "bilinear")


def preprocess(img: np.ndarray, method: str) -> np.ndarray:
    """``preprocess[method].preprocess(img:view(1, 3, H, W))`` in double, then ``:type('torch.FloatTensor')``."""
    batch = img[None]
    if method == "vgg":
        mean = np.array(VGG_MEAN).reshape(1, 3, 1, 1)
        result = batch[:, [2, 1, 0]] * 255 + (-1) * mean  # index(2, {3,2,1}):mul(255):add(-1, mean)
    else:
        mean = np.array(RESNET_MEAN).reshape(1, 3, 1, 1)
        std = np.array(RESNET_STD).reshape(1, 3, 1, 1)
        result = (batch - mean) / std
    return result.astype(f32)


def deprocess(out: np.ndarray, method: str) -> np.ndarray:
    """``preprocess[method].deprocess(img)`` on a float ``[1,3,H,W]``, in float."""
    out = out.astype(f32)
    if method == "vgg":
        mean = np.array(VGG_MEAN, dtype=f32).reshape(1, 3, 1, 1)
        return ((out + mean) / f32(255))[:, [2, 1, 0]]
    mean = np.array(RESNET_MEAN, dtype=f32).reshape(1, 3, 1, 1)
    std = np.array(RESNET_STD, dtype=f32).reshape(1, 3, 1, 1)
    return out * std + mean


def median_filter(img: np.ndarray, r: int) -> np.ndarray:
    """``utils.median_filter(img, r)``: per output pixel, the ((r*r-1)//2 + 1)-th smallest of its window."""
    channels, height, width = img.shape
    out = np.empty((channels, height - r + 1, width - r + 1), dtype=img.dtype)
    for c in range(channels):
        for y in range(height - r + 1):
            for x in range(width - r + 1):
                window = np.sort(img[c, y : y + r, x : x + r].reshape(-1))
                out[c, y, x] = window[(r * r - 1) // 2]
    return out


def save_bytes(img: np.ndarray) -> np.ndarray:
    """``image.save``'s bytes of a float ``[3,H,W]``: double copy, saturate, ``mul(255)``, C cast to ``png_byte``."""
    values = img.astype(np.float64)
    values = np.where(values < 0, 0.0, np.where(values > 1, 1.0, values)) * 255
    return values.astype(np.uint8)  # truncation toward zero, as (png_byte) of a double in [0, 255]
