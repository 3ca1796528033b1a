"""Parity with real Lua Torch7: the genuine fixture checkpoints reproduce the saved Lua outputs."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from fixtures import fixture_path
from lua_reference import lua_forward, relative_error

import converters
from converters import t7
from converters.export import read_saved_weights
from zoo import DenseNet
from zoo.cli import main

CHECKPOINTS = ["tiny_std", "tiny_custom"]
MAX_RELATIVE_ERROR = 1e-5


def _fixture(name: str):
    checkpoint = fixture_path("torch7", "densenet", f"{name}.t7")
    images = t7.load(fixture_path("torch7", "densenet", f"{name}.input.t7")).torch()
    expected = t7.load(fixture_path("torch7", "densenet", f"{name}.output.t7")).torch()
    description = json.loads(fixture_path("torch7", "densenet", f"{name}.json").read_text())
    return checkpoint, images, expected, description


def _run(config, state_dict, images):
    model = DenseNet(config)
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    with torch.no_grad():
        return model(images)


def _assert_matches_lua(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape
    assert relative_error(actual, expected) <= MAX_RELATIVE_ERROR
    scale = float(expected.abs().max())
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=MAX_RELATIVE_ERROR * scale)


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_converted_model_reproduces_lua_output(name: str) -> None:
    checkpoint, images, expected, description = _fixture(name)
    conversion = converters.convert(checkpoint)
    config = conversion.config
    assert config.growth_rate == description["growthRate"]
    assert list(config.block_config) == description["stages"]
    assert config.compression == description["reduction"]
    assert config.drop_rate == description["dropRate"]
    assert config.num_init_features == 2 * description["growthRate"]
    assert config.num_classes == description["output"]["shape"][1]
    assert config.stem == "imagenet"
    assert conversion.report.layout == ("custom" if description["optMemory"] >= 3 else "standard")
    _assert_matches_lua(_run(config, conversion.state_dict, images), expected)


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_reference_forward_reproduces_lua_output(name: str) -> None:
    """The test's own Lua interpreter agrees with Torch7, so it is a valid reference elsewhere."""
    checkpoint, images, expected, _ = _fixture(name)
    actual = lua_forward(t7.load(checkpoint), images.double())
    assert relative_error(actual, expected) <= MAX_RELATIVE_ERROR


def test_both_layouts_give_the_same_state_dict() -> None:
    standard = converters.convert(fixture_path("torch7", "densenet", "tiny_std.t7"))
    custom = converters.convert(fixture_path("torch7", "densenet", "tiny_custom.t7"))
    assert list(standard.state_dict) == list(custom.state_dict)
    for key, tensor in standard.state_dict.items():
        assert torch.equal(tensor, custom.state_dict[key]), key


def test_state_dict_tensors_are_plain_float32_with_own_memory() -> None:
    conversion = converters.convert(fixture_path("torch7", "densenet", "tiny_std.t7"))
    expected_keys = list(DenseNet(conversion.config).state_dict())
    assert list(conversion.state_dict) == expected_keys
    for key, tensor in conversion.state_dict.items():
        assert tensor.is_contiguous(), key
        assert tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size(), key
        if key.endswith("num_batches_tracked"):
            assert tensor.dtype == torch.int64 and tensor.shape == () and int(tensor) == 0
        else:
            assert tensor.dtype == torch.float32, key
    report = conversion.report
    counts = report.module_counts
    parametric = counts["cudnn.SpatialConvolution"] + counts["cudnn.SpatialBatchNormalization"] + counts["nn.Linear"]
    assert report.ignored_fields["gradWeight"] == parametric
    assert report.ignored_fields["gradBias"] == counts["cudnn.SpatialBatchNormalization"] + counts["nn.Linear"]
    assert report.tensor_types == {"torch.FloatTensor": len([k for k in expected_keys if k.endswith("weight")])}
    assert report.batchnorm_format == "running_var"
    assert report.module_counts["cudnn.SpatialBatchNormalization"] == 21


@pytest.mark.parametrize("name", CHECKPOINTS)
@pytest.mark.parametrize("output_format", ["safetensors", "pth"])
def test_cli_converted_file_loads_strictly_and_matches_lua(name: str, output_format: str, tmp_path) -> None:
    checkpoint, images, expected, _ = _fixture(name)
    output = tmp_path / f"{name}.{output_format}"
    result = CliRunner().invoke(main, ["convert", str(checkpoint), "-o", str(output), "--format", output_format])
    assert result.exit_code == 0, result.output
    assert "growth_rate=8 blocks=2-2-2-2" in result.output and str(output) in result.output
    if output_format == "pth":
        state_dict = torch.load(output, weights_only=True)
        assert isinstance(state_dict, dict) and "features.conv0.weight" in state_dict
    state_dict, config = read_saved_weights(output)
    _assert_matches_lua(_run(config, state_dict, images), expected)
