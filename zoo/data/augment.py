"""Training augmentation exactly as fb.resnet.torch's ``datasets/transforms.lua`` draws it.

Every random transform takes an explicit :class:`torch.Generator` at call time
and draws from it in the same order and with the same distributions as the Lua
code (``torch.uniform``, ``torch.random`` with inclusive bounds, ``randperm``,
``normal``). The training datasets seed one generator per sample from
``(seed, epoch, index)`` (:func:`sample_generator`), so the augmentation of a
sample does not depend on the number of loader workers, the rank, or whether
the run was interrupted and resumed.

Arithmetic follows the Lua code in float32: the grayscale image is built as
``0 + 0.299 R + 0.587 G + 0.114 B`` in that order, blends are
``img * alpha + (1 - alpha) * other`` without clamping, and the lighting noise
is ``eigvec * alpha * eigval`` summed over columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from zoo.data.torch7 import (
    BYTE_TO_FLOAT,
    IMAGENET_MEAN,
    IMAGENET_STD,
    CenterCrop,
    ColorNormalize,
    Scale,
    hflip,
    image_scale,
)

#: PCA of ImageNet RGB pixels (fb.resnet.torch ``datasets/imagenet.lua``).
IMAGENET_PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_PCA_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
#: Per-channel mean/std of CIFAR pixels in 0..255 units (liuzhuang13/DenseNet ``datasets/cifar*.lua``).
CIFAR10_MEAN, CIFAR10_STD = (125.3, 123.0, 113.9), (63.0, 62.1, 66.7)
CIFAR100_MEAN, CIFAR100_STD = (129.3, 124.1, 112.4), (68.2, 65.4, 70.4)

_SEED_MIX = 0x9E3779B97F4A7C15


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator seeded from (seed, epoch, sample index) only.

    The mixing is a splitmix64 finalizer so that neighbouring (epoch, index)
    pairs get unrelated streams.
    """
    value = (int(seed) * 1_000_003 + int(epoch)) * 0x100000000 + int(index)
    value = (value + _SEED_MIX) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    value ^= value >> 31
    generator = torch.Generator()
    generator.manual_seed(value & 0x7FFFFFFFFFFFFFFF)
    return generator


def uniform(generator: torch.Generator | None, low: float = 0.0, high: float = 1.0) -> float:
    """Lua ``torch.uniform(low, high)``: ``low + (high - low) * U[0, 1)`` in double precision."""
    return low + (high - low) * float(torch.rand((), dtype=torch.float64, generator=generator))


def random_int(generator: torch.Generator | None, low: int, high: int) -> int:
    """Lua ``torch.random(low, high)``: an integer uniform over ``[low, high]``, both ends included."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def lua_round(value: float) -> int:
    """C ``round`` as Torch7's ``torch.round`` on numbers: halves go away from zero."""
    magnitude = math.floor(abs(value))
    if abs(value) - magnitude >= 0.5:
        magnitude += 1
    return int(math.copysign(magnitude, value))


class RandomSizedCrop:
    """Inception-style crop of 8%-100% of the area, aspect ratio in [3/4, 4/3], scaled to ``size``.

    Up to ``attempts`` tries; each draws ``area * U(0.08, 1)``, ``ar = U(3/4, 4/3)``,
    ``w = round(sqrt(area * ar))``, ``h = round(sqrt(area / ar))``, swaps ``w``
    and ``h`` when ``U() < 0.5``, and, when the crop fits, draws the top offset
    ``y1 = random(0, H - h)`` and then ``x1 = random(0, W - w)`` and scales the
    crop bicubically to ``size x size``. Otherwise falls back to
    ``Scale(size)`` then ``CenterCrop(size)``. Accepts float ``[C, H, W]`` in [0, 1]
    or uint8 (mapped to [0, 1] as ``image.load`` does); returns float32.

    One deviation, reachable only for images a few pixels wide: a crop that
    rounds to zero pixels counts as a failed attempt (Lua would raise).
    """

    takes_generator = True

    def __init__(self, size: int, attempts: int = 10, interpolation: str = "bicubic") -> None:
        self.size = int(size)
        self.attempts = int(attempts)
        self.interpolation = interpolation

    def crop_box(self, height: int, width: int, generator: torch.Generator | None) -> tuple[int, int, int, int] | None:
        """``(x1, y1, w, h)`` of the crop, or ``None`` for the fallback; draws what the Lua code draws."""
        area = height * width
        for _ in range(self.attempts):
            target_area = uniform(generator, 0.08, 1.0) * area
            aspect_ratio = uniform(generator, 3 / 4, 4 / 3)
            crop_w = lua_round(math.sqrt(target_area * aspect_ratio))
            crop_h = lua_round(math.sqrt(target_area / aspect_ratio))
            if uniform(generator) < 0.5:
                crop_w, crop_h = crop_h, crop_w
            if crop_h <= height and crop_w <= width and crop_h >= 1 and crop_w >= 1:
                y1 = random_int(generator, 0, height - crop_h)
                x1 = random_int(generator, 0, width - crop_w)
                return x1, y1, crop_w, crop_h
        return None

    def __call__(self, image: Tensor, generator: torch.Generator | None = None) -> Tensor:
        box = self.crop_box(image.shape[-2], image.shape[-1], generator)
        if box is None:
            result = CenterCrop(self.size)(Scale(self.size, self.interpolation)(image))
        else:
            x1, y1, crop_w, crop_h = box
            crop = image[:, y1 : y1 + crop_h, x1 : x1 + crop_w]
            result = image_scale(crop, self.size, self.size, mode=self.interpolation)
        if result.dtype == torch.uint8:  # a uint8 image whose fallback needed no scaling
            result = result.float().mul_(BYTE_TO_FLOAT)
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, attempts={self.attempts})"


def grayscale(image: Tensor) -> Tensor:
    """Luminance ``0.299 R + 0.587 G + 0.114 B`` repeated on three channels, summed in Lua's order."""
    luminance = torch.zeros_like(image[0])
    luminance.add_(image[0], alpha=0.299).add_(image[1], alpha=0.587).add_(image[2], alpha=0.114)
    return luminance.expand_as(image)


def blend(image: Tensor, other: Tensor, alpha: float) -> Tensor:
    """``image * alpha + (1 - alpha) * other`` in place, unclamped (Lua ``blend``)."""
    return image.mul_(alpha).add_(other, alpha=1.0 - alpha)


class ColorJitter:
    """Brightness, contrast and saturation in a random order (Lua ``RandomOrder`` of the three).

    Draws ``randperm(3)`` over [brightness, contrast, saturation] (those with a
    non-zero strength), then for each, in that order, ``alpha = 1 + U(-var, var)``
    and blends with zeros / the mean luminance / the grayscale image.
    """

    takes_generator = True

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4) -> None:
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.steps: list[tuple[str, float]] = [
            (name, strength)
            for name, strength in (
                ("brightness", self.brightness),
                ("contrast", self.contrast),
                ("saturation", self.saturation),
            )
            if strength != 0
        ]

    def __call__(self, image: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if not self.steps:
            return image
        image = image.clone()
        order = torch.randperm(len(self.steps), generator=generator).tolist()
        for position in order:
            name, strength = self.steps[position]
            if name == "brightness":
                other = torch.zeros_like(image)
            elif name == "contrast":
                other = torch.full_like(image, grayscale(image)[0].to(torch.float64).mean().item())
            else:
                other = grayscale(image)
            blend(image, other, 1.0 + uniform(generator, -strength, strength))
        return image

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation})"


class Lighting:
    """AlexNet-style PCA lighting noise: add ``sum_j eigvec[i, j] * alpha_j * eigval_j`` to channel ``i``.

    ``alpha ~ N(0, alphastd)`` (three draws, float32 as Torch7's default tensor type).
    """

    takes_generator = True

    def __init__(
        self,
        alphastd: float = 0.1,
        eigval: Sequence[float] = IMAGENET_PCA_EIGVAL,
        eigvec: Sequence[Sequence[float]] = IMAGENET_PCA_EIGVEC,
    ) -> None:
        self.alphastd = float(alphastd)
        self.eigval = torch.tensor(eigval, dtype=torch.float32)
        self.eigvec = torch.tensor(eigvec, dtype=torch.float32)

    def noise(self, generator: torch.Generator | None) -> Tensor:
        """The per-channel offsets ``rgb`` (float32, shape [3])."""
        alpha = torch.empty(3, dtype=torch.float32).normal_(0.0, self.alphastd, generator=generator)
        weighted = self.eigvec * alpha.view(1, 3) * self.eigval.view(1, 3)
        return weighted.to(torch.float64).sum(1).to(torch.float32)

    def __call__(self, image: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.alphastd == 0:
            return image
        rgb = self.noise(generator)
        return image + rgb.to(image.dtype).view(3, 1, 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alphastd={self.alphastd})"


class HorizontalFlip:
    """Mirror the image when ``U() < prob``."""

    takes_generator = True

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = float(prob)

    def __call__(self, image: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return hflip(image) if uniform(generator) < self.prob else image

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prob={self.prob})"


class RandomCrop:
    """Zero-pad by ``padding`` then crop ``size x size`` at ``x1 = random(0, W - size)``,
    ``y1 = random(0, H - size)``."""

    takes_generator = True

    def __init__(self, size: int, padding: int = 0) -> None:
        self.size = int(size)
        self.padding = int(padding)

    def __call__(self, image: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.padding > 0:
            image = torch.nn.functional.pad(image, (self.padding,) * 4)
        height, width = image.shape[-2:]
        if width == self.size and height == self.size:
            return image
        x1 = random_int(generator, 0, width - self.size)
        y1 = random_int(generator, 0, height - self.size)
        return image[:, y1 : y1 + self.size, x1 : x1 + self.size]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class RandomCompose:
    """Apply transforms in order, handing the generator to the random ones.

    A transform is random when it has ``takes_generator = True`` (the classes
    here); deterministic ones such as ``zoo.data.torch7.ColorNormalize`` are
    called with the image alone.
    """

    def __init__(self, transforms: Sequence[Callable[..., Tensor]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for transform in self.transforms:
            if getattr(transform, "takes_generator", False):
                image = transform(image, generator)
            else:
                image = transform(image)
        return image

    def __repr__(self) -> str:
        inner = ", ".join(repr(transform) for transform in self.transforms)
        return f"{type(self).__name__}([{inner}])"


def imagenet_train_transform(size: int = 224) -> RandomCompose:
    """fb.resnet.torch's ImageNet training pipeline, in its order.

    RandomSizedCrop(size), ColorJitter(0.4, 0.4, 0.4), Lighting(0.1),
    ColorNormalize(ImageNet mean/std), HorizontalFlip(0.5).
    """
    return RandomCompose(
        [
            RandomSizedCrop(size),
            ColorJitter(0.4, 0.4, 0.4),
            Lighting(0.1, IMAGENET_PCA_EIGVAL, IMAGENET_PCA_EIGVEC),
            ColorNormalize(IMAGENET_MEAN, IMAGENET_STD),
            HorizontalFlip(0.5),
        ]
    )


def cifar_train_transform(mean: Sequence[float], std: Sequence[float], augment: bool = True) -> RandomCompose:
    """liuzhuang13/DenseNet's CIFAR pipeline on 0..255 pixels.

    With augmentation: ColorNormalize, HorizontalFlip(0.5), RandomCrop(32, padding 4).
    Without (the "C10"/"C100" setting, trained with dropout 0.2): ColorNormalize only.
    """
    if not augment:
        return RandomCompose([ColorNormalize(mean, std)])
    return RandomCompose([ColorNormalize(mean, std), HorizontalFlip(0.5), RandomCrop(32, 4)])
