"""zoo.faces and ``densenet-zoo embed`` against openface_server.lua's input handling (written out here) and the
independent Lua interpreter, on an OpenFace nn4.small2 tree built by converters.synthetic."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import run
from convert.lua_reference import lua_forward, relative_error
from data.reference_image_c import reference_scale
from PIL import Image

from converters import t7
from converters.synthetic.openface import openface_checkpoint
from zoo.faces import FaceEmbeddingError, embed, embed_batch, face_input, load_face_model

#: image.load(path, 3, 'float') under torch.setdefaulttensortype('torch.FloatTensor'): byte * (float)(1/255)
FLOAT_OF_BYTE = np.float32(1 / 255)


@functools.cache
def tree() -> t7.T7Object:
    return openface_checkpoint(seed=2, batch_size=2)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("openface") / "nn4.small2.v1.t7"
    t7.save(tree(), path)
    return path


def face(width: int, height: int, seed: int) -> np.ndarray:
    """A uint8 [H,W,3] test image (smooth, with noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([128 + 100 * np.sin(xx / 7), 128 + 100 * np.cos(yy / 5), (xx * yy) % 256], axis=-1)
    return np.clip(base + rng.normal(0, 15, base.shape), 0, 255).astype(np.uint8)


def lua_input(pixels: np.ndarray) -> np.ndarray:
    """openface_server.lua: ``image.load(path, 3, 'float')`` then ``image.scale(img, 96, 96)`` (bilinear, float)."""
    img = pixels.transpose(2, 0, 1).astype(np.float32) * FLOAT_OF_BYTE
    return img if img.shape[1:] == (96, 96) else reference_scale(img, 96, 96, "bilinear")


def test_face_input_by_hand(tmp_path: Path) -> None:
    pixels = face(96, 96, 0)
    pixels[0, 0] = (255, 0, 128)
    path = tmp_path / "aligned.png"
    Image.fromarray(pixels).save(path)
    actual = face_input(path)
    assert actual.dtype == torch.float32 and actual.shape == (3, 96, 96)
    assert actual[:, 0, 0].tolist() == [1.0, 0.0, float(np.float32(128) * FLOAT_OF_BYTE)]  # no mean, no std
    assert np.array_equal(actual.numpy(), lua_input(pixels))


@pytest.mark.parametrize(("width", "height"), [(120, 150), (64, 48), (96, 97), (300, 90)])
def test_other_sizes_are_stretched_like_image_scale(tmp_path: Path, width: int, height: int) -> None:
    pixels = face(width, height, width)
    path = tmp_path / "face.png"
    Image.fromarray(pixels).save(path)
    actual = face_input(path).numpy()
    assert actual.shape == (3, 96, 96)
    assert np.abs(actual - lua_input(pixels)).max() <= 1e-6  # a few float32 ulps, as zoo.data.image_scale
    assert np.array_equal(face_input(Image.fromarray(pixels)).numpy(), actual)
    assert np.array_equal(face_input(torch.from_numpy(pixels).permute(2, 0, 1)).numpy(), actual)


def test_embed_is_the_lua_network_on_lua_input(model_file: Path, tmp_path: Path) -> None:
    network = load_face_model(model_file)
    images = [face(96, 96, 5), face(110, 130, 6)]
    paths = []
    for index, pixels in enumerate(images):
        paths.append(tmp_path / f"face{index}.png")
        Image.fromarray(pixels).save(paths[-1])
    rows = embed_batch(network, paths, device="cpu")
    assert rows.shape == (2, 128) and rows.dtype == torch.float32
    for row, pixels in zip(rows, images, strict=True):
        expected = lua_forward(tree(), torch.from_numpy(lua_input(pixels)).double()[None])
        assert expected.shape == (128,)  # nn.View(736) makes Lua's batch of one a vector
        assert relative_error(row, expected) <= 1e-5
        assert abs(float(row.norm()) - 1) <= 1e-6  # nn.Normalize(2)
    assert torch.equal(embed(network, paths[1], device="cpu"), rows[1])  # each image on its own
    assert not torch.allclose(rows[0], rows[1])


def test_embed_errors(model_file: Path) -> None:
    network = load_face_model(model_file)
    with pytest.raises(FaceEmbeddingError, match="no images"):
        embed_batch(network, [], device="cpu")
    with pytest.raises(FaceEmbeddingError, match=r"\[3,H,W\]"):
        embed(network, torch.zeros(96, 96), device="cpu")
    with pytest.raises(FaceEmbeddingError, match="returned"):
        embed(torch.nn.Identity(), torch.zeros(3, 96, 96), device="cpu")


def test_embed_command(model_file: Path, tmp_path: Path) -> None:
    paths = []
    for index, (width, height) in enumerate([(96, 96), (80, 100)]):
        paths.append(tmp_path / f"face{index}.jpg")
        Image.fromarray(face(width, height, index)).save(paths[-1], quality=95)
    expected = embed_batch(load_face_model(model_file), paths, device="cpu")
    code, out, err = run("embed", str(model_file), *map(str, paths), "--json", "--device", "cpu")
    assert code == 0, err
    document = json.loads(out)
    assert document["model"] == str(model_file) and document["dimension"] == 128
    assert [row["image"] for row in document["embeddings"]] == list(map(str, paths))
    for row, vector in zip(document["embeddings"], expected, strict=True):
        assert np.array_equal(np.float32(row["embedding"]), vector.numpy())  # shortest digits, same float32
    code, out, err = run("embed", str(model_file), *map(str, paths), "--device", "cpu")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    for line, path, vector in zip(lines, paths, expected, strict=True):
        name, numbers = line.split("\t")
        assert name == str(path)
        assert np.array_equal(np.float32(numbers.split(",")), vector.numpy())


def test_embed_command_errors(model_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "face.png"
    bad.write_bytes(b"\x89PNG not really")
    code, _, err = run("embed", str(model_file), str(bad))
    assert code == 1 and err.startswith("error: cannot decode image") and err.count("\n") == 1
    code, _, err = run("embed", str(tmp_path / "nn4.t7"), str(bad))
    assert code == 1 and "does not exist" in err
    code, _, err = run("embed", "no-such-model", str(bad))
    assert code == 1 and "unknown model 'no-such-model'" in err
