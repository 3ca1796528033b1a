"""zoo.data.decode on real JPEG/PNG files written in the test: RGB, grayscale, CMYK, PNG named .JPEG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data.decode import ImageDecodeError, load_image, load_image_uint8
from zoo.data.torch7 import BYTE_TO_FLOAT


def photo(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) % 97 * 2.5], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def test_rgb_jpeg_matches_libjpeg_pixels_and_float_mapping(tmp_path):
    path = tmp_path / "rgb.JPEG"
    Image.fromarray(photo(37, 53, 0)).save(path, quality=90)
    pixels = load_image_uint8(path)
    with Image.open(path) as image:  # PIL uses libjpeg(-turbo) with the same defaults as torch/image
        expected = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    assert pixels.shape == (3, 37, 53) and pixels.dtype == torch.uint8
    assert torch.equal(pixels, expected)
    as_float = load_image(path)
    assert as_float.dtype == torch.float32 and as_float.is_contiguous()
    assert torch.equal(as_float, expected.float() * BYTE_TO_FLOAT)
    assert float(as_float.min()) >= 0 and float(as_float.max()) <= 1


def test_grayscale_jpeg_is_repeated_to_three_channels(tmp_path):
    path = tmp_path / "gray.JPEG"
    Image.fromarray(photo(20, 30, 1)[..., 0]).save(path, quality=90)
    pixels = load_image_uint8(path)
    with Image.open(path) as image:
        assert image.mode == "L"
        gray = torch.from_numpy(np.array(image))
    assert pixels.shape == (3, 20, 30)
    for channel in range(3):
        assert torch.equal(pixels[channel], gray)


def test_cmyk_jpeg_gives_first_three_stored_components_like_torch_image(tmp_path):
    # PIL writes CMYK JPEGs Adobe-style (stored = 255 - ink) and inverts back on reading; libjpeg
    # (torch/image) returns the stored components and todepth keeps the first three.
    path = tmp_path / "cmyk.JPEG"
    ink = photo(24, 32, 2)
    black = np.full((24, 32, 1), 40, dtype=np.uint8)
    Image.fromarray(np.concatenate([ink, black], axis=-1), "CMYK").save(path, quality=95)
    pixels = load_image_uint8(path)
    with Image.open(path) as image:
        assert image.mode == "CMYK"
        pil_ink = np.array(image)[..., :3]
        pil_rgb = np.array(image.convert("RGB"))
    assert pixels.shape == (3, 24, 32)
    assert torch.equal(pixels, torch.from_numpy(255 - pil_ink).permute(2, 0, 1))
    # It is not PIL's CMYK->RGB conversion, which also applies the black channel.
    assert not torch.equal(pixels, torch.from_numpy(pil_rgb).permute(2, 0, 1))


def test_png_named_jpeg_is_detected_by_magic_bytes(tmp_path):
    path = tmp_path / "actually_png.JPEG"
    rgba = np.concatenate([photo(10, 12, 3), np.full((10, 12, 1), 7, dtype=np.uint8)], axis=-1)
    Image.fromarray(rgba, "RGBA").save(path, format="PNG")
    pixels = load_image_uint8(path)
    assert torch.equal(pixels, torch.from_numpy(rgba[..., :3]).permute(2, 0, 1))  # alpha dropped


def test_palette_png_is_expanded(tmp_path):
    path = tmp_path / "palette.png"
    Image.fromarray(photo(9, 11, 4)).convert("P").save(path)
    with Image.open(path) as image:
        expected = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(load_image_uint8(path), expected)


def test_unreadable_files_raise_decode_error(tmp_path):
    garbage = tmp_path / "garbage.JPEG"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(ImageDecodeError, match="garbage.JPEG"):
        load_image(garbage)
    truncated = tmp_path / "truncated.JPEG"
    Image.fromarray(photo(64, 64, 5)).save(truncated, quality=90)
    truncated.write_bytes(truncated.read_bytes()[:40])
    with pytest.raises(ImageDecodeError):
        load_image(truncated)
    with pytest.raises(ImageDecodeError, match="missing"):
        load_image(tmp_path / "missing.JPEG")
