"""CIFAR checkpoints of every kind the Lua code saves (issue 11, item 3): with and without bottleneck, reduction 1
or 0.5, dropout, 10 or 100 classes, both layouts. The genuine non-BC checkpoint reproduces Lua's own output; the
other kinds, built by the project's Lua-layout writer, reproduce the independent float64 interpreter."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from fixtures import fixture_path
from lua_reference import lua_forward, relative_error

import converters
from converters import ConversionError, t7
from converters.densenet import plan_conversion
from converters.export import read_saved_weights
from converters.synthetic.densenet import densenet_checkpoint
from zoo import DenseNet
from zoo.cli import main
from zoo.factory import matching_models
from zoo.models.densenet import CIFAR_MODELS, cifar_config, num_parameters

MAX_RELATIVE_ERROR = 1e-5
GENUINE = "cifar10_densenet_L40_k12"
IMAGES = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
#: Tensor fields whose shapes a writer's tree must share with the genuine one.
PARAMETER_FIELDS = ("weight", "bias", "running_mean", "running_var")


def _genuine():
    description = json.loads(fixture_path("torch7", "cifar", f"{GENUINE}.json").read_text())

    def raw(kind: str) -> torch.Tensor:
        entry = description[kind]
        values = np.fromfile(fixture_path("torch7", "cifar", entry["raw"]), dtype="<f4")
        return torch.from_numpy(values.reshape(entry["shape"]))

    return fixture_path("torch7", "cifar", f"{GENUINE}.t7"), raw("input"), raw("output"), description


def _run(conversion: converters.Conversion, images: torch.Tensor) -> torch.Tensor:
    model = DenseNet(conversion.config)
    model.load_state_dict(conversion.state_dict, strict=True)
    with torch.no_grad():
        return model.eval()(images)


def test_genuine_cifar_checkpoint_reproduces_lua_output() -> None:
    checkpoint, images, expected, description = _genuine()
    options = description["options"]
    conversion = converters.convert(checkpoint)
    config = conversion.config
    layers = (options["depth"] - 4) // 3
    assert (config.growth_rate, config.block_config) == (options["growthRate"], (layers, layers, layers))
    assert config.bottleneck is options["bottleneck"] is False
    assert config.compression == options["reduction"] == 1
    assert (config.num_init_features, config.num_classes, config.stem) == (2 * options["growthRate"], 10, "cifar")
    assert conversion.report.layout == "standard"
    assert matching_models(config) == ["densenet_l40_k12"]
    assert sum(tensor.numel() for tensor in DenseNet(config).parameters()) == description["lua_nparams"]
    actual = _run(conversion, images)
    assert actual.shape == expected.shape
    assert relative_error(actual, expected) <= MAX_RELATIVE_ERROR


def test_reference_forward_reproduces_genuine_cifar_output() -> None:
    """The float64 interpreter agrees with Torch7 on a layer without bottleneck, so it is a valid reference."""
    checkpoint, images, expected, _ = _genuine()
    assert relative_error(lua_forward(t7.load(checkpoint), images.double()), expected) <= MAX_RELATIVE_ERROR


def test_cli_inspects_and_converts_the_genuine_cifar_checkpoint(tmp_path) -> None:
    checkpoint, images, expected, _ = _genuine()
    runner = CliRunner()
    inspected = runner.invoke(main, ["inspect", str(checkpoint)])
    assert inspected.exit_code == 0, inspected.output
    assert "architecture: DenseNet growth_rate=12 blocks=12-12-12 init_features=24 bottleneck=none" in inspected.output
    assert "same shape as: densenet_l40_k12 (num_init_features=24: the released Lua code's stem)" in inspected.output
    assert "parameters:   1,059,298" in inspected.output
    document = json.loads(runner.invoke(main, ["inspect", "--json", str(checkpoint)]).output)
    assert document["kind"] == "densenet" and document["matches"] == ["densenet_l40_k12"]
    output = tmp_path / "l40.safetensors"
    converted = runner.invoke(main, ["convert", str(checkpoint), "-o", str(output)])
    assert converted.exit_code == 0, converted.output
    state_dict, config = read_saved_weights(output)
    model = DenseNet(config)
    model.load_state_dict(state_dict, strict=True)
    with torch.no_grad():
        assert relative_error(model.eval()(images), expected) <= MAX_RELATIVE_ERROR


def _skeleton(lua_module: t7.T7Object) -> tuple:
    """Class names, parameter shapes and children of a Lua tree: what a conversion depends on."""
    shapes = tuple(
        (name, tuple(lua_module[name].size))
        for name in PARAMETER_FIELDS
        if isinstance(lua_module.get(name), t7.T7Tensor)
    )
    children = lua_module.get("modules")
    kids = tuple(_skeleton(child) for child in children.as_list()) if isinstance(children, t7.T7Table) else ()
    return lua_module.typename, shapes, kids


def test_writer_builds_the_genuine_cifar_tree() -> None:
    checkpoint, _, _, description = _genuine()
    options = description["options"]
    config = cifar_config(options["depth"], options["growthRate"], bottleneck=False, compression=1.0)
    ours = densenet_checkpoint(config.replace(num_init_features=2 * options["growthRate"]), seed=0)
    assert _skeleton(ours) == _skeleton(t7.load(checkpoint))


#: (bottleneck, reduction, drop rate, classes, layout): every pair of values of any two of them occurs.
KINDS = [
    (True, 0.5, 0.0, 10, "standard"),
    (True, 1.0, 0.2, 100, "custom"),
    (False, 0.5, 0.2, 100, "standard"),
    (False, 1.0, 0.0, 10, "custom"),
    (True, 0.5, 0.2, 10, "custom"),
    (False, 1.0, 0.2, 10, "standard"),
    (False, 0.5, 0.0, 100, "custom"),
    (True, 1.0, 0.0, 100, "standard"),
]


def test_kinds_cover_every_pair_of_values() -> None:
    for first, second in itertools.combinations(range(5), 2):
        values = [sorted({kind[axis] for kind in KINDS}) for axis in (first, second)]
        assert {(kind[first], kind[second]) for kind in KINDS} == set(itertools.product(*values))


@pytest.mark.parametrize(("bottleneck", "reduction", "drop_rate", "num_classes", "layout"), KINDS)
def test_every_cifar_kind_converts_with_parity(
    bottleneck: bool, reduction: float, drop_rate: float, num_classes: int, layout: str
) -> None:
    config = cifar_config(16 if bottleneck else 10, 4, bottleneck=bottleneck, compression=reduction)
    config = config.replace(drop_rate=drop_rate, num_classes=num_classes)
    root = t7.loads(t7.dumps(densenet_checkpoint(config, layout=layout, seed=1)))
    conversion = converters.convert(root)
    assert conversion.config == config
    assert conversion.report.layout == layout
    assert relative_error(_run(conversion, IMAGES), lua_forward(root, IMAGES.double())) <= MAX_RELATIVE_ERROR


def test_both_layouts_without_bottleneck_give_the_same_state_dict() -> None:
    """The custom layout's net1/net2 (BatchNorms saved in training mode) convert to the evaluation-mode layer."""
    config = cifar_config(10, 4, bottleneck=False)
    standard = converters.convert(densenet_checkpoint(config, layout="standard", seed=5)).state_dict
    custom_root = densenet_checkpoint(config, layout="custom", seed=5)
    assert custom_root["modules"][2]["net1"]["modules"][1]["train"] is True
    custom = converters.convert(custom_root).state_dict
    assert list(standard) == list(custom) and not any(".norm2." in key for key in standard)
    for key, tensor in standard.items():
        assert torch.equal(tensor, custom[key]), key


@pytest.mark.parametrize("name", list(CIFAR_MODELS))
def test_named_cifar_architectures_are_recognised_either_stem_and_class_count(name: str) -> None:
    model = CIFAR_MODELS[name]
    for config, layout in (
        (model.config.replace(num_init_features=model.lua_init_features), "standard"),
        (model.config.replace(num_classes=100), "custom"),
    ):
        plan = plan_conversion(densenet_checkpoint(config, layout=layout, seed=0))
        assert plan.config == config
        assert matching_models(plan.config) == [name]
        assert plan.num_parameters == num_parameters(config)


def _plain_layer_net(root: t7.T7Object, layer: int = 2) -> t7.T7Object:
    """The {BN, ReLU, Conv3x3} nn.Sequential of a standard dense layer without bottleneck."""
    return root["modules"][layer]["modules"][1]["modules"][2]


def _refused(root: t7.T7Object, *fragments: str) -> None:
    with pytest.raises(ConversionError) as caught:
        plan_conversion(t7.loads(t7.dumps(root)))
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)


def test_a_layer_without_bottleneck_with_wrong_padding_is_refused() -> None:
    root = densenet_checkpoint(cifar_config(10, 4, bottleneck=False), seed=0)
    conv = _plain_layer_net(root)["modules"][3]
    conv.fields["padW"] = conv.fields["padH"] = 0
    _refused(root, "model.modules[2].modules[1].modules[2].modules[3]", "padding 1", "padW=0")


def test_a_layer_without_bottleneck_with_more_after_its_convolution_is_refused() -> None:
    root = densenet_checkpoint(cifar_config(10, 4, bottleneck=False), seed=0)
    net = _plain_layer_net(root)
    modules = net["modules"]
    modules[4] = modules[2]  # a second ReLU after the Conv3x3
    _refused(root, "model.modules[2].modules[1].modules[2].modules[4]", "end after Conv3x3")


def test_a_custom_layer_whose_net2_differs_from_its_mirror_is_refused() -> None:
    root = densenet_checkpoint(cifar_config(10, 4, bottleneck=False), layout="custom", seed=0)
    layer = root["modules"][3]
    layer["net2"]["modules"][2] = layer["net1"]["modules"][2]
    _refused(root, "model.modules[3]", "'net2' to match modules[2]")
