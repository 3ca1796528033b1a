"""Image data for evaluation and training: Torch7-faithful and torchvision preprocessing.

``zoo.data.image_scale`` reproduces torch/image's ``image.scale``, ``zoo.data.torch7`` fb.resnet.torch's transforms,
``zoo.data.decode`` loads images as ``image.load(path, 3, 'float')`` does, and
:func:`transforms` builds a ready-to-use evaluation transform of either kind.

Names resolve on first use (PEP 562), so that :mod:`zoo.data.errors` imports without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from densenet_zoo_util.lazy import lazy_exports

if TYPE_CHECKING:
    from zoo.data.decode import load_image, load_image_uint8
    from zoo.data.errors import CifarError, DatasetLayoutError, ImageDecodeError
    from zoo.data.pipeline import PREPROCESS_KINDS, EvalTransform, transforms
    from zoo.data.torch7 import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        CenterCrop,
        ColorNormalize,
        Compose,
        Scale,
        TenCrop,
        image_scale,
        validation_transform,
    )

# Public name -> the module that defines it.
_LAZY_EXPORTS = {
    "IMAGENET_MEAN": "zoo.data.torch7",
    "IMAGENET_STD": "zoo.data.torch7",
    "PREPROCESS_KINDS": "zoo.choices",
    "CenterCrop": "zoo.data.torch7",
    "CifarError": "zoo.data.errors",
    "ColorNormalize": "zoo.data.torch7",
    "Compose": "zoo.data.torch7",
    "DatasetLayoutError": "zoo.data.errors",
    "EvalTransform": "zoo.data.pipeline",
    "ImageDecodeError": "zoo.data.errors",
    "Scale": "zoo.data.torch7",
    "TenCrop": "zoo.data.torch7",
    "image_scale": "zoo.data.torch7",
    "load_image": "zoo.data.decode",
    "load_image_uint8": "zoo.data.decode",
    "transforms": "zoo.data.pipeline",
    "validation_transform": "zoo.data.torch7",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PREPROCESS_KINDS",
    "CenterCrop",
    "CifarError",
    "ColorNormalize",
    "Compose",
    "DatasetLayoutError",
    "EvalTransform",
    "ImageDecodeError",
    "Scale",
    "TenCrop",
    "image_scale",
    "load_image",
    "load_image_uint8",
    "transforms",
    "validation_transform",
]
