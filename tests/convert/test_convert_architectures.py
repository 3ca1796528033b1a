"""All eight published architectures and assorted small ones, in both Lua layouts, made by our writer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lua_reference import lua_forward, relative_error
from published import PUBLISHED_PARAMETER_COUNTS

from converters import t7
from converters.densenet import convert, plan_conversion
from converters.synthetic.densenet import densenet_checkpoint
from zoo import MODEL_CONFIGS, DenseNet, DenseNetConfig

SMALL_CONFIGS = {
    "tiny4": DenseNetConfig(growth_rate=4, block_config=(2, 3, 1, 2), num_init_features=8, num_classes=10),
    "three_blocks_odd_widths": DenseNetConfig(
        growth_rate=5, block_config=(3, 2, 2), num_init_features=11, num_classes=7
    ),
    "compression_0.6": DenseNetConfig(
        growth_rate=6, block_config=(2, 2), num_init_features=12, compression=0.6, num_classes=5
    ),
    "bn_size_2_dropout": DenseNetConfig(
        growth_rate=4, block_config=(1, 2), num_init_features=8, bn_size=2, drop_rate=0.2, num_classes=3
    ),
    "cifar": DenseNetConfig(growth_rate=6, block_config=(2, 2, 2), num_init_features=12, num_classes=10, stem="cifar"),
}


def _model(state_dict, config) -> DenseNet:
    model = DenseNet(config)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


@pytest.mark.parametrize("layout", ["standard", "custom"])
@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_small_checkpoint_round_trip_matches_reference(name: str, layout: str, tmp_path) -> None:
    config = SMALL_CONFIGS[name]
    path = tmp_path / f"{name}_{layout}.t7"
    t7.save(densenet_checkpoint(config, layout=layout, seed=7), path)
    parsed = t7.load(path)
    conversion = convert(parsed)
    assert conversion.config == config
    assert conversion.report.layout == layout
    size = 224 if config.stem == "imagenet" else 32  # the Lua model's final pooling fixes the input size
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        actual = _model(conversion.state_dict, conversion.config)(images)
    expected = lua_forward(parsed, images.double())
    assert relative_error(actual, expected) <= 1e-5


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETER_COUNTS))
def test_full_size_standard_tree_infers_the_published_architecture(name: str) -> None:
    plan = plan_conversion(densenet_checkpoint(MODEL_CONFIGS[name], layout="standard", seed=0))
    assert plan.config == MODEL_CONFIGS[name]
    assert plan.num_parameters == PUBLISHED_PARAMETER_COUNTS[name]
    with torch.device("meta"):
        expected = DenseNet(plan.config).state_dict()
    assert [(entry.key, entry.shape) for entry in plan.entries] == [
        (key, tuple(tensor.shape)) for key, tensor in expected.items()
    ]


@pytest.mark.parametrize("name", ["densenet121", "densenet264_k48_cosine"])
def test_full_size_custom_tree_infers_the_published_architecture(name: str) -> None:
    plan = plan_conversion(densenet_checkpoint(MODEL_CONFIGS[name], layout="custom", seed=0))
    assert plan.config == MODEL_CONFIGS[name]
    assert plan.num_parameters == PUBLISHED_PARAMETER_COUNTS[name]
    assert plan.report.layout == "custom"
    assert plan.report.module_counts["nn.DenseConnectLayerCustom"] == sum(MODEL_CONFIGS[name].block_config)


def test_densenet121_outputs_match_reference_and_torchvision() -> None:
    import torchvision  # a dependency: never skipped

    root = densenet_checkpoint(MODEL_CONFIGS["densenet121"], layout="custom", seed=3)
    conversion = convert(root)
    images = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        actual = _model(conversion.state_dict, conversion.config)(images)
        reference_model = torchvision.models.densenet121(weights=None)
        reference_model.load_state_dict(conversion.state_dict, strict=True)
        from_torchvision = reference_model.eval()(images)
    expected = lua_forward(root, images.double())
    assert relative_error(actual, expected) <= 1e-5
    assert relative_error(from_torchvision, expected) <= 1e-5


def test_same_seed_gives_same_weights_in_both_layouts() -> None:
    config = SMALL_CONFIGS["tiny4"]
    standard = convert(densenet_checkpoint(config, layout="standard", seed=11)).state_dict
    custom = convert(densenet_checkpoint(config, layout="custom", seed=11)).state_dict
    other = convert(densenet_checkpoint(config, layout="standard", seed=12)).state_dict
    assert all(torch.equal(standard[key], custom[key]) for key in standard)
    assert not torch.equal(standard["features.conv0.weight"], other["features.conv0.weight"])


def test_writer_shares_flat_parameter_and_gradient_storages() -> None:
    root = densenet_checkpoint(SMALL_CONFIGS["tiny4"], layout="custom", seed=0)
    weights, gradients, running = set(), set(), set()
    stack = [root]
    while stack:
        lua_module = stack.pop()
        for name, value in lua_module.fields.items():
            if isinstance(value, t7.T7Object):
                stack.append(value)
            elif isinstance(value, t7.T7Table):
                stack.extend(child for child in value.values() if isinstance(child, t7.T7Object))
            elif isinstance(value, t7.T7Tensor) and value.storage is not None:
                if name in ("weight", "bias"):
                    weights.add(id(value.storage))
                elif name in ("gradWeight", "gradBias"):
                    gradients.add(id(value.storage))
                elif name in ("running_mean", "running_var"):
                    running.add(id(value.storage))
    assert len(weights) == 1 and len(gradients) == 1 and not weights & gradients
    assert len(running) > 2 and not running & (weights | gradients)
    layer = root["modules"][5]
    assert layer.typename == "nn.DenseConnectLayerCustom"
    assert layer["net1"] is not layer["modules"][1]
    assert layer["net1"]["modules"][1]["weight"] is layer["modules"][1]["modules"][1]["weight"]
    assert np.array_equal(layer["saved_bn_running_mean"].numpy(), layer["net1"]["modules"][1]["running_mean"].numpy())
