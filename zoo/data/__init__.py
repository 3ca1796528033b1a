"""Image data for evaluation and training: Torch7-faithful and torchvision preprocessing.

``zoo.data.image_scale`` reproduces torch/image's ``image.scale``, ``zoo.data.torch7`` fb.resnet.torch's transforms,
``zoo.data.decode`` loads images as ``image.load(path, 3, 'float')`` does, and
:func:`transforms` builds a ready-to-use evaluation transform of either kind.
"""

from zoo.data.decode import ImageDecodeError, load_image, load_image_uint8
from zoo.data.pipeline import KINDS, EvalTransform, transforms
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

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KINDS",
    "CenterCrop",
    "ColorNormalize",
    "Compose",
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
