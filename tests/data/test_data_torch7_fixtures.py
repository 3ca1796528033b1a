"""zoo.data against outputs written by genuine Lua Torch7 (torch/image 5aa18819, fb.resnet.torch transforms)."""

from __future__ import annotations

import pytest
import torch
from fixtures import fixture_path
from t7_reference import load_reference

from zoo.data.decode import load_image, load_image_uint8
from zoo.data.torch7 import Compose, Scale, image_scale, validation_transform

TOLERANCE = 1e-5
IMAGES = ["grad_300x400", "small_200x150"]  # a downscale and an upscale under Scale(256)


def max_difference(actual: torch.Tensor, expected: torch.Tensor) -> float:
    assert tuple(actual.shape) == tuple(expected.shape)
    return float((actual - expected).abs().max())


@pytest.mark.parametrize("name", IMAGES)
def test_load_float_matches_image_load(name):
    actual = load_image(fixture_path("torch7", "image", f"{name}.png"))
    assert actual.dtype == torch.float32 and actual.is_contiguous()
    assert torch.equal(actual, load_reference(f"{name}.load_float.t7"))
    assert torch.equal(
        load_image_uint8(fixture_path("torch7", "image", f"{name}.png")), load_reference(f"{name}.load_byte.t7")
    )


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
@pytest.mark.parametrize("name", IMAGES)
def test_scale256_matches_torch7(name, mode):
    img = load_reference(f"{name}.load_float.t7")
    assert max_difference(Scale(256, mode)(img), load_reference(f"{name}.scale256_{mode}.t7")) <= TOLERANCE


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
@pytest.mark.parametrize("name", IMAGES)
def test_scale224x224_matches_torch7(name, mode):
    img = load_reference(f"{name}.load_float.t7")
    expected = load_reference(f"{name}.scale224x224_{mode}.t7")
    assert max_difference(image_scale(img, 224, 224, mode), expected) <= TOLERANCE


@pytest.mark.parametrize("name", IMAGES)
def test_validation_transform_matches_torch7(name):
    expected = load_reference(f"{name}.val_transform.t7")
    png = fixture_path("torch7", "image", f"{name}.png")
    transform = validation_transform()
    # The plain composition of fb.resnet.torch's steps, and the fused crop-only path, from floats
    # and from the decoded bytes.
    assert max_difference(Compose(transform.transforms)(load_image(png)), expected) <= TOLERANCE
    assert max_difference(transform(load_image(png)), expected) <= TOLERANCE
    assert max_difference(transform(load_image_uint8(png)), expected) <= TOLERANCE
