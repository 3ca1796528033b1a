"""Checkpoints the converter must refuse, with a message naming the Lua module path."""

from __future__ import annotations

import pytest

from converters import ConversionError, t7
from converters.densenet import convert
from converters.synthetic.densenet import densenet_checkpoint
from zoo import DenseNetConfig

CONFIG = DenseNetConfig(growth_rate=4, block_config=(2, 1), num_init_features=8, num_classes=5)
# Top level of the standard tree: 1 conv0, 2 BN, 3 ReLU, 4 max pool, 5-6 dense layers,
# 7 BN, 8 ReLU, 9 transition conv, 10 avg pool, 11 dense layer, 12 BN, 13 ReLU, 14 avg pool, 15 reshape, 16 linear.


def _tree(layout: str = "standard") -> t7.T7Object:
    return densenet_checkpoint(CONFIG, layout=layout, seed=0)


def _set_modules(container: t7.T7Object, modules: list) -> None:
    table = t7.T7Table()
    for index, lua_module in enumerate(modules):
        table[index + 1] = lua_module
    container.fields["modules"] = table


def _layer_branch(root: t7.T7Object, layer: int = 5) -> t7.T7Object:
    """The BN-ReLU-Conv-BN-ReLU-Conv nn.Sequential of a standard dense layer."""
    return root["modules"][layer]["modules"][1]["modules"][2]


def _refused(root, *fragments: str) -> str:
    with pytest.raises(ConversionError) as caught:
        convert(root)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_unknown_module_class_is_refused_with_its_path() -> None:
    root = _tree()
    branch = _layer_branch(root)
    branch["modules"][2] = t7.T7Object("nn.Tanh", t7.T7Table({"train": True}))
    _refused(root, "model.modules[5].modules[1].modules[2].modules[2]", "expected a ReLU", "nn.Tanh")


def test_unknown_namespace_is_refused() -> None:
    root = _tree()
    root["modules"][3] = t7.T7Object("mylib.ReLU", t7.T7Table({"train": True}))
    _refused(root, "model.modules[3]", "mylib.ReLU")


def test_wrong_input_channels_are_refused() -> None:
    root = _tree()
    root["modules"][9].fields["nInputPlane"] = 99
    _refused(root, "model.modules[9]", "nInputPlane=99", "found (8, 16, 1, 1)")


def test_batchnorm_of_the_wrong_width_is_refused() -> None:
    root = _tree()
    good = root["modules"][12]
    root["modules"][12] = root["modules"][7]  # a BN for 16 channels where 12 arrive
    assert good["running_mean"].size != root["modules"][7]["running_mean"].size
    _refused(root, "model.modules[12]", "12 channels")


@pytest.mark.parametrize(("position", "field"), [(3, "weight"), (1, "running_var"), (3, "nOutputPlane"), (4, "bias")])
def test_missing_field_is_refused(position: int, field: str) -> None:
    root = _tree()
    del _layer_branch(root, 6)["modules"][position].fields[field]
    _refused(root, f"model.modules[6].modules[1].modules[2].modules[{position}]", f"'{field}'")


def test_root_must_be_a_sequential() -> None:
    _refused(_tree()["modules"][1], "model:", "expected the model to be an nn.Sequential", "cudnn.SpatialConvolution")


def test_trailing_module_after_linear_is_refused() -> None:
    root = _tree()
    modules = root["modules"].as_list()
    _set_modules(root, [*modules, t7.T7Object("nn.LogSoftMax", t7.T7Table({"train": True}))])
    _refused(root, f"model.modules[{len(modules) + 1}]", "nn.LogSoftMax")


def test_custom_layout_without_join_table_is_refused() -> None:
    root = _tree("custom")
    modules = root["modules"].as_list()
    assert modules[6].typename == "nn.JoinTable"
    _set_modules(root, modules[:6] + modules[7:])
    _refused(root, "model.modules[7]", "JoinTable")


def test_layers_with_and_without_bottleneck_in_one_model_are_refused() -> None:
    root = _tree()
    branch = _layer_branch(root)
    modules = branch["modules"].as_list()
    conv3 = modules[5]
    conv3.fields["nInputPlane"] = 8
    conv3.fields["weight"] = t7.T7Tensor.from_numpy(conv3["weight"].numpy()[:, :8].copy(), "torch.FloatTensor")
    _set_modules(branch, [*modules[:2], conv3])
    message = _refused(root, "model.modules[6].modules[1].modules[2].modules[3]", "without bottleneck")
    assert "found with a bottleneck" in message


def test_inconsistent_growth_rate_is_refused() -> None:
    root = _tree()
    conv3 = _layer_branch(root, 5)["modules"][6]
    conv3.fields["nOutputPlane"] = 5
    _refused(root, "model.modules[5]")


@pytest.mark.parametrize("v1", ["false", "absent"])
def test_old_dropout_that_scales_at_test_time_is_refused(v1: str) -> None:
    """``v2 = false``, or no ``v2`` at all (a file older than it): Lua's ``if self.v2`` scales at test time."""
    config = CONFIG.replace(drop_rate=0.2)
    root = densenet_checkpoint(config, seed=0)
    dropout = _layer_branch(root)["modules"][4]
    assert dropout.typename == "nn.Dropout"
    if v1 == "false":
        dropout.fields["v2"] = False
    else:
        del dropout.fields["v2"]
    _refused(root, "model.modules[5].modules[1].modules[2].modules[4]", "v2 false or absent")


def test_sum_pooling_nn_average_pooling_is_refused() -> None:
    root = _tree()
    pool = root["modules"][10]
    root["modules"][10] = t7.T7Object("nn.SpatialAveragePooling", pool.fields, version=pool.version)
    _refused(root, "model.modules[10]", "divide")
    pool.fields["divide"] = True
    assert convert(root).config == CONFIG


def test_differing_dropout_rates_are_refused_at_the_first_that_differs() -> None:
    root = densenet_checkpoint(CONFIG.replace(drop_rate=0.2), seed=0)
    dropout = _layer_branch(root, layer=6)["modules"][4]
    assert dropout.typename == "nn.Dropout"
    dropout.fields["p"] = 0.3
    _refused(
        root,
        "model.modules[6].modules[1].modules[2].modules[4]",
        "expected one dropout rate (0.2) everywhere, found 0.3",
    )
