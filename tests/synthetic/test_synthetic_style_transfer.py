"""fast-neural-style checkpoints from ``converters.synthetic.style_transfer``: the table train.lua saves, its
network's Lua layout, and parity of ``load_module`` with the independent interpreter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic_checks import assert_parity, field_differences, modules_of, round_trip, trap_gradients

from converters import load_module, t7
from converters.synthetic.style_transfer import DEFAULT_ARCH, output_size, parse_arch, style_transfer_checkpoint

SMALL_ARCH = "c9s1-8,d16,R16,u8,c9s1-3"
#: name -> (style_transfer_checkpoint arguments, input size)
PARITY_CASES = {
    "instance_norm_reflect_start": (dict(), 48),
    "batch_norm_reflect_start": (dict(norm="batch"), 48),
    "reflect_upsampling_conv_block": (dict(padding_type="reflect", arch="c9s1-8,d16,R16,U2,C16,u8,c3s1-3"), 16),
    "replicate": (dict(padding_type="replicate", arch=SMALL_ARCH), 20),
    "zero_full_convolution": (dict(padding_type="zero", arch="c9s1-8,d16,R16,u8,f3s1-3"), 20),
    "none_shrinks": (dict(padding_type="none", arch=SMALL_ARCH), 24),
}


def _checkpoint(**arguments) -> t7.T7Table:
    return style_transfer_checkpoint(**{"image_size": 48, "batch_size": 2, "iterations": 3, **arguments})


@pytest.mark.parametrize("name", PARITY_CASES)
def test_load_module_matches_the_interpreter(name: str) -> None:
    arguments, size = PARITY_CASES[name]
    model = round_trip(_checkpoint(**arguments, seed=5))["model"]
    images = 60 * torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = assert_parity(model, images)
    padding_type = arguments.get("padding_type", "reflect-start")
    layers = parse_arch(arguments.get("arch", DEFAULT_ARCH))
    assert expected.shape[-1] == (size if padding_type == "reflect-start" else output_size(layers, padding_type, size))
    assert 0 < expected.abs().max() <= 150  # Tanh then MulConstant(150)


def test_checkpoint_is_the_table_train_lua_saves() -> None:
    checkpoint = round_trip(_checkpoint(iterations=2000))
    assert set(checkpoint) == {
        "opt",
        "train_loss_history",
        "val_loss_history",
        "val_loss_history_ts",
        "style_loss_history",
        "model",
    }
    opt = checkpoint["opt"]
    assert (opt["arch"], opt["use_instance_norm"], opt["padding_type"], opt["tanh_constant"]) == (
        DEFAULT_ARCH,
        1,
        "reflect-start",
        150,
    )
    assert len(checkpoint["train_loss_history"]) == 2000 and checkpoint["val_loss_history_ts"].as_list() == [1000, 2000]
    assert set(checkpoint["style_loss_history"]) == {"style-4", "style-9", "style-16", "style-23", "content-16"}


def test_default_network_is_build_model_with_the_inserted_padding() -> None:
    model = round_trip(_checkpoint(weights="zeros"))["model"]
    modules = model["modules"].as_list()
    names = [lua_module.typename.removeprefix("nn.") for lua_module in modules]
    front = ["SpatialReflectionPadding", "SpatialConvolution", "InstanceNormalization", "ReLU"]
    assert names[:4] == front and names[4:10] == ["SpatialConvolution", "InstanceNormalization", "ReLU"] * 2
    assert names[10:15] == ["Sequential"] * 5
    assert names[15:] == ["SpatialFullConvolution", "InstanceNormalization", "ReLU"] * 2 + [
        "SpatialConvolution",
        "Tanh",
        "MulConstant",
        "TotalVariation",
    ]
    assert [modules[0][side] for side in ("pad_l", "pad_r", "pad_t", "pad_b")] == [40] * 4
    block = modules[10]["modules"]
    assert [m.typename for m in block[1]["modules"].as_list()] == ["nn.Sequential", "nn.ShaveImage"]
    assert block[1]["modules"][2]["size"] == 2 and "inplace" not in block[2]
    scale, variation = modules[-2], modules[-1]
    assert scale["constant_scalar"] == 150 and variation["strength"] == 1e-6
    assert variation["output"] is scale["output"]  # TotalVariation's updateOutput: self.output = input
    assert variation["x_diff"].size == (2, 3, 47, 47)
    norm = modules[2]
    assert norm["prev_N"] == 2 and norm["bn"]["running_mean"].size == (2 * 32,) and norm["bn"]["train"] is True


def test_tree_has_the_fields_of_genuine_files() -> None:
    for arguments in (dict(), dict(norm="batch"), dict(padding_type="replicate", arch="c9s1-8,d16,U2,C16,c3s1-3")):
        assert field_differences(_checkpoint(**arguments, weights="zeros")["model"], {}) == {}


def test_instance_normalization_ignores_the_inner_batch_norm_statistics() -> None:
    """The released models normalise each image by itself; the inner bn's running statistics must not matter."""
    model = _checkpoint(arch=SMALL_ARCH, seed=2)["model"]
    images = 60 * torch.rand(2, 3, 20, 20, dtype=torch.float64)
    expected = load_module(model, dtype=torch.float64).eval()(images).detach()
    for lua_module in modules_of(model):
        if lua_module.typename == "nn.InstanceNormalization":
            statistics = lua_module["bn"]
            statistics["running_mean"] = t7.T7Tensor.from_numpy(np.full(statistics["running_mean"].size, 5.0))
            statistics["running_var"] = t7.T7Tensor.from_numpy(np.full(statistics["running_var"].size, 9.0))
    with torch.no_grad():
        assert torch.equal(load_module(model, dtype=torch.float64).eval()(images), expected)


def test_gradient_storages_are_never_read() -> None:
    model = round_trip(_checkpoint(arch=SMALL_ARCH, seed=3))["model"]
    images = 60 * torch.rand(1, 3, 20, 20, dtype=torch.float64)
    expected = load_module(model).eval()(images.float()).detach()
    assert trap_gradients(model) == 2 * (6 + 5 + 5)  # 6 (full) convolutions, 5 instance norms and their inner bn
    with torch.no_grad():
        assert torch.equal(load_module(model).eval()(images.float()), expected)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(arch="c9s1-32,x64"), "cannot read -arch item 'x64'"),
        (dict(arch=SMALL_ARCH, image_size=29), "odd 7 pixels"),
        (dict(norm="layer"), "norm"),
        (dict(padding_type="circular"), "padding_type"),
    ],
)
def test_invalid_arguments_are_refused(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        style_transfer_checkpoint(**arguments, weights="zeros", iterations=1)
