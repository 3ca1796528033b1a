"""zoo.style against fast_neural_style.lua's formulas (lua_style_reference, written independently) and
against the independent Lua interpreter, on fast-neural-style checkpoints built by converters.synthetic."""

from __future__ import annotations

import functools
from pathlib import Path

import lua_style_reference as lua
import numpy as np
import pytest
import torch
from convert.lua_reference import lua_forward
from PIL import Image

from converters import load_module, t7
from converters.synthetic.style_transfer import style_transfer_checkpoint
from zoo.style import (
    StyleModel,
    StyleTransferError,
    deprocess,
    image_to_bytes,
    load_style_model,
    median_filter,
    preprocess,
    read_style_checkpoint,
    save_image,
    stylize,
)

SMALL_ARCH = "c9s1-8,d16,R16,u8,c9s1-3"


@functools.cache
def checkpoint(preprocessing: str | None = "vgg") -> t7.T7Table:
    table = style_transfer_checkpoint(arch=SMALL_ARCH, image_size=32, batch_size=1, iterations=2, seed=3)
    if preprocessing is None:
        del table["opt"]["preprocessing"]
    else:
        table["opt"]["preprocessing"] = preprocessing
    return table


def saved(tmp_path: Path, preprocessing: str | None = "vgg") -> Path:
    path = tmp_path / f"style-{preprocessing}.t7"
    t7.save(checkpoint(preprocessing), path)
    return path


def photo(width: int = 37, height: int = 29, seed: int = 0) -> np.ndarray:
    """A uint8 [H,W,3] image with smooth gradients and noise (so that scaling and filters matter)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / (width - 1), yy * 255 / (height - 1), (xx + yy) * 127 / (width + height)], axis=-1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


# -- the formulas, a few pixels by hand ------------------------------------------------------------------


def test_vgg_preprocess_by_hand() -> None:
    # one pixel, RGB bytes (255, 0, 128): BGR, times 255, minus the BGR mean
    pixel = torch.tensor([255, 0, 128], dtype=torch.float64).view(1, 3, 1, 1) * (1 / 255)
    result = preprocess(pixel, "vgg").view(3)
    assert result.dtype == torch.float32
    expected = [128 - 103.939, 0 - 116.779, 255 - 123.68]
    assert result.tolist() == pytest.approx(expected, abs=1e-4)
    assert result.numpy().tolist() == lua.preprocess(pixel[0].numpy(), "vgg").reshape(3).tolist()


def test_resnet_preprocess_by_hand() -> None:
    pixel = torch.tensor([255, 0, 128], dtype=torch.float64).view(1, 3, 1, 1) * (1 / 255)
    result = preprocess(pixel, "resnet").view(3)
    expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    assert result.tolist() == pytest.approx(expected, rel=1e-6)
    assert result.numpy().tolist() == lua.preprocess(pixel[0].numpy(), "resnet").reshape(3).tolist()


def test_deprocess_by_hand() -> None:
    # the network's BGR output (24.061, -116.779, 131.32) is the RGB pixel (1, 0, ~0.5) again
    output = torch.tensor([24.061, -116.779, 131.32], dtype=torch.float32).view(1, 3, 1, 1)
    assert deprocess(output, "vgg").view(3).tolist() == pytest.approx([1.0, 0.0, 128 / 255], abs=1e-6)
    output = torch.tensor([2.0, -1.0, 0.0]).view(1, 3, 1, 1)
    assert deprocess(output, "resnet").view(3).tolist() == pytest.approx([0.943, 0.232, 0.406], abs=1e-6)


def test_saved_bytes_by_hand() -> None:
    # saturate to [0, 1], times 255, cast to a byte (truncation): 0.5 -> 127, 0.999 -> 254, 1.7 -> 255
    values = torch.tensor([-0.5, 0.0, 0.5, 0.999, 1.0, 1.7, 1 / 255, 0.99999994], dtype=torch.float32)
    assert image_to_bytes(values.view(1, 1, -1)).view(-1).tolist() == [0, 0, 127, 254, 255, 255, 1, 254]
    with pytest.raises(StyleTransferError, match="NaN"):
        image_to_bytes(torch.full((3, 2, 2), float("nan")))


# -- the formulas against the transcription, on whole images --------------------------------------------


@pytest.mark.parametrize("method", ["vgg", "resnet"])
def test_preprocess_and_deprocess_match_the_transcription(method: str) -> None:
    img = lua.load_double(photo().transpose(2, 0, 1))
    actual = preprocess(torch.from_numpy(img)[None], method)
    assert np.array_equal(actual.numpy(), lua.preprocess(img, method))
    output = 60 * np.random.default_rng(1).standard_normal((1, 3, 9, 7)).astype(np.float32)
    assert np.array_equal(deprocess(torch.from_numpy(output), method).numpy(), lua.deprocess(output, method))


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_median_filter_matches_the_transcription(size: int) -> None:
    img = np.random.default_rng(size).random((3, 11, 8), dtype=np.float32)
    img[:, 4:6, 2:5] = 0.5  # ties
    actual = median_filter(torch.from_numpy(img), size)
    assert actual.shape == (3, 12 - size, 9 - size)
    assert np.array_equal(actual.numpy(), lua.median_filter(img, size))
    with pytest.raises(StyleTransferError, match="does not fit"):
        median_filter(torch.from_numpy(img), 9)


# -- end to end -----------------------------------------------------------------------------------------


def lua_pipeline(network, pixels: np.ndarray, method: str, image_size: int, median: int) -> np.ndarray:
    """fast_neural_style.lua's run_image from the transcription; ``network`` maps float32 [1,3,H,W] to the output."""
    img = lua.load_double(pixels.transpose(2, 0, 1))
    if image_size > 0:
        img = lua.scale_to_max_side(img, image_size)
    out = lua.deprocess(network(lua.preprocess(img, method)), method)[0]
    if median > 0:
        out = lua.median_filter(out, median)
    return lua.save_bytes(out).transpose(1, 2, 0)


def converted(table: t7.T7Table):
    module = load_module(table["model"]).eval()

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(batch)).numpy()

    return run


def interpreted(table: t7.T7Table):
    def run(batch: np.ndarray) -> np.ndarray:
        return lua_forward(table["model"], torch.from_numpy(batch).double()).numpy()

    return run


@pytest.mark.parametrize(
    ("method", "image_size", "median"),
    [("vgg", 48, 3), ("vgg", 0, 0), ("resnet", 20, 2), (None, 40, 3)],
)
def test_stylize_is_fast_neural_style_lua(tmp_path: Path, method: str | None, image_size: int, median: int) -> None:
    pixels = photo()
    source = tmp_path / "photo.png"
    Image.fromarray(pixels).save(source)
    model = load_style_model(saved(tmp_path, method))
    assert model.preprocessing == (method or "vgg")  # opt.preprocessing, 'vgg' when absent
    seen = []
    model.network.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].clone()))
    result = stylize(model, source, image_size=image_size, median_filter_size=median, device="cpu")
    actual = np.asarray(result)
    table = checkpoint(method)
    # what the network was fed: bit for bit the double-precision load, scale and preprocessing
    img = lua.load_double(pixels.transpose(2, 0, 1))
    img = lua.scale_to_max_side(img, image_size) if image_size > 0 else img
    assert np.array_equal(seen[0].numpy(), lua.preprocess(img, method or "vgg"))
    expected = lua_pipeline(converted(table), pixels, method or "vgg", image_size, median)
    assert actual.shape == expected.shape and np.array_equal(actual, expected)
    # the whole path once more with the float64 interpreter as the network: at most one byte off anywhere
    reference = lua_pipeline(interpreted(table), pixels, method or "vgg", image_size, median)
    assert np.abs(actual.astype(int) - reference.astype(int)).max() <= 1
    assert len(np.unique(actual)) > 20  # not a flat image


def test_stylize_takes_pil_images_tensors_and_bare_modules(tmp_path: Path) -> None:
    pixels = photo(seed=4)
    model = read_style_checkpoint(saved(tmp_path))
    from_pil = np.asarray(stylize(model, Image.fromarray(pixels), image_size=30, device="cpu"))
    tensor = torch.from_numpy(pixels).permute(2, 0, 1)
    assert np.array_equal(np.asarray(stylize(model, tensor, image_size=30, device="cpu")), from_pil)
    floats = tensor.double() * (1 / 255)  # image.load's result
    assert np.array_equal(np.asarray(stylize(model, floats, image_size=30, device="cpu")), from_pil)
    bare = tmp_path / "bare.t7"
    t7.save(checkpoint()["model"], bare)
    bare_model = load_style_model(bare)
    assert bare_model.preprocessing == "vgg"
    assert np.array_equal(np.asarray(stylize(bare_model, tensor, image_size=30, device="cpu")), from_pil)
    assert np.array_equal(np.asarray(stylize(bare_model.network, tensor, image_size=30, device="cpu")), from_pil)


def test_save_image_writes_what_image_save_would(tmp_path: Path) -> None:
    image = Image.fromarray(photo())
    png = save_image(image, tmp_path / "out.png")
    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(image))
    jpeg = save_image(image, tmp_path / "sub" / "out.JPG")  # image.save creates no folders; fast_neural_style does
    with Image.open(jpeg) as decoded:
        assert decoded.format == "JPEG" and decoded.size == image.size
    with pytest.raises(FileExistsError):
        save_image(image, png)
    save_image(image, png, force=True)
    with pytest.raises(StyleTransferError, match=r"\.png, \.jpg, \.jpeg, \.ppm"):
        save_image(image, tmp_path / "out.gif")
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["out.JPG", "out.png", "sub"]


def test_bad_models_are_typed_errors(tmp_path: Path) -> None:
    table = tmp_path / "table.t7"
    t7.save(t7.T7Table({"opt": t7.T7Table({"arch": "c9s1-32"})}), table)
    with pytest.raises(StyleTransferError, match="not a fast-neural-style model"):
        load_style_model(table)
    odd = t7.T7Table(checkpoint("vgg"))
    odd["opt"] = t7.T7Table({**odd["opt"], "preprocessing": "caffe"})
    t7.save(odd, tmp_path / "odd.t7")
    with pytest.raises(StyleTransferError, match="'caffe' is not one fast_neural_style.lua knows"):
        load_style_model(tmp_path / "odd.t7")
    with pytest.raises(StyleTransferError):
        StyleModel(torch.nn.Identity(), "bgr")


def test_a_network_that_is_not_a_transform_net_is_refused() -> None:
    flat = torch.nn.Sequential(torch.nn.Flatten())
    with pytest.raises(StyleTransferError, match=r"returned \(1, 192\)"):
        stylize(flat, torch.zeros(3, 8, 8, dtype=torch.uint8), image_size=0, device="cpu")
