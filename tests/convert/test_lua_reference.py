"""The independent interpreter ``lua_reference`` reproduces genuine Lua outputs for the classes the model-zoo
families (fb.resnet.torch, fast-neural-style, OpenFace) use, so that agreeing with it means agreeing with Lua."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from fixtures import fixture_path
from lua_reference import lua_forward, relative_error

from converters import t7

#: nn_modules cases (see its README) of every class the synthetic ResNet, style transfer and OpenFace trees hold.
CASES = [
    "Sequential",
    "Concat_dim2",
    "ConcatTable",
    "CAddTable",
    "Identity",
    "MulConstant",
    "Tanh",
    "Square",
    "Sqrt",
    "Power_3",
    "View_batch",
    "View_batch1",
    "View_batch1_setNumInputDims",
    "View_minus1",
    "View_minus1_setNumInputDims",
    "Reshape_batch",
    "Reshape_batch1",
    "Reshape_batchMode_false",
    "Reshape_batchMode_true",
    "Reshape_nobatch_sameNumel",
    "Normalize_p1",
    "Normalize_p2",
    "Normalize_inf",
    "SpatialConvolutionMM",
    "SpatialCrossMapLRN",
    "SpatialLPPooling_p2",
    "DepthConcat",
    "dpnn_Inception",
    "SpatialFullConvolution_adj",
    "SpatialFullConvolution_k4s2",
    "SpatialReflectionPadding",
    "SpatialReplicationPadding",
    "SpatialUpSamplingNearest",
    "fns_InstanceNormalization",
    "fns_ShaveImage",
    "fns_TotalVariation",
    "cudnn_SpatialConvolution",
    "cudnn_ReLU",
    "cudnn_SpatialAveragePooling",
]


def _torch(value: Any) -> Any:
    if isinstance(value, t7.T7Table):
        return [_torch(item) for item in value.as_list()]
    return torch.from_numpy(value.numpy().copy()).double()


def _flatten(value: Any) -> list[torch.Tensor]:
    return [tensor for item in value for tensor in _flatten(item)] if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", CASES)
def test_reference_reproduces_genuine_lua_output(name: str) -> None:
    net = t7.load(fixture_path("torch7", "nn_modules", f"{name}.net.t7"))
    inputs = _torch(t7.load(fixture_path("torch7", "nn_modules", f"{name}.input.t7")))
    expected = _flatten(_torch(t7.load(fixture_path("torch7", "nn_modules", f"{name}.output.t7"))))
    actual = _flatten(lua_forward(net, inputs))
    assert [tensor.shape for tensor in actual] == [tensor.shape for tensor in expected]
    assert all(relative_error(mine, theirs) <= 1e-6 for mine, theirs in zip(actual, expected, strict=True))
