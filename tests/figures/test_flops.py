"""zoo.flops: multiply-adds and parameters counted from the modules, against closed-form counts written here and
against the published numbers (torchvision's GFLOPS column, the ResNet paper's Table 1)."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import get_weight

import zoo
from converters.synthetic.resnet import resnet_checkpoint
from converters.translate import translate
from zoo.flops import count_multiply_adds, count_parameters


def on_meta(build):
    with torch.device("meta"):
        return build()


def densenet_counts(k: int, blocks: tuple[int, ...], stem: int, bn_size: int = 4, classes: int = 1000):
    """Multiply-adds and parameters of an ImageNet DenseNet-BC at 224x224, from the paper's Table 1 layout."""
    size = 112  # conv 7x7/2
    macs = size * size * stem * 3 * 49
    params = stem * 3 * 49 + 2 * stem  # conv0, norm0
    size = 56  # max pool 3x3/2
    channels = stem
    for index, layers in enumerate(blocks):
        for layer in range(layers):
            width = channels + layer * k
            macs += size * size * (width * bn_size * k + bn_size * k * k * 9)  # 1x1 then 3x3
            params += 2 * width + width * bn_size * k + 2 * bn_size * k + bn_size * k * k * 9
        channels += layers * k
        if index < len(blocks) - 1:  # transition: BN, ReLU, 1x1 conv to half the channels, 2x2 average pooling
            macs += size * size * channels * (channels // 2)
            params += 2 * channels + channels * (channels // 2)
            channels //= 2
            size //= 2
    macs += channels * classes
    params += 2 * channels + channels * classes + classes  # norm5, classifier
    return macs, params


@pytest.mark.parametrize(
    ("name", "k", "blocks", "stem"),
    [
        ("densenet121", 32, (6, 12, 24, 16), 64),
        ("densenet169", 32, (6, 12, 32, 32), 64),
        ("densenet201", 32, (6, 12, 48, 32), 64),
        ("densenet264", 32, (6, 12, 64, 48), 64),
        ("densenet161", 48, (6, 12, 36, 24), 96),
    ],
)
def test_densenets_match_the_closed_form(name: str, k: int, blocks: tuple[int, ...], stem: int) -> None:
    model = on_meta(lambda: zoo.create_model(name))
    assert (count_multiply_adds(model), count_parameters(model)) == densenet_counts(k, blocks, stem)


@pytest.mark.parametrize(
    ("builder", "weights"),
    [
        ("densenet121", "DenseNet121"),
        ("densenet169", "DenseNet169"),
        ("densenet201", "DenseNet201"),
        ("densenet161", "DenseNet161"),
        ("resnet18", "ResNet18"),
        ("resnet34", "ResNet34"),
        ("resnet50", "ResNet50"),
        ("resnet101", "ResNet101"),
        ("resnet152", "ResNet152"),
    ],
)
def test_torchvision_gflops_column(builder: str, weights: str) -> None:
    # torchvision's docs: DenseNet-121 2.834, -169 3.36, -201 4.291, -161 7.728; ResNet-18 1.814, -34 3.664,
    # -50 4.089, -101 7.801, -152 11.514 GFLOPS (multiply-adds), and the parameter counts
    meta = get_weight(f"{weights}_Weights.IMAGENET1K_V1").meta
    if builder.startswith("densenet"):
        model = on_meta(lambda: zoo.create_model(builder))  # ours, built from the Lua configs
    else:
        model = on_meta(getattr(torchvision.models, builder))
    assert round(count_multiply_adds(model) / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-3)
    assert count_parameters(model) == meta["num_params"]


@pytest.mark.parametrize(
    ("depth", "table_1"),
    [(18, 1.8), (34, 3.6), (50, 3.8), (101, 7.6), (152, 11.3)],
)
def test_resnet_paper_table_1(depth: int, table_1: float) -> None:
    """He et al. 2016, Table 1 "FLOPs": the original bottleneck strides in its first 1x1 convolution.

    fb.resnet.torch (and the figure's ResNets) stride in the 3x3 one, which costs more: 4.1, 7.8, 11.5.
    """
    model = on_meta(getattr(torchvision.models, f"resnet{depth}"))
    strided_in_3x3 = count_multiply_adds(model) / 1e9
    for layer in (model.layer2, model.layer3, model.layer4):
        block = layer[0]
        if isinstance(block, torchvision.models.resnet.Bottleneck):
            block.conv1.stride, block.conv2.stride = (2, 2), (1, 1)
    original = count_multiply_adds(model) / 1e9
    assert original == pytest.approx(table_1, rel=0.03)
    assert strided_in_3x3 >= original


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_the_figure_resnets_are_fb_resnet_torch_trees(depth: int) -> None:
    lua_tree = translate(resnet_checkpoint(depth, weights="zeros")).module  # resnet.lua's tree, on meta
    ours = on_meta(getattr(torchvision.models, f"resnet{depth}"))
    assert count_multiply_adds(lua_tree) == count_multiply_adds(ours)
    assert count_parameters(lua_tree) == count_parameters(ours)


def test_counts_by_hand_and_the_model_is_left_alone() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 8x8 out: 64 * 8 * 3*9 = 13,824
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4),  # 4x4 out: 16 * 8 * 2*9 = 2,304
        nn.ConvTranspose2d(8, 4, 2, stride=2),  # 4x4 in: 16 * 8 * 4*4 = 2,048
        nn.BatchNorm2d(4),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 10),  # 10 * 256 = 2,560
    )
    model.train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    assert count_multiply_adds(model, (3, 8, 8)) == 13_824 + 2_304 + 2_048 + 2_560
    assert model.training and all(torch.equal(before[name], t) for name, t in model.state_dict().items())
    assert count_parameters(model) == sum(math.prod(p.shape) for p in model.parameters())
