"""zoo.transforms / zoo.data.transforms on real JPEG files, both kinds."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.data.decode import load_image
from zoo.data.pipeline import EvalTransform
from zoo.data.torch7 import Compose, validation_transform


@pytest.fixture
def jpeg_path(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:400]
    pixels = np.stack([xx * 255 / 400, yy * 255 / 300, (xx * yy) % 251], axis=-1)
    pixels = np.clip(pixels + rng.normal(0, 10, pixels.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "n01440764_1.JPEG"
    Image.fromarray(pixels).save(path, quality=90)
    return path


def test_torch7_kind_is_the_lua_validation_pipeline(jpeg_path):
    transform = zoo.transforms("densenet121")
    out = transform(jpeg_path)
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    expected = Compose(validation_transform().transforms)(load_image(jpeg_path))
    assert torch.equal(out, expected)
    assert torch.equal(transform(str(jpeg_path)), out)
    with Image.open(jpeg_path) as image:
        assert torch.equal(transform(image), out)
    assert torch.equal(transform(load_image(jpeg_path)), out)


def test_ten_crop_both_kinds(jpeg_path):
    for kind in ("torch7", "torchvision"):
        out = zoo.transforms(kind=kind, ten_crop=True)(jpeg_path)
        assert out.shape == (10, 3, 224, 224)
    ten = zoo.transforms(ten_crop=True)(jpeg_path)
    expected = Compose(validation_transform(ten_crop=True).transforms)(load_image(jpeg_path))
    assert float((ten - expected).abs().max()) <= 1e-6
    assert torch.equal(ten[0], zoo.transforms()(jpeg_path))


def test_torchvision_kind_is_torchvision_standard_pipeline(jpeg_path):
    from torchvision import transforms as T

    standard = T.Compose(
        [
            T.Resize(256),
            T.CenterCrop(224),
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    with Image.open(jpeg_path) as image:
        expected = standard(image.convert("RGB"))
    out = zoo.transforms(kind="torchvision")(jpeg_path)
    assert torch.equal(out, expected)
    # The two pipelines differ (interpolation, antialiasing, crop offsets): that is the point.
    difference = (out - zoo.transforms(kind="torch7")(jpeg_path)).abs().mean()
    assert difference > 1e-3


def test_transform_is_picklable_for_dataloader_workers(jpeg_path):
    transform = zoo.transforms()
    restored = pickle.loads(pickle.dumps(transform))
    assert torch.equal(restored(jpeg_path), transform(jpeg_path))


def test_unknown_kind_and_input_are_rejected():
    with pytest.raises(ValueError, match="torchvision"):
        zoo.transforms(kind="timm")
    with pytest.raises(TypeError):
        zoo.transforms()(12345)


def test_import_zoo_stays_light():
    code = "import sys, zoo; print(sorted(m for m in ('PIL', 'torchvision', 'zoo.data') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "width,height,mode",
    [
        (500, 375, "RGB"),
        (333, 500, "RGB"),
        (256, 300, "RGB"),
        (640, 256, "RGB"),
        (200, 150, "RGB"),
        (256, 256, "RGB"),
        (500, 281, "L"),
        (301, 423, "CMYK"),
    ],
)
def test_fast_jpeg_path_equals_plain_lua_composition(tmp_path, width, height, mode):
    rng = np.random.default_rng(width + height)
    channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    path = tmp_path / f"{width}x{height}.JPEG"
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(path, quality=85)
    out = zoo.transforms()(path)
    expected = Compose(validation_transform().transforms)(load_image(path))
    assert out.shape == (3, 224, 224) and out.is_contiguous()
    assert float((out - expected).abs().max()) <= 1e-6
    bilinear = EvalTransform(mode="bilinear")
    expected = Compose(validation_transform(mode="bilinear").transforms)(load_image(path))
    assert float((bilinear(path) - expected).abs().max()) <= 1e-6


def test_broken_files_raise_decode_error_from_transforms(tmp_path):
    from zoo.data.decode import ImageDecodeError

    broken = tmp_path / "broken.JPEG"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a complete JPEG")
    with pytest.raises(ImageDecodeError, match="broken.JPEG"):
        zoo.transforms(kind="torch7")(broken)
