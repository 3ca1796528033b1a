"""Torch7-faithful image preprocessing: fb.resnet.torch's transforms on torch/image's operations.

The published DenseNet errors were measured with fb.resnet.torch's validation pipeline
``Compose{Scale(256), ColorNormalize(meanstd), CenterCrop(224)}`` on images loaded by
``image.load(path, 3, 'float')``. This module reproduces it on float tensors ``[C, H, W]``;
the resampling itself, torch/image's ``image.scale``, is :mod:`zoo.data.image_scale`.

Because every output pixel of ``image.scale`` depends only on its own taps,
:class:`ValidationTransform` computes only the pixels that survive the centre crop; that is
exact, not an approximation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch

from zoo.data.image_scale import BYTE_TO_FLOAT, MODES, float_planes, image_scale, scale_region

__all__ = [
    "BYTE_TO_FLOAT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MODES",
    "CenterCrop",
    "ColorNormalize",
    "Compose",
    "Scale",
    "TenCrop",
    "ValidationTransform",
    "center_offsets",
    "hflip",
    "image_crop",
    "image_scale",
    "scaled_size",
    "validation_transform",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def scaled_size(width: int, height: int, size: int) -> tuple[int, int] | None:
    """Output ``(width, height)`` of fb.resnet.torch's ``Scale(size)``, or None when it returns the input.

    Lua: unchanged if the short side already equals ``size``; else the short side becomes ``size``
    and the long side ``long/short*size`` (a double), which ``image.scale`` truncates.
    """
    if (width <= height and width == size) or (height <= width and height == size):
        return None
    if width < height:
        return size, max(int(height / width * size), 1)
    return max(int(width / height * size), 1), size


def image_crop(img: torch.Tensor, x1: int, y1: int, x2: int, y2: int) -> torch.Tensor:
    """torch/image's ``image.crop(img, x1, y1, x2, y2)``: pixels ``[y1, y2) x [x1, x2)`` (a copy)."""
    width, height = img.shape[-1], img.shape[-2]
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height or x2 <= x1 or y2 <= y1:
        raise ValueError(
            f"image.crop: crop ({x1},{y1})-({x2},{y2}) goes outside an image of {width}x{height}; "
            "scale the image up first"
        )
    return img[..., y1:y2, x1:x2].clone()


def hflip(img: torch.Tensor) -> torch.Tensor:
    """torch/image's ``image.hflip``: mirror left-right."""
    return img.flip(-1)


def center_offsets(width: int, height: int, size: int) -> tuple[int, int]:
    """fb.resnet.torch CenterCrop offsets ``ceil((W-size)/2), ceil((H-size)/2)`` (torchvision rounds)."""
    return math.ceil((width - size) / 2), math.ceil((height - size) / 2)


class Compose:
    """fb.resnet.torch ``Compose``: apply the transforms in order."""

    def __init__(self, transforms: Iterable[Callable[[torch.Tensor], torch.Tensor]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        for transform in self.transforms:
            img = transform(img)
        return img

    def __repr__(self) -> str:
        inner = ", ".join(repr(transform) for transform in self.transforms)
        return f"{type(self).__name__}([{inner}])"


class ColorNormalize:
    """fb.resnet.torch ``ColorNormalize``: per channel ``(x - mean) / std`` in float32, on a copy."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        if len(mean) != len(std):
            raise ValueError(f"ColorNormalize: mean has {len(mean)} values but std has {len(std)}")
        self.mean = tuple(float(value) for value in mean)
        self.std = tuple(float(value) for value in std)
        # TH casts the Lua numbers to float before add(-mean) and div(std).
        self._mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        self._std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        planes, squeeze = float_planes(img)
        channels = len(self.mean)
        if planes.shape[0] < channels:
            raise ValueError(f"ColorNormalize: expected at least {channels} channels, got {planes.shape[0]}")
        result = planes.clone() if planes.data_ptr() == img.data_ptr() else planes
        result[:channels].sub_(self._mean).div_(self._std)
        return result.squeeze(0) if squeeze else result

    def __repr__(self) -> str:
        return f"ColorNormalize(mean={self.mean}, std={self.std})"


class Scale:
    """fb.resnet.torch ``Scale(size, interpolation='bicubic')``: short side to ``size`` with ``image.scale``."""

    def __init__(self, size: int, mode: str = "bicubic") -> None:
        if mode not in MODES:
            raise ValueError(f"Scale: mode must be one of {MODES}, got {mode!r}")
        self.size = int(size)
        self.mode = mode

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        target = scaled_size(img.shape[-1], img.shape[-2], self.size)
        if target is None:
            return img
        return image_scale(img, target[0], target[1], self.mode)

    def __repr__(self) -> str:
        return f"Scale({self.size}, mode={self.mode!r})"


class CenterCrop:
    """fb.resnet.torch ``CenterCrop(size)``: offsets ``ceil((W-size)/2)``, ``ceil((H-size)/2)``."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        left, top = center_offsets(img.shape[-1], img.shape[-2], self.size)
        return image_crop(img, left, top, left + self.size, top + self.size)

    def __repr__(self) -> str:
        return f"CenterCrop({self.size})"


class TenCrop:
    """fb.resnet.torch ``TenCrop(size)`` -> ``[10, C, size, size]``.

    For the image and then its horizontal flip: centre (``CenterCrop`` of that image), top-left,
    top-right, bottom-left, bottom-right.
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self._center = CenterCrop(size)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        size = self.size
        width, height = img.shape[-1], img.shape[-2]
        if width < size or height < size:
            raise ValueError(f"image.crop: {size}x{size} crops go outside an image of {width}x{height}")
        left, top = center_offsets(width, height, size)
        corners = [(left, top), (0, 0), (width - size, 0), (0, height - size), (width - size, height - size)]
        crops = [
            view[..., y : y + size, x : x + size]  # views; torch.stack makes the one copy
            for view in (img, hflip(img))
            for x, y in corners
        ]
        return torch.stack(crops)

    def __repr__(self) -> str:
        return f"TenCrop({self.size})"


class ValidationTransform(Compose):
    """fb.resnet.torch's ImageNet validation transform ``Compose{Scale, ColorNormalize, CenterCrop|TenCrop}``.

    Gives exactly what the plain :class:`Compose` of its parts gives, but for the centre crop it
    scales only the pixels that the crop keeps. Accepts float ``[3,H,W]`` in [0,1] or uint8
    ``[3,H,W]`` (mapped to [0,1] as ``image.load`` does).
    """

    def __init__(
        self,
        scale_size: int = 256,
        crop_size: int = 224,
        ten_crop: bool = False,
        mode: str = "bicubic",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.scale = Scale(scale_size, mode)
        self.normalize = ColorNormalize(mean, std)
        self.crop = TenCrop(crop_size) if ten_crop else CenterCrop(crop_size)
        super().__init__([self.scale, self.normalize, self.crop])

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if isinstance(self.crop, TenCrop) or img.dim() != 3:
            planes, _ = float_planes(img)
            return super().__call__(planes)
        width, height = img.shape[2], img.shape[1]
        target = scaled_size(width, height, self.scale.size)
        out_width, out_height = target if target is not None else (width, height)
        size = self.crop.size
        left, top = center_offsets(out_width, out_height, size)
        if left < 0 or top < 0:
            raise ValueError(f"image.crop: a {size}x{size} crop does not fit the scaled {out_width}x{out_height} image")
        if target is None:
            region = img[:, top : top + size, left : left + size]
            if region.dtype == torch.uint8:
                region = region.float().mul_(BYTE_TO_FLOAT)
            else:
                region = region.float().clone()
        else:
            region = scale_region(img, out_width, out_height, self.scale.mode, left, top, size, size)
        return self.normalize(region)


def validation_transform(ten_crop: bool = False, mode: str = "bicubic") -> ValidationTransform:
    """fb.resnet.torch ``imagenet.lua`` validation preprocessing: Scale(256), ColorNormalize, CenterCrop(224)."""
    return ValidationTransform(256, 224, ten_crop=ten_crop, mode=mode)
