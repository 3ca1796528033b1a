"""Image files from strangers: decompression bombs, truncated files, odd modes, formats PIL hands to other
programs, FIFOs and devices. Each ends in pixels or an ImageDecodeError naming the file, never a traceback,
a hang or a multi-gigabyte allocation; the CLI prints one ``error:`` line."""

from __future__ import annotations

import io
import os
import resource
import struct
import time
import zlib

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image, features

import zoo
from zoo.data.decode import ImageDecodeError, load_image_uint8
from zoo.data.folder import ImageFolder

ENTRY_POINTS = {
    "load_image_uint8": load_image_uint8,
    "torch7 transform": zoo.transforms(kind="torch7"),
    "torchvision transform": zoo.transforms(kind="torchvision"),
}


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real 16 x 16 JPEG whose frame header (SOF0) is patched to declare ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 90, dtype=np.uint8)).save(buffer, format="JPEG")
    content = bytearray(buffer.getvalue())
    frame = content.index(b"\xff\xc0")
    content[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(content)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A PNG header for an 8-bit RGB ``width`` x ``height`` image with almost no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


BOMBS = {
    # 30000 x 30000 JPEG: libjpeg would allocate 2.7 GB; PIL's own check (2 x MAX_IMAGE_PIXELS) refuses it
    "jpeg 30000x30000": ("bomb.JPEG", jpeg_declaring(30000, 30000)),
    # 10000 x 10000: above MAX_IMAGE_PIXELS but below twice it, where PIL only warns
    "jpeg 10000x10000": ("bomb.JPEG", jpeg_declaring(10000, 10000)),
    "png 100000x100000": ("bomb.png", png_declaring(100000, 100000)),
    "png 10000x10000": ("bomb.png", png_declaring(10000, 10000)),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_decompression_bombs_are_refused_from_the_header(tmp_path, bomb, entry):
    name, content = BOMBS[bomb]
    path = tmp_path / name
    path.write_bytes(content)
    assert len(content) < 1000
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(
        ImageDecodeError, match=rf"{name}.*pixels.* decompression bomb \(raise PIL.Image.MAX_IMAGE_PIXELS"
    ):
        ENTRY_POINTS[entry](path)
    assert time.perf_counter() - started < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200_000  # KiB


def test_the_pixel_limit_is_pil_s_setting(tmp_path, monkeypatch):
    path = tmp_path / "small.JPEG"
    path.write_bytes(jpeg_declaring(16, 16))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 255)
    with pytest.raises(ImageDecodeError, match=r"16 x 16 = 256 pixels, more than PIL.Image.MAX_IMAGE_PIXELS \(255\)"):
        load_image_uint8(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert load_image_uint8(path).shape == (3, 16, 16)


def photo(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(height * width)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def saved(path, image: Image.Image, **options):
    image.save(path, **options)
    return path


def test_truncated_files_decode_what_is_there_or_raise_decode_error(tmp_path):
    jpeg = saved(tmp_path / "whole.JPEG", Image.fromarray(photo(64, 48)), quality=90).read_bytes()
    png = saved(tmp_path / "whole.png", Image.fromarray(photo(64, 48))).read_bytes()
    for name, content in [("cut.JPEG", jpeg), ("cut.png", png)]:
        for cut in (len(content) // 2, len(content) - 5, 30):
            path = tmp_path / name
            path.write_bytes(content[:cut])
            for entry, transform in ENTRY_POINTS.items():
                try:
                    result = transform(path)
                except ImageDecodeError as error:
                    assert name in str(error), entry
                else:  # libjpeg fills a cut-off JPEG in grey, as torch/image did; a PNG may lose only its end
                    assert result.shape[-2:] in ((64, 48), (224, 224)) and torch.isfinite(result.float()).all(), entry


def test_a_png_cut_inside_its_pixel_data_is_a_decode_error(tmp_path):
    content = saved(tmp_path / "whole.png", Image.fromarray(photo(64, 48))).read_bytes()
    (tmp_path / "cut.png").write_bytes(content[: len(content) // 2])
    for transform in ENTRY_POINTS.values():
        with pytest.raises(ImageDecodeError, match="cut.png"):
            transform(tmp_path / "cut.png")


def odd_images(tmp_path):
    """(path, expected uint8 [3, H, W]) for the modes datasets contain besides RGB."""
    rgb = photo(9, 13)
    gray = rgb[..., 0]
    wide = (np.arange(9 * 13, dtype=np.uint16).reshape(9, 13) * 509).astype(np.uint16)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 3
    cases = [
        (saved(tmp_path / "palette_alpha.png", palette), np.array(palette.convert("RGB"))),
        (saved(tmp_path / "gray_alpha.png", Image.fromarray(np.stack([gray, gray // 2], -1), "LA")), gray),
        (saved(tmp_path / "bilevel.png", Image.fromarray(gray > 128)), np.where(gray > 128, 255, 0)),
        (saved(tmp_path / "sixteen_bit.png", Image.fromarray(wide)), np.rint(wide / 257.0)),
        (saved(tmp_path / "palette.bmp", palette), np.array(palette.convert("RGB"))),
        (saved(tmp_path / "palette.gif", palette), np.array(palette.convert("RGB"))),
        (saved(tmp_path / "gray.ppm", Image.fromarray(gray)), gray),
    ]
    if features.check("webp"):
        cases.append((saved(tmp_path / "lossless.webp", Image.fromarray(rgb), lossless=True), rgb))
    return cases


def test_palette_sixteen_bit_and_alpha_modes_decode_to_rgb(tmp_path):
    for path, expected in odd_images(tmp_path):
        expected = np.asarray(expected, dtype=np.uint8)
        planes = np.broadcast_to(expected[..., None], (*expected.shape, 3)) if expected.ndim == 2 else expected
        assert torch.equal(load_image_uint8(path), torch.from_numpy(planes.copy()).permute(2, 0, 1)), path.name


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n0 0 moveto 8 8 lineto stroke\n%%EOF\n"


def test_formats_outside_the_image_formats_are_refused_by_content_whatever_the_name(tmp_path):
    tiff = saved(tmp_path / "tiff.JPEG", Image.fromarray(photo(8, 8)), format="TIFF")
    eps = tmp_path / "postscript.png"
    eps.write_bytes(EPS)
    with Image.open(eps) as image:  # PIL recognises it, and would hand it to Ghostscript to decode
        assert image.format == "EPS"
    for path in (tiff, eps):
        for transform in ENTRY_POINTS.values():
            with pytest.raises(ImageDecodeError, match=rf"{path.name}.*not a file of a known image format"):
                transform(path)


def test_fifos_devices_and_folders_are_not_read_and_links_to_images_are(tmp_path):
    root = tmp_path / "val" / "n01"
    root.mkdir(parents=True)
    Image.fromarray(photo(20, 20)).save(root / "real.JPEG")
    outside = saved(tmp_path / "elsewhere.JPEG", Image.fromarray(photo(12, 12)))
    os.mkfifo(root / "fifo.JPEG")
    (root / "zero.JPEG").symlink_to("/dev/zero")
    (root / "dir.JPEG").mkdir()
    (root / "linked.JPEG").symlink_to(outside)
    folder = ImageFolder(tmp_path, transform=load_image_uint8)
    assert [os.path.basename(path) for path, _ in folder.samples] == ["linked.JPEG", "real.JPEG"]
    assert folder[0][0].shape == (3, 12, 12)
    for name in ("fifo.JPEG", "zero.JPEG", "dir.JPEG"):  # named directly (predict), they are refused at once
        for transform in ENTRY_POINTS.values():
            with pytest.raises(ImageDecodeError, match=rf"{name}.* is not a regular file"):
                transform(root / name)


def test_predict_on_hostile_files_prints_one_error_line(tmp_path):
    from converters.export import save_weights
    from zoo import DenseNet, DenseNetConfig
    from zoo.cli import main

    config = DenseNetConfig(growth_rate=4, block_config=(1, 1), num_init_features=8, num_classes=5)
    weights = save_weights(DenseNet(config).state_dict(), config, tmp_path / "tiny.safetensors")
    (tmp_path / "bomb.JPEG").write_bytes(jpeg_declaring(30000, 30000))
    os.mkfifo(tmp_path / "fifo.JPEG")
    for name in ("bomb.JPEG", "fifo.JPEG"):
        for preprocess in ("torch7", "torchvision"):
            arguments = ["predict", str(weights), str(tmp_path / name), "--device", "cpu", "--preprocess", preprocess]
            result = CliRunner().invoke(main, arguments)
            assert result.exit_code == 1 and result.stderr.startswith("error: ") and name in result.stderr
            assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_evaluate_with_decode_workers_reports_a_bomb_as_one_error_line(tmp_path):
    """The error crosses the DataLoader worker process; the CLI shows its message, not the worker's traceback."""
    from converters.export import save_weights
    from zoo import DenseNet, DenseNetConfig
    from zoo.cli import main

    config = DenseNetConfig(growth_rate=4, block_config=(1, 1), num_init_features=8, num_classes=5)
    weights = save_weights(DenseNet(config).state_dict(), config, tmp_path / "tiny.safetensors")
    folder = tmp_path / "data" / "val" / "n01440764"
    folder.mkdir(parents=True)
    (folder / "a.JPEG").write_bytes(jpeg_declaring(30000, 30000))
    arguments = ["evaluate", str(weights), "--data", str(tmp_path / "data"), "--workers", "1", "--device", "cpu", "-q"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith(f"error: image '{folder / 'a.JPEG'}': Image size (900000000 pixels) exceeds")
    assert "Traceback" not in result.stderr
