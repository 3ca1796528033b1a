"""fb.resnet.torch transforms: Scale sizes, CenterCrop offsets, TenCrop order, ColorNormalize, fusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from reference_image_c import reference_scale

from zoo.data.torch7 import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CenterCrop,
    ColorNormalize,
    Compose,
    Scale,
    TenCrop,
    image_crop,
    scaled_size,
    validation_transform,
)


def numbered_image(channels: int, height: int, width: int) -> torch.Tensor:
    """Pixel value encodes its position, so crops can be located exactly."""
    values = torch.arange(channels * height * width, dtype=torch.float32)
    return values.view(channels, height, width)


@pytest.mark.parametrize(
    "width,height,expected",
    [
        (500, 375, (341, 256)),  # 500/375*256 = 341.33 -> 341
        (375, 500, (256, 341)),
        (500, 333, (384, 256)),  # 384.38 -> 384
        (333, 500, (256, 384)),
        (281, 500, (256, 455)),  # 455.37 -> 455
        (300, 300, (256, 256)),
        (200, 150, (341, 256)),  # upscale
        (256, 400, None),  # short side already 256: unchanged
        (400, 256, None),
        (256, 256, None),
    ],
)
def test_scale_sizes_follow_lua_arithmetic(width, height, expected):
    assert scaled_size(width, height, 256) == expected
    if expected is not None:
        long_side, short_side = max(width, height), min(width, height)
        assert max(expected) == int(long_side / short_side * 256)


def test_scale_returns_input_when_short_side_matches():
    img = torch.rand(3, 400, 256)
    assert Scale(256)(img) is img


def test_scale_uses_image_scale_semantics():
    img = torch.rand(3, 30, 45, generator=torch.Generator().manual_seed(0))
    out = Scale(20, "bicubic")(img)
    expected = reference_scale(img.numpy(), 30, 20, "bicubic")
    assert out.shape == (3, 20, 30)
    assert np.abs(out.numpy() - expected).max() <= 1e-5


@pytest.mark.parametrize("width,height", [(341, 256), (256, 341), (384, 256), (225, 227), (224, 224)])
def test_center_crop_offsets_round_up(width, height):
    img = numbered_image(3, height, width)
    out = CenterCrop(224)(img)
    left, top = math.ceil((width - 224) / 2), math.ceil((height - 224) / 2)
    assert torch.equal(out, img[:, top : top + 224, left : left + 224])
    if (width - 224) % 2 == 1:  # torchvision would round half to even / down here
        assert left == (width - 224) // 2 + 1


def test_center_crop_is_a_copy_and_rejects_small_images():
    img = numbered_image(3, 10, 10)
    out = CenterCrop(4)(img)
    out.zero_()
    assert img.sum() > 0
    with pytest.raises(ValueError, match="outside"):
        CenterCrop(11)(img)


def test_ten_crop_order_matches_fb_resnet_torch():
    img = numbered_image(3, 9, 12)
    size = 5
    out = TenCrop(size)(img)
    assert out.shape == (10, 3, size, size)
    flipped = img.flip(-1)
    expected = []
    for view in (img, flipped):
        left, top = math.ceil((12 - size) / 2), math.ceil((9 - size) / 2)
        expected += [
            view[:, top : top + size, left : left + size],  # centre
            view[:, 0:size, 0:size],  # top-left
            view[:, 0:size, 12 - size : 12],  # top-right
            view[:, 9 - size : 9, 0:size],  # bottom-left
            view[:, 9 - size : 9, 12 - size : 12],  # bottom-right
        ]
    for index, crop in enumerate(expected):
        assert torch.equal(out[index], crop), index
    # With an odd margin the centre crop of the flip is not the flip of the centre crop.
    assert not torch.equal(out[5], out[0].flip(-1))


def test_color_normalize_in_float32_on_a_copy():
    img = torch.rand(3, 4, 5, generator=torch.Generator().manual_seed(1))
    out = ColorNormalize(IMAGENET_MEAN, IMAGENET_STD)(img)
    for channel in range(3):
        mean = np.float32(IMAGENET_MEAN[channel])
        std = np.float32(IMAGENET_STD[channel])
        expected = (img[channel].numpy() - mean) / std
        assert np.array_equal(out[channel].numpy(), expected.astype(np.float32))
    assert not torch.equal(out, img)


def test_compose_applies_in_order():
    steps = []
    compose = Compose([lambda x: steps.append("a") or x + 1, lambda x: steps.append("b") or x * 2])
    assert compose(torch.tensor(1.0)) == 4.0 and steps == ["a", "b"]


def test_validation_transform_is_scale_normalize_crop():
    transform = validation_transform()
    kinds = [type(step) for step in transform.transforms]
    assert kinds == [Scale, ColorNormalize, CenterCrop]
    assert transform.transforms[0].size == 256 and transform.transforms[0].mode == "bicubic"
    assert transform.transforms[2].size == 224
    assert [type(step) for step in validation_transform(ten_crop=True).transforms][-1] is TenCrop


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
@pytest.mark.parametrize("width,height", [(500, 375), (375, 500), (333, 500), (256, 300), (600, 256), (200, 150)])
def test_fused_validation_equals_plain_composition(width, height, mode):
    generator = torch.Generator().manual_seed(width * height)
    pixels = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)
    img = pixels.float() * np.float32(1 / 255)
    transform = validation_transform(mode=mode)
    plain = Compose(transform.transforms)(img)
    assert plain.shape == (3, 224, 224)
    assert torch.equal(transform(img), plain)
    assert torch.equal(transform(pixels), plain)
    assert torch.equal(transform(pixels.permute(1, 2, 0).contiguous().permute(2, 0, 1)), plain)


def test_ten_crop_validation_shape_and_centre():
    img = torch.rand(3, 300, 400, generator=torch.Generator().manual_seed(2))
    ten = validation_transform(ten_crop=True)(img)
    assert ten.shape == (10, 3, 224, 224)
    assert torch.equal(ten[0], validation_transform()(img))


def test_image_crop_bounds():
    img = numbered_image(1, 4, 4)
    assert torch.equal(image_crop(img, 1, 2, 3, 4), img[:, 2:4, 1:3])
    with pytest.raises(ValueError):
        image_crop(img, -1, 0, 2, 2)
