"""``densenet-zoo stylize`` through click, on a fast-neural-style checkpoint written by converters.synthetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_run import run
from PIL import Image

from converters import t7
from converters.synthetic.style_transfer import style_transfer_checkpoint
from zoo.style import load_style_model, stylize


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("stylize")
    model = folder / "candy.t7"
    t7.save(style_transfer_checkpoint(arch="c9s1-8,d16,R16,u8,c9s1-3", image_size=32, batch_size=1, seed=7), model)
    rng = np.random.default_rng(3)
    photo = folder / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(photo, quality=90)
    return model, photo


def test_stylize_writes_the_api_result(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, photo = files
    output = tmp_path / "styled.png"
    code, out, err = run("stylize", str(model), str(photo), "-o", str(output), "--image-size", "64", "--device", "cpu")
    assert code == 0, err
    assert f"wrote {output} (62x48, vgg preprocessing)" in out
    expected = stylize(load_style_model(model), photo, image_size=64, median_filter_size=3, device="cpu")
    with Image.open(output) as written:
        assert written.format == "PNG" and np.array_equal(np.asarray(written), np.asarray(expected))
    # -median_filter 0 and -image_size 0 as in the Lua script: the photo's own size
    code, out, err = run(
        "stylize", str(model), str(photo), "-o", str(output), "--image-size", "0", "--median-filter", "0", "--force"
    )
    assert code == 0, err
    assert Image.open(output).size == (52, 40)


def test_stylize_jpeg_output(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, photo = files
    output = tmp_path / "nested" / "styled.jpg"
    code, _, err = run("stylize", str(model), str(photo), "-o", str(output), "--image-size", "32", "--device", "cpu")
    assert code == 0, err
    with Image.open(output) as written:
        assert written.format == "JPEG" and written.size == (30, 22)


def test_stylize_errors_are_one_line(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, photo = files
    existing = tmp_path / "exists.png"
    existing.write_bytes(b"mine")
    code, _, err = run("stylize", str(model), str(photo), "-o", str(existing), "--device", "cpu")
    assert code == 1 and err.startswith("error: ") and "already exists" in err and err.count("\n") == 1
    assert existing.read_bytes() == b"mine"
    code, _, err = run("stylize", str(model), str(photo), "-o", str(tmp_path / "out.gif"), "--device", "cpu")
    assert code == 1 and "image.save writes .png, .jpg, .jpeg, .ppm files" in err
    code, _, err = run("stylize", str(tmp_path / "missing.t7"), str(photo), "-o", str(tmp_path / "a.png"))
    assert code == 1 and "does not exist" in err
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    code, _, err = run("stylize", str(model), str(not_an_image), "-o", str(tmp_path / "b.png"))
    assert code == 1 and err.startswith("error: cannot decode image")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["exists.png", "notes.png"]
