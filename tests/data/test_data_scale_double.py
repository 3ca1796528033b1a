"""zoo.data.image_scale's DoubleTensor bilinear scale and image.scale's size rule, against the C loops transcribed
in reference_image_c (with real = double) and against genuine torch/image output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference_image_c import reference_scale
from t7_reference import load_reference

from zoo.data.image_scale import image_scale_float64, max_side_size


@pytest.mark.parametrize(
    ("width", "height", "to_width", "to_height"),
    [(37, 29, 96, 75), (37, 29, 17, 13), (300, 200, 96, 64), (40, 9, 40, 3), (5, 5, 1, 1), (1, 6, 4, 2)],
)
def test_double_scale_matches_the_c_loops_bit_for_bit(width: int, height: int, to_width: int, to_height: int) -> None:
    img = np.random.default_rng(width * height).random((3, height, width))
    actual = image_scale_float64(torch.from_numpy(img), to_width, to_height)
    assert actual.dtype == torch.float64
    assert np.array_equal(actual.numpy(), reference_scale(img, to_width, to_height, "bilinear"))


@pytest.mark.parametrize("name", ["grad_300x400", "small_200x150"])
def test_double_scale_agrees_with_genuine_torch7_float_scaling(name: str) -> None:
    # Lua scaled this FloatTensor with image.scale(img, 224, 224, 'bilinear'); on the same values as a
    # DoubleTensor only the float rounding of the intermediate plane and of upscale sums may differ.
    img = load_reference(f"{name}.load_float.t7")
    expected = load_reference(f"{name}.scale224x224_bilinear.t7")
    actual = image_scale_float64(img.double(), 224, 224)
    assert (actual - expected.double()).abs().max() <= 1e-6


def test_max_side_size_is_lua_arithmetic() -> None:
    assert max_side_size(70, 50, 96) == (96, 68)  # 50*96/70 = 68.57 truncated
    assert max_side_size(50, 70, 96) == (68, 96)
    assert max_side_size(768, 300, 768) == (768, 300)
    assert max_side_size(1000, 3, 768) == (768, 2)  # 3*768/1000 = 2.304
