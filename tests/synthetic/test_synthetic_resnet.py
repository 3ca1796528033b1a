"""fb.resnet.torch trees from ``converters.synthetic.resnet``: the Lua layout, parity of ``load_module`` with the
independent interpreter, and the published parameter counts."""

from __future__ import annotations

import pytest
import torch
from synthetic_checks import (
    assert_parity,
    field_differences,
    flat_views,
    modules_of,
    round_trip,
    trap_gradients,
)

from converters import load_module, t7
from converters.synthetic.resnet import resnet_checkpoint
from converters.translate import translate

#: name -> (resnet_checkpoint arguments, input size)
PARITY_CASES = {
    "cifar_resnet20_A": (dict(depth=20, dataset="cifar10"), 32),
    "cifar_preresnet20_A": (dict(depth=20, dataset="cifar10", preact=True), 32),
    "cifar100_resnet32_B": (dict(depth=32, dataset="cifar100", shortcut="B"), 32),
    "resnet18": (dict(depth=18, image_size=64), 64),
    "preresnet18": (dict(depth=18, image_size=64, preact=True), 64),
    "resnet18_C_bn_after_add": (dict(depth=18, image_size=32, shortcut="C", bn_after_add=True), 32),
    "resnet50": (dict(depth=50, image_size=64), 64),
}


@pytest.mark.parametrize("name", PARITY_CASES)
def test_load_module_matches_the_interpreter(name: str) -> None:
    arguments, size = PARITY_CASES[name]
    root = round_trip(resnet_checkpoint(**arguments, seed=3))
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = assert_parity(root, images)
    assert expected.shape == (2, {"cifar10": 10, "cifar100": 100}.get(arguments.get("dataset"), 1000))


#: Parameters of the networks fb.resnet.torch builds (1000 classes; CIFAR: 10). Post-activation ImageNet ResNets:
#: the counts published with torchvision's / timm's identical architectures. CIFAR shortcut A: the 0.27M of the
#: ResNet paper (Table 6); shortcut B adds two 1x1 projections with BatchNorm. The pre-activation ResNet-200 of
#: preresnet.lua has no BatchNorm at the end of its blocks nor on its projections, one before each block instead
#: and one at the end: 7,680 fewer than the post-activation ResNet-200 (64,673,832).
PARAMETER_COUNTS = {
    (18, "imagenet", "B", False): 11_689_512,
    (34, "imagenet", "B", False): 21_797_672,
    (50, "imagenet", "B", False): 25_557_032,
    (101, "imagenet", "B", False): 44_549_160,
    (152, "imagenet", "B", False): 60_192_808,
    (200, "imagenet", "B", True): 64_666_152,
    (20, "cifar10", "A", False): 269_722,
    (20, "cifar10", "B", False): 272_474,
    (110, "cifar10", "A", False): 1_727_962,
}


@pytest.mark.parametrize(("depth", "dataset", "shortcut", "preact"), PARAMETER_COUNTS)
def test_parameter_counts(depth: int, dataset: str, shortcut: str, preact: bool) -> None:
    root = resnet_checkpoint(depth, dataset, shortcut, preact=preact, weights="zeros")
    expected = PARAMETER_COUNTS[(depth, dataset, shortcut, preact)]
    weights = {id(lua_module["weight"].storage): lua_module["weight"].storage for lua_module in _parametric(root)}
    assert [storage.size for storage in weights.values()] == [expected]  # getParameters: one flat storage
    assert translate(root).report.num_parameters == expected


def test_paper_cifar_sizes() -> None:
    """ResNet paper, Table 6 (shortcut A): 0.27M, 0.46M, 0.66M, 0.85M, 1.7M parameters for depth 20...110."""
    for depth, millions in ((20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)):
        count = translate(resnet_checkpoint(depth, "cifar10", weights="zeros")).report.num_parameters
        assert round(count / 1e6, 2 if depth < 110 else 1) == millions


def _parametric(root: t7.T7Object) -> list[t7.T7Object]:
    return [lua_module for lua_module in modules_of(root) if "weight" in lua_module]


def test_tree_has_the_classes_and_fields_of_genuine_files() -> None:
    root = resnet_checkpoint(18, image_size=32, weights="zeros")
    counts: dict[str, int] = {}
    for lua_module in modules_of(root):
        counts[lua_module.typename] = counts.get(lua_module.typename, 0) + 1
    assert counts == {
        "nn.Sequential": 1 + 4 + 8 + 8 + 3,  # root, layers, blocks, residual branches, projection shortcuts
        "cudnn.SpatialConvolution": 1 + 16 + 3,
        "nn.SpatialBatchNormalization": 1 + 16 + 3,
        "cudnn.ReLU": 1 + 8 + 8,
        "nn.SpatialMaxPooling": 1,
        "nn.ConcatTable": 8,
        "nn.CAddTable": 8,
        "nn.Identity": 5,
        "cudnn.SpatialAveragePooling": 1,
        "nn.View": 1,
        "nn.Linear": 1,
    }
    # CAddTable(true) stores inplace (the genuine case was built without it); the pre-activation network marks
    # BatchNorms with shareGradInput keys.
    allowed = {"nn.CAddTable": {"inplace"}, "nn.SpatialBatchNormalization": {"__shareGradInputKey"}}
    assert field_differences(root, allowed) == {}
    cifar = resnet_checkpoint(20, "cifar10", preact=True, weights="zeros")
    assert field_differences(cifar, allowed) == {}
    assert {"nn.Concat", "nn.MulConstant", "nn.SpatialAveragePooling"} <= {m.typename for m in modules_of(cifar)}


def test_parameters_are_views_into_two_flat_storages() -> None:
    root = resnet_checkpoint(20, "cifar10", "B", seed=1)
    weights, count = flat_views(root, ("weight", "bias"))
    gradients, grad_count = flat_views(root, ("gradWeight", "gradBias"))
    assert len(weights) == len(gradients) == 1 and weights != gradients and count == grad_count
    statistics, stat_count = flat_views(root, ("running_mean", "running_var"))
    assert len(statistics) == stat_count  # each BatchNorm statistic in a storage of its own
    first_conv = root["modules"][1]
    assert "bias" not in first_conv and "gradInput" not in first_conv and "gradInput" not in root
    assert all(m["train"] is True for m in modules_of(root))


def test_preresnet_blocks_follow_preresnet_lua() -> None:
    """The first block of a stage carries its own BN-ReLU before the ConcatTable ('both_preact'), except the
    very first ('no_preact'); later blocks start their residual branch with BN-ReLU; projections have no BN."""
    root = resnet_checkpoint(18, image_size=32, preact=True, weights="zeros")
    stage1, stage2 = root["modules"][5], root["modules"][6]
    assert [m.typename for m in stage1["modules"][1]["modules"].as_list()] == ["nn.ConcatTable", "nn.CAddTable"]
    first = stage2["modules"][1]["modules"].as_list()
    assert [m.typename for m in first] == [
        "nn.SpatialBatchNormalization",
        "cudnn.ReLU",
        "nn.ConcatTable",
        "nn.CAddTable",
    ]
    assert first[0]["__shareGradInputKey"] == "preact"
    projection = first[2]["modules"][2]["modules"].as_list()
    assert [m.typename for m in projection] == ["cudnn.SpatialConvolution"]
    second_branch = stage2["modules"][2]["modules"][1]["modules"][1]["modules"].as_list()
    assert second_branch[0].typename == "nn.SpatialBatchNormalization"
    assert root["modules"][9]["__shareGradInputKey"] == "last"


def test_gradient_storages_are_never_read() -> None:
    root = round_trip(resnet_checkpoint(20, "cifar10", "B", seed=2))
    images = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    expected = load_module(root, dtype=torch.float64).eval()(images)
    assert trap_gradients(root) == 2 * 21 + 21 + 2  # 21 BatchNorms (weight, bias), 21 convolutions, the Linear
    with torch.no_grad():
        assert torch.equal(load_module(root, dtype=torch.float64).eval()(images), expected.detach())


def test_file_holds_weights_and_gradients() -> None:
    """A saved ResNet-18 is its weights and gradients (8 bytes per parameter in float32) plus structure."""
    size = len(t7.dumps(resnet_checkpoint(18, weights="zeros")))
    assert 8 * 11_689_512 < size < 8 * 11_689_512 + 200_000


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(depth=200), "depth is one of"),
        (dict(depth=21, dataset="cifar10"), "6n\\+2"),
        (dict(depth=18, shortcut="D"), "shortcut"),
        (dict(depth=18, image_size=100), "multiple of 32"),
        (dict(depth=18, dataset="mnist"), "dataset"),
        (dict(depth=18, preact=True, bn_after_add=True), "post-activation"),
    ],
)
def test_invalid_arguments_are_refused(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resnet_checkpoint(**arguments, weights="zeros")
