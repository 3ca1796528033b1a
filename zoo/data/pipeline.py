"""Ready-to-use evaluation transforms: path, PIL image or tensor in, normalized crop(s) out."""

from __future__ import annotations

import os
from typing import Any

import torch

from zoo.choices import PREPROCESS_KINDS
from zoo.data.decode import (
    JPEG_MAGIC,
    ImageDecodeError,
    load_image_uint8,
    open_pil_image,
    pil_to_uint8,
    read_image_file,
)
from zoo.data.image_scale import region_plan, scale_region_width_major
from zoo.data.torch7 import CenterCrop, ValidationTransform, center_offsets, scaled_size, validation_transform

__all__ = ["PREPROCESS_KINDS", "EvalTransform", "transforms"]


class EvalTransform:
    """Evaluation preprocessing of one kind; picklable, so it can run in DataLoader workers.

    ``kind="torch7"``: ``image.load`` decoding, then fb.resnet.torch's
    ``Compose{Scale(256) bicubic, ColorNormalize, CenterCrop(224) | TenCrop(224)}``.
    ``kind="torchvision"``: PIL ``convert("RGB")``, ``Resize(256)``, ``CenterCrop(224) | TenCrop(224)``,
    ``ToTensor``, ``Normalize``.

    Call it with a file path, a PIL image or an image tensor ``[3,H,W]`` (uint8, or float in [0,1]).
    Returns float32 ``[3,224,224]``, or ``[10,3,224,224]`` with ``ten_crop``.
    """

    def __init__(self, kind: str = "torch7", ten_crop: bool = False, mode: str = "bicubic") -> None:
        if kind not in PREPROCESS_KINDS:
            raise ValueError(f"unknown preprocessing kind {kind!r}; expected one of {PREPROCESS_KINDS}")
        self.kind = kind
        self.ten_crop = ten_crop
        if kind == "torch7":  # mode: Scale's interpolation ("bicubic" in fb.resnet.torch)
            self._transform = validation_transform(ten_crop=ten_crop, mode=mode)
        else:
            from zoo.data.torchvision_pipeline import TorchvisionTransform

            self._transform = TorchvisionTransform(ten_crop=ten_crop)

    def __call__(self, image: Any) -> torch.Tensor:
        if self.kind != "torch7":
            return self._transform(self._pil_input(image))
        if isinstance(image, (str, os.PathLike)):
            fused = _torch7_from_jpeg(os.fspath(image), self._transform)
            if fused is not None:
                return fused
        return self._transform(self._torch7_input(image))

    @staticmethod
    def _torch7_input(image: Any) -> torch.Tensor:
        if isinstance(image, (str, os.PathLike)):
            return load_image_uint8(image)
        if isinstance(image, torch.Tensor):
            if image.dim() != 3 or image.shape[0] != 3:
                raise ValueError(f"expected an RGB image tensor [3,H,W], got shape {tuple(image.shape)}")
            return image
        if hasattr(image, "mode") and hasattr(image, "size"):  # a PIL image
            return pil_to_uint8(image)
        raise TypeError(f"expected a path, a PIL image or a [3,H,W] tensor, got {type(image).__name__}")

    @staticmethod
    def _pil_input(image: Any):
        from zoo.data.torchvision_pipeline import load_pil_rgb

        if isinstance(image, (str, os.PathLike)):
            return load_pil_rgb(image)
        if isinstance(image, torch.Tensor):
            from torchvision.transforms.functional import to_pil_image

            return to_pil_image(image)
        if hasattr(image, "convert"):
            return image.convert("RGB")
        raise TypeError(f"expected a path, a PIL image or a [3,H,W] tensor, got {type(image).__name__}")

    def __repr__(self) -> str:
        return f"EvalTransform(kind={self.kind!r}, ten_crop={self.ten_crop}, transform={self._transform!r})"


def _torch7_from_jpeg(path: str, transform: ValidationTransform) -> torch.Tensor | None:
    """The fast path for RGB and grayscale JPEGs: ``transform(load_image(path))``, for a centre crop
    computed on the cropped pixels only.

    PIL decodes with libjpeg-turbo at torch/image's settings (the pixels equal ``load_image``'s),
    crops the source window the centre crop depends on, transposes it (cheap on PIL's 4-byte
    pixels) and hands it over as width-major RGBX, so that both ``image.scale`` passes are single
    fused gathers. Returns None for anything else (CMYK, PNG, damaged files, ...), which takes the
    general path.
    """
    from PIL import Image

    try:
        encoded = read_image_file(path)
        if not encoded.startswith(JPEG_MAGIC):
            return None
        image = open_pil_image(encoded, path)
    except ImageDecodeError:
        return None  # the general path reports it
    if image.mode not in ("RGB", "L"):
        return None
    try:
        image.load()
    except Exception:  # PIL decoding a stranger's pixels
        return None  # the general path decodes what it can (libjpeg tolerates some damage) or explains
    width, height = image.size
    scale, crop = transform.scale, transform.crop
    target = scaled_size(width, height, scale.size) or (width, height)
    if isinstance(crop, CenterCrop):
        left, top = center_offsets(target[0], target[1], crop.size)
        region_size = (crop.size, crop.size)
    else:  # TenCrop needs the whole scaled image
        left, top = 0, 0
        region_size = target
    plan = region_plan(width, height, target[0], target[1], scale.mode, left, top, *region_size)
    box = (plan.columns[0], plan.rows[0], plan.columns[1], plan.rows[1])
    window = image if box == (0, 0, width, height) else image.crop(box)
    if window.mode != "RGB":
        window = window.convert("RGB")
    window = window.transpose(Image.Transpose.TRANSPOSE)
    pixels = torch.frombuffer(bytearray(window.tobytes("raw", "RGBX")), dtype=torch.uint8)
    pixels = pixels.view(box[2] - box[0], box[3] - box[1], 4)
    region = transform.normalize(scale_region_width_major(pixels, plan)[:3].contiguous())
    return region if isinstance(crop, CenterCrop) else crop(region)


def transforms(name: str | None = None, kind: str = "torch7", ten_crop: bool = False) -> EvalTransform:
    """The evaluation transform for model ``name`` (every zoo DenseNet uses the same one).

    ``kind="torch7"`` (default) reproduces the preprocessing behind the published errors;
    ``kind="torchvision"`` is torchvision's standard pipeline. ``name`` is accepted so that callers
    need not change if a model with different preprocessing is ever added.
    """
    return EvalTransform(kind=kind, ten_crop=ten_crop)
