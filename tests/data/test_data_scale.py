"""zoo.data.torch7.image_scale against a loop-by-loop transcription of torch/image's C code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference_image_c import reference_scale

from zoo.data.image_scale import axis_plan, image_scale, scale_region

TOLERANCE = 1e-5


def random_image(channels: int, height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((channels, height, width), dtype=np.float32)


def smooth_image(height: int, width: int) -> np.ndarray:
    """A photo-like image (gradients plus texture) in [0, 1]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [
        xx / max(width - 1, 1),
        yy / max(height - 1, 1),
        0.5 + 0.5 * np.sin(xx * 0.37) * np.cos(yy * 0.23),
    ]
    return np.stack(planes).astype(np.float32)


def assert_matches_reference(img: np.ndarray, width: int, height: int, mode: str) -> None:
    expected = reference_scale(img, width, height, mode)
    actual = image_scale(torch.from_numpy(img), width, height, mode)
    assert actual.dtype == torch.float32
    assert tuple(actual.shape) == expected.shape
    written = np.isfinite(expected)
    difference = np.abs(actual.numpy()[written] - expected[written])
    assert difference.size == 0 or difference.max() <= TOLERANCE, (
        f"{mode} {img.shape[2]}x{img.shape[1]} -> {width}x{height}: max diff {difference.max()}"
    )


# (src width, src height, dst width, dst height): fb.resnet.torch's Scale(256) sizes for typical
# ImageNet shapes, odd up- and downscales, and the 1-pixel edge cases.
SIZES = [
    (500, 333, 384, 256),  # 333x500 landscape -> short side 256
    (281, 500, 256, 455),  # 500x281 portrait
    (1024, 256, 1024, 256),  # equal sizes: copy
    (256, 1024, 224, 224),
    (37, 23, 91, 64),  # upscale both
    (64, 48, 17, 11),  # strong downscale (bilinear box averaging)
    (50, 40, 73, 13),  # up in x, down in y
    (1, 1, 1, 1),
    (1, 1, 5, 3),  # 1x1 upscaled
    (9, 1, 4, 1),  # 1-row image
    (9, 1, 9, 6),
    (1, 7, 1, 3),  # 1-column image
    (1, 7, 5, 7),
    (12, 9, 1, 1),  # to a single pixel
    (12, 9, 1, 5),
    (2, 2, 7, 7),  # both border extrapolations at once
    (3, 5, 2, 9),
]


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
@pytest.mark.parametrize("src_width,src_height,dst_width,dst_height", SIZES)
def test_random_images_match_c_loops(mode, src_width, src_height, dst_width, dst_height):
    img = random_image(3, src_height, src_width, seed=src_width * 1000 + src_height)
    assert_matches_reference(img, dst_width, dst_height, mode)


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
def test_photo_like_image_matches_c_loops(mode):
    img = smooth_image(333, 500)
    assert_matches_reference(img, 384, 256, mode)


def test_bicubic_overshoots_and_is_not_clamped():
    img = np.zeros((1, 1, 8), dtype=np.float32)
    img[0, 0, 4:] = 1.0  # a step edge rings under Catmull-Rom
    out = image_scale(torch.from_numpy(img), 29, 1, "bicubic")
    assert out.min() < 0 and out.max() > 1
    assert_matches_reference(img, 29, 1, "bicubic")


def test_bicubic_downscale_does_not_antialias():
    # Every other column is 1: bicubic samples (align-corners) without averaging, bilinear averages.
    img = np.zeros((1, 4, 101), dtype=np.float32)
    img[..., ::2] = 1.0
    cubic = image_scale(torch.from_numpy(img), 51, 4, "bicubic")
    linear = image_scale(torch.from_numpy(img), 51, 4, "bilinear")
    assert torch.all((cubic == 0) | (cubic == 1))  # samples land on integer positions exactly
    assert torch.allclose(linear[..., 1:-1], torch.full_like(linear[..., 1:-1], 0.5), atol=0.02)


def test_one_pixel_source_is_repeated():
    # C leaves the last output unwritten for a 1-long source upscaled bicubically; we repeat it.
    img = torch.tensor([[[0.25]], [[0.5]], [[0.75]]])
    for mode in ("bicubic", "bilinear"):
        out = image_scale(img, 4, 3, mode)
        assert torch.equal(out, img.expand(3, 3, 4))


def test_two_dimensional_input_and_argument_order():
    img = random_image(1, 10, 30, seed=3)[0]
    out = image_scale(torch.from_numpy(img), 7, 5)  # width 7, height 5
    assert tuple(out.shape) == (5, 7)
    expected = reference_scale(img[None], 7, 5, "bicubic")[0]
    assert np.abs(out.numpy() - expected).max() <= TOLERANCE


def test_fractional_sizes_truncate_like_tensor_new():
    img = torch.from_numpy(random_image(3, 40, 30, seed=4))
    assert tuple(image_scale(img, 20.9, 33.99).shape) == (3, 33, 20)
    assert tuple(image_scale(img, 0.4, 0.2).shape) == (3, 1, 1)


def test_equal_size_returns_a_copy():
    img = torch.from_numpy(random_image(3, 8, 9, seed=5))
    out = image_scale(img, 9, 8)
    assert torch.equal(out, img)
    out.add_(1)
    assert not torch.equal(out, img)


def test_uint8_input_is_mapped_like_image_load():
    pixels = torch.arange(0, 256, dtype=torch.uint8).view(1, 16, 16).expand(3, 16, 16).contiguous()
    as_float = pixels.float() * np.float32(1 / 255)
    assert torch.equal(image_scale(pixels, 23, 11), image_scale(as_float, 23, 11))


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="mode"):
        image_scale(torch.zeros(3, 4, 4), 2, 2, "lanczos")


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
def test_region_equals_crop_of_full_scale(mode):
    img = torch.from_numpy(smooth_image(375, 500))
    full = image_scale(img, 341, 256, mode)
    region = scale_region(img, 341, 256, mode, left=59, top=16, crop_width=224, crop_height=224)
    assert torch.equal(region, full[:, 16:240, 59:283])


def test_plans_are_cached_and_weights_sum_to_one():
    plan = axis_plan(500, 341, "bicubic")
    assert axis_plan(500, 341, "bicubic") is plan
    for mode in ("bicubic", "bilinear"):
        for src, dst in [(500, 341), (17, 60), (60, 17), (2, 5)]:
            weights = axis_plan(src, dst, mode).weights.double().sum(1)
            assert torch.allclose(weights, torch.ones_like(weights), atol=1e-6)
