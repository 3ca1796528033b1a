"""Crafted ``.safetensors`` and ``.pth`` files (issue 9, items 3 and 5): checked against what is really in them
before anything is built, never executed, and refused with a typed error whose message is safe to follow.

``converters.export.read_saved_weights`` raises ConversionError; ``zoo.load_weights`` (the registry's read path)
raises VerificationError; the CLI prints one ``error:`` line and exits 1.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import time
import zipfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

import zoo
import zoo.registry.loading as registry_loading
from converters import ConversionError
from converters.export import read_saved_weights, save_weights
from zoo import MODEL_CONFIGS, DenseNet, DenseNetConfig
from zoo.cli import main
from zoo.registry import VerificationError

CONFIG = DenseNetConfig(growth_rate=4, block_config=(1, 1), num_init_features=8, num_classes=5)


def _state_dict(config: DenseNetConfig = CONFIG) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return DenseNet(config).state_dict()


def _both_refuse(path: Path, *fragments: str) -> str:
    """Both loaders refuse ``path`` with their typed error; returns the message."""
    with pytest.raises(ConversionError) as converted:
        read_saved_weights(path)
    with pytest.raises(VerificationError) as verified:
        zoo.load_weights(path)
    assert str(verified.value) == str(converted.value)
    for fragment in fragments:
        assert fragment in str(converted.value), str(converted.value)
    return str(converted.value)


def _with_metadata_config(path: Path, config_text: str, tensors: dict | None = None) -> Path:
    save_file(tensors if tensors is not None else {"x": torch.zeros(1)}, str(path), metadata={"config": config_text})
    return path


def test_a_244_byte_file_declaring_20000_layers_is_refused_at_once(tmp_path) -> None:
    """It made zoo.load_weights build a 20000-layer DenseNet (17 s, 1.1 GB) before any check."""
    config = {**CONFIG.to_dict(), "block_config": [20000]}
    path = _with_metadata_config(tmp_path / "tiny.safetensors", json.dumps(config))
    assert path.stat().st_size < 300
    start = time.perf_counter()
    _both_refuse(path, "block_config", "20000", "each from 1 to 500")
    assert time.perf_counter() - start < 5


def test_a_config_the_tensors_do_not_back_is_refused_before_any_network_is_built(tmp_path, monkeypatch) -> None:
    def never_build(*args, **kwargs):
        raise AssertionError("a DenseNet was built before the file's tensors were checked")

    monkeypatch.setattr(registry_loading, "DenseNet", never_build)
    path = _with_metadata_config(tmp_path / "lies.safetensors", MODEL_CONFIGS["densenet264_k48_cosine"].to_json())
    message = _both_refuse(
        path, "which has 1591 tensors", "the file holds 1 of 1", "missing 1326 keys", "unexpected 1 keys"
    )
    assert len(message) < 2000


@pytest.mark.parametrize(
    ("config_text", "fragment"),
    [
        (json.dumps({**CONFIG.to_dict(), "growth_rate": "32"}), "growth_rate must be an integer"),
        (json.dumps({**CONFIG.to_dict(), "growth_rate": 1.5}), "growth_rate must be an integer"),
        (json.dumps({**CONFIG.to_dict(), "block_config": "abc"}), "block_config must be a list"),
        (json.dumps({**CONFIG.to_dict(), "compression": None}), "compression"),
        (json.dumps({**CONFIG.to_dict(), "drop_rate": float("nan")}), "drop_rate"),
        (json.dumps({**CONFIG.to_dict(), "depth": 121}), "unknown DenseNetConfig keys"),
        (json.dumps({**CONFIG.to_dict(), 1: 2}), "unknown DenseNetConfig keys"),
        ('{"growth_rate": 4,', "Expecting"),
        ("[4, [1, 1]]", "a dict (a JSON object)"),
        ("null", "a dict"),
        ("[" * 100_000 + "]" * 100_000, "not a valid DenseNetConfig"),
    ],
)
def test_metadata_config_of_the_wrong_type_or_invalid_json_is_a_typed_error(tmp_path, config_text, fragment) -> None:
    path = _with_metadata_config(tmp_path / "weights.safetensors", config_text, _state_dict())
    _both_refuse(path, "the 'config' metadata is not a valid DenseNetConfig", fragment)


def test_weights_of_an_integer_type_are_refused(tmp_path) -> None:
    state_dict = _state_dict()
    state_dict["classifier.weight"] = state_dict["classifier.weight"].to(torch.int32)
    _with_metadata_config(tmp_path / "int.safetensors", CONFIG.to_json(), state_dict)
    _both_refuse(tmp_path / "int.safetensors", "tensors of the wrong kind", "classifier.weight torch.int32")


def _torch_zip_with_pickle(payload: bytes) -> bytes:
    """A torch.save zip archive whose data.pkl is ``payload`` (every other record as torch wrote it)."""
    template = io.BytesIO()
    torch.save({"w": torch.zeros(1)}, template)
    source = zipfile.ZipFile(io.BytesIO(template.getvalue()))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as target:
        for name in source.namelist():
            target.writestr(name, payload if name.endswith("data.pkl") else source.read(name))
    return archive.getvalue()


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("container", ["zip", "legacy pickle"])
def test_a_pickle_that_would_run_code_is_refused_without_advising_weights_only_false(tmp_path, container) -> None:
    marker = tmp_path / "code-ran"
    payload = pickle.dumps({"classifier.weight": _RunsCode(marker)}, protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(_torch_zip_with_pickle(payload) if container == "zip" else payload)
    message = _both_refuse(path, "not a plain tensor state dict", "cannot be loaded safely", "Re-save the weights")
    assert "weights_only=False" not in message and "weights_only` set to `False" not in message
    assert "mkdir" in message  # names what the file wanted to call
    assert not marker.exists()
    image = tmp_path / "cat.jpg"
    image.write_bytes(b"not read: the model fails first")
    result = CliRunner().invoke(main, ["predict", str(path), str(image)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "weights_only=False" not in result.stderr and not marker.exists()


def test_a_zip_renamed_safetensors_is_a_typed_error(tmp_path) -> None:
    path = tmp_path / "model.safetensors"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    _both_refuse(path, "cannot be read as a torch.save file")


def test_a_torch7_file_renamed_safetensors_is_a_typed_error(tmp_path) -> None:
    from converters import t7

    path = tmp_path / "model.safetensors"
    t7.save(t7.T7Table({1: 2}), path)
    _both_refuse(path, "neither a safetensors file nor a torch.save file")


def test_a_zero_stride_tensor_in_a_pth_is_refused_before_it_is_expanded(tmp_path) -> None:
    """2^40 elements over one stored float: ``.contiguous()`` would have allocated 4 TB."""
    path = tmp_path / "huge.pth"
    torch.save({"classifier.weight": torch.zeros(1).as_strided((2**20, 2**20), (0, 0))}, path)
    assert path.stat().st_size < 10_000
    _both_refuse(path, "'classifier.weight'", "stride 0 along dimension 1 of size 1048576")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ({1: torch.zeros(1)}, "the key 1"),
        ({"classifier.weight": [1.0, 2.0]}, "'classifier.weight': list"),
        ([torch.zeros(1)], "found list"),
        ({"classifier.weight": torch.zeros(3, 3).to_sparse()}, "torch.sparse_coo"),
        ({"state_dict": {"classifier.weight": 7}}, "'classifier.weight': int"),
    ],
)
@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")
def test_a_pth_that_is_not_a_dict_of_plain_tensors_is_refused(tmp_path, content, fragment) -> None:
    path = tmp_path / "odd.pth"
    torch.save(content, path)
    _both_refuse(path, fragment)


@pytest.mark.parametrize(
    ("key", "shape", "fragment"),
    [
        ("features.conv0.weight", (8, 3, 7), "features.conv0.weight with 4 dimensions"),
        ("classifier.weight", (5,), "classifier.weight with 2 dimensions"),
        ("features.denseblock1.denselayer1.conv2.weight", (0, 16, 3, 3), "positive sizes"),
        ("features.transition1.conv.weight", (6, 0, 1, 1), "positive sizes"),
    ],
)
def test_inferring_a_config_from_malformed_shapes_is_a_typed_error(tmp_path, key, shape, fragment) -> None:
    state_dict = _state_dict()
    state_dict[key] = torch.zeros(shape)
    path = tmp_path / "shapes.pth"
    torch.save(state_dict, path)
    _both_refuse(path, fragment)


def test_a_layer_number_of_thousands_of_digits_is_an_unexpected_key_not_a_crash(tmp_path) -> None:
    state_dict = _state_dict()
    state_dict[f"features.denseblock1.denselayer{'9' * 5000}.conv2.weight"] = torch.zeros(4, 16, 3, 3)
    path = tmp_path / "digits.pth"
    torch.save(state_dict, path)
    _both_refuse(path, "unexpected 1 keys")


def test_truncated_and_corrupt_safetensors_are_typed_errors(tmp_path) -> None:
    save_weights(_state_dict(), CONFIG, tmp_path / "good.safetensors")
    content = (tmp_path / "good.safetensors").read_bytes()
    for name, broken in (
        ("truncated", content[: len(content) // 2]),
        ("huge_header", struct.pack("<Q", 2**62) + content[8:]),
        ("empty", b""),
    ):
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(broken)
        _both_refuse(path, "neither a safetensors file nor a torch.save file")


def test_a_truncated_torch_zip_is_a_typed_error_not_an_os_error(tmp_path) -> None:
    full = io.BytesIO()
    torch.save(_state_dict(), full)
    path = tmp_path / "truncated.pth"
    path.write_bytes(full.getvalue()[: len(full.getvalue()) // 3])  # torch.load raises OSError(EINVAL) for this
    _both_refuse(path, "cannot be read as a torch.save file")
    with pytest.raises(FileNotFoundError):
        read_saved_weights(tmp_path / "missing.pth")


def test_weights_of_another_floating_type_give_a_float32_model_that_runs(tmp_path) -> None:
    state_dict = {key: value.double() if value.is_floating_point() else value for key, value in _state_dict().items()}
    state_dict["features.conv0.weight"] = state_dict["features.conv0.weight"].half()
    path = tmp_path / "mixed.pth"
    torch.save(state_dict, path)
    model = zoo.load_weights(path)
    assert {tensor.dtype for tensor in model.parameters()} == {torch.float32}
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, CONFIG.num_classes)
