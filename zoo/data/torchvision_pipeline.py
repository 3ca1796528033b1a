"""torchvision's standard ImageNet evaluation pipeline (``--preprocess torchvision``), for comparison.

``Resize(256)`` (bilinear, antialiased: PIL's resampling), ``CenterCrop(224)`` (offsets rounded),
``ToTensor``, ``Normalize(IMAGENET_MEAN, IMAGENET_STD)``, on ``PIL.Image.open(path).convert("RGB")``.
This is what torchvision's reported DenseNet errors were measured with.
"""

from __future__ import annotations

import os

import torch

from zoo.data.torch7 import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["TorchvisionTransform", "load_pil_rgb"]


def load_pil_rgb(path: str | os.PathLike[str]) -> PIL.Image.Image:  # noqa: F821
    """``PIL.Image.open(path).convert("RGB")``, as torchvision's ``ImageFolder`` loader does, with
    :mod:`zoo.data.decode`'s checks of hostile files (:class:`~zoo.data.decode.ImageDecodeError`)."""
    from zoo.data.decode import ImageDecodeError, open_pil_image, read_image_file

    where = os.fspath(path)
    with open_pil_image(read_image_file(where), where) as image:
        try:
            return image.convert("RGB")
        except Exception as error:  # PIL decoding a stranger's pixels: every failure is the file's
            raise ImageDecodeError(f"cannot decode image {where!r}: {error}") from None


class TorchvisionTransform:
    """torchvision's eval transform: PIL image -> ``[3, crop, crop]`` (or ``[10, 3, crop, crop]``)."""

    def __init__(
        self, resize: int = 256, crop: int = 224, ten_crop: bool = False, mean=IMAGENET_MEAN, std=IMAGENET_STD
    ) -> None:
        from torchvision import transforms as T

        self.resize = resize
        self.crop = crop
        self.ten_crop = ten_crop
        self._geometry = T.Compose(
            [
                T.Resize(resize, interpolation=T.InterpolationMode.BILINEAR, antialias=True),
                T.TenCrop(crop) if ten_crop else T.CenterCrop(crop),
            ]
        )
        self._to_tensor = T.Compose([T.ToTensor(), T.Normalize(mean, std)])

    def __call__(self, image: PIL.Image.Image) -> torch.Tensor:  # noqa: F821
        cropped = self._geometry(image)
        if self.ten_crop:
            return torch.stack([self._to_tensor(crop) for crop in cropped])
        return self._to_tensor(cropped)

    def __repr__(self) -> str:
        return f"TorchvisionTransform(resize={self.resize}, crop={self.crop}, ten_crop={self.ten_crop})"
