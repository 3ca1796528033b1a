"""Writing and reading converted weights: formats, metadata, atomic writes, no silent overwrite."""

from __future__ import annotations

import json

import pytest
import torch

from converters import ConversionError, t7
from converters.densenet import plan_conversion
from converters.export import (
    config_from_state_dict,
    convert_file,
    file_sha256,
    output_target,
    read_metadata,
    read_saved_weights,
    save_plan,
    save_weights,
)
from converters.synthetic.densenet import densenet_checkpoint
from zoo import CIFAR_CONFIGS, MODEL_CONFIGS, DenseNet, DenseNetConfig

CONFIG = DenseNetConfig(growth_rate=4, block_config=(2, 3), num_init_features=8, num_classes=6, drop_rate=0.1)


@pytest.fixture()
def checkpoint(tmp_path):
    path = tmp_path / "model.t7"
    t7.save(densenet_checkpoint(CONFIG, seed=0), path)
    return path


def test_safetensors_round_trip_with_metadata(checkpoint, tmp_path) -> None:
    output, plan = convert_file(checkpoint, tmp_path / "out.safetensors")
    from safetensors.torch import load_file

    raw = load_file(output)
    state_dict, config = read_saved_weights(output)
    expected = plan.materialize()
    assert config == CONFIG  # drop_rate survives through the metadata
    assert set(raw) == set(expected) == set(state_dict)
    for key, tensor in expected.items():
        assert torch.equal(raw[key], tensor) and raw[key].dtype == tensor.dtype, key
    metadata = read_metadata(output)
    assert json.loads(metadata["config"]) == CONFIG.to_dict()
    assert metadata["source_sha256"] == file_sha256(checkpoint)
    assert metadata["converter_version"]
    DenseNet(config).load_state_dict(state_dict, strict=True)


def test_streamed_and_in_memory_safetensors_are_identical(checkpoint, tmp_path) -> None:
    plan = plan_conversion(t7.load(checkpoint))
    streamed = save_plan(plan, tmp_path / "streamed.safetensors")
    in_memory = save_weights(plan.materialize(), plan.config, tmp_path / "memory.safetensors")
    assert streamed.read_bytes() == in_memory.read_bytes()


def test_pth_is_a_plain_state_dict_and_config_is_inferred(checkpoint, tmp_path) -> None:
    output, plan = convert_file(checkpoint, tmp_path / "out.pth")
    state_dict = torch.load(output, weights_only=True)
    expected = plan.materialize()
    assert list(state_dict) == list(expected)
    assert all(torch.equal(state_dict[key], tensor) for key, tensor in expected.items())
    _loaded, config = read_saved_weights(output)
    assert config == CONFIG.replace(drop_rate=0.0)  # a .pth has no room for drop_rate


def test_pth_config_has_the_compression_the_t7_conversion_infers(tmp_path) -> None:
    # compression 0.66 gives transitions 16 -> 10 and 22 -> 14; no rounding of 10/16 explains both
    config = DenseNetConfig(growth_rate=4, block_config=(2, 3, 2), num_init_features=8, num_classes=6, compression=0.66)
    source = tmp_path / "model.t7"
    t7.save(densenet_checkpoint(config, seed=0), source)
    output, plan = convert_file(source, tmp_path / "out.pth")
    assert plan.config.block_widths() == config.block_widths()
    state_dict, loaded = read_saved_weights(output)
    assert loaded == plan.config
    DenseNet(loaded).load_state_dict(state_dict, strict=True)


@pytest.mark.parametrize("name", sorted(MODEL_CONFIGS))
def test_config_is_recoverable_from_state_dict_shapes(name: str) -> None:
    with torch.device("meta"):
        state_dict = DenseNet(MODEL_CONFIGS[name]).state_dict()
    assert config_from_state_dict(state_dict) == MODEL_CONFIGS[name]


@pytest.mark.parametrize("name", list(CIFAR_CONFIGS))
def test_cifar_configs_with_and_without_bottleneck_are_recoverable_from_state_dict_shapes(name: str) -> None:
    named = CIFAR_CONFIGS[name]
    for config in (named, named.replace(num_classes=100, num_init_features=2 * named.growth_rate)):
        state_dict = DenseNet(config, init_weights=False).state_dict()
        assert config_from_state_dict(state_dict) == config
        assert config.bottleneck == any(key.endswith(".conv2.weight") for key in state_dict)


def test_a_state_dict_without_bottleneck_convolutions_is_the_original_densenet() -> None:
    config = DenseNetConfig(growth_rate=4, block_config=(2, 3), num_init_features=8, num_classes=6, compression=1.0)
    state_dict = DenseNet(config.replace(bottleneck=False, bn_size=2), init_weights=False).state_dict()
    assert config_from_state_dict(state_dict) == config.replace(bottleneck=False)  # bn_size unseen: its default


def test_existing_output_is_kept_unless_forced(checkpoint, tmp_path) -> None:
    output = tmp_path / "out.safetensors"
    output.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="force"):
        convert_file(checkpoint, output)
    assert output.read_bytes() == b"precious"
    convert_file(checkpoint, output, force=True)
    assert read_saved_weights(output)[1] == CONFIG


def test_failed_write_leaves_nothing_behind(tmp_path) -> None:
    state_dict = {"features.conv0.weight": torch.zeros(2, 3, 7, 7), "broken": torch.zeros(3, dtype=torch.bool)}
    with pytest.raises(ValueError, match="broken"):
        save_weights(state_dict, CONFIG, tmp_path / "out.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_transition_widths_no_compression_explains_are_refused() -> None:
    config = DenseNetConfig(growth_rate=4, block_config=(2, 3, 2), num_init_features=8, num_classes=6)
    with torch.device("meta"):
        state_dict = DenseNet(config).state_dict()
    assert tuple(state_dict["features.transition1.conv.weight"].shape[:2]) == (8, 16)  # compression 0.5
    state_dict["features.transition2.conv.weight"] = torch.empty(20, 22, 1, 1, device="meta")  # 22 -> 20: about 0.9
    with pytest.raises(
        ConversionError, match=r"features\.transition2\.conv\.weight: .*compression factor \(found 16 -> 8, 22 -> 20\)"
    ):
        config_from_state_dict(state_dict)


def test_default_output_is_the_source_name_in_the_current_directory(checkpoint, tmp_path, monkeypatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert output_target(checkpoint, None, None) == (work / "model.safetensors", "safetensors")
    assert output_target(checkpoint, None, "pth") == (work / "model.pth", "pth")
    assert output_target(checkpoint, tmp_path / "x.pt", None) == (tmp_path / "x.pt", "pth")
    output, plan = convert_file(checkpoint, format="pth")
    assert output == work / "model.pth"
    assert plan.config == config_from_state_dict(torch.load(output, weights_only=True)).replace(
        drop_rate=CONFIG.drop_rate
    )
    with pytest.raises(ValueError, match="format must be one of"):
        output_target(checkpoint, None, "onnx")
