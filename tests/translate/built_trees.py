"""Lua module trees built here with ``converters.t7`` objects, for classes no genuine fixture covers.

Each case is a function returning ``(root, input)``: a Torch7 module tree
whose fields are the ones the Lua class's constructor (nn, cudnn.torch, cunn)
sets, with float64 tensors, and an input for it. The tests run them through
``load_module`` and through the independent reference ``lua_reference.lua_forward``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from converters import t7

GENERATOR = np.random.default_rng(12)


def tensor(*shape: int, low: float = -1.0, high: float = 1.0) -> t7.T7Tensor:
    return t7.T7Tensor.from_numpy(GENERATOR.uniform(low, high, shape))


def module(typename: str, **fields: Any) -> t7.T7Object:
    return t7.T7Object(typename, t7.T7Table({"train": False, **fields}))


def container(typename: str, *children: t7.T7Object, **fields: Any) -> t7.T7Object:
    return module(typename, modules=t7.T7Table({index + 1: child for index, child in enumerate(children)}), **fields)


def sample(*shape: int) -> torch.Tensor:
    return torch.from_numpy(GENERATOR.standard_normal(shape))


def _full_convolution() -> tuple[t7.T7Object, torch.Tensor]:
    fields = dict(nInputPlane=3, nOutputPlane=2, kW=3, kH=4, dW=2, dH=3, padW=1, padH=1, adjW=1, adjH=2)
    return module("cudnn.SpatialFullConvolution", **fields, weight=tensor(3, 2, 4, 3), bias=tensor(2)), sample(
        2, 3, 4, 5
    )


def _volumetric_convolution() -> tuple[t7.T7Object, torch.Tensor]:
    fields = dict(nInputPlane=2, nOutputPlane=3, kT=3, kW=2, kH=3, dT=1, dW=2, dH=1, padT=1, padW=0, padH=1)
    return module("cudnn.VolumetricConvolution", **fields, weight=tensor(3, 2, 3, 3, 2), bias=tensor(3)), sample(
        2, 2, 5, 6, 7
    )


def _softmax(typename: str, shape: tuple[int, ...], **fields: Any) -> Callable[[], tuple[t7.T7Object, torch.Tensor]]:
    return lambda: (module(typename, **fields), sample(*shape) * 3)


def _lrn(typename: str, size: int) -> Callable[[], tuple[t7.T7Object, torch.Tensor]]:
    return lambda: (module(typename, size=size, alpha=0.8, beta=0.75, k=1.5), sample(2, 7, 3, 3))


def _batch_norm(typename: str, shape: tuple[int, ...]) -> Callable[[], tuple[t7.T7Object, torch.Tensor]]:
    channels = shape[1]
    fields = dict(
        eps=1e-5,
        momentum=0.1,
        affine=True,
        running_mean=tensor(channels),
        running_var=tensor(channels, low=0.5, high=2.0),
        weight=tensor(channels, low=0.5, high=1.5),
        bias=tensor(channels),
    )
    return lambda: (t7.T7Object(typename, t7.T7Table({"train": False, **fields}), version=2), sample(*shape))


def _volumetric_pooling(typename: str) -> tuple[t7.T7Object, torch.Tensor]:
    fields = dict(kT=3, kW=2, kH=3, dT=2, dW=2, dH=1, padT=1, padW=1, padH=0, ceil_mode=False)
    return module(typename, **fields), sample(2, 2, 6, 5, 7)


def _data_parallel_table() -> tuple[t7.T7Object, torch.Tensor]:
    model = container(
        "nn.Sequential", module("nn.Linear", weight=tensor(3, 4), bias=tensor(3)), module("cudnn.Tanh", inplace=False)
    )
    return container("nn.DataParallelTable", model, dimension=1, gpuAssignments=t7.T7Table({1: 1})), sample(5, 4)


def _temporal_convolution() -> tuple[t7.T7Object, torch.Tensor]:
    fields = dict(inputFrameSize=4, outputFrameSize=3, kH=3, dH=2, padH=1, kW=4, dW=1, nInputPlane=1, nOutputPlane=3)
    return module("cudnn.TemporalConvolution", **fields, weight=tensor(3, 12), bias=tensor(3)), sample(2, 8, 4)


def _asymmetric_ceil_pooling() -> tuple[t7.T7Object, torch.Tensor]:
    """THNN drops a last window starting past the padded input in EVERY dimension once any dimension is padded:
    with padW = 1, the last row window (starting at row 6 of 6, padH = 0) goes too."""
    fields = dict(kW=3, kH=2, dW=2, dH=3, padW=1, padH=0, ceil_mode=True)
    return module("nn.SpatialMaxPooling", **fields), sample(2, 3, 6, 7)


def _adaptive_max_pooling() -> tuple[t7.T7Object, torch.Tensor]:
    """13 -> 13 windows: THNN's single-precision bounds make window 7 two rows long (torch's are one)."""
    return module("nn.SpatialAdaptiveMaxPooling", W=13, H=6), sample(2, 3, 19, 13)


def _cudnn_average_pooling() -> tuple[t7.T7Object, torch.Tensor]:
    """cudnn.torch's forward counts the padding whatever ``count_include_pad`` says (a Lua and/or idiom)."""
    fields = dict(kW=3, kH=3, dW=2, dH=2, padW=1, padH=1, ceil_mode=False, count_include_pad=False)
    return module("cudnn.SpatialAveragePooling", **fields), sample(2, 3, 7, 6)


#: name -> builder of (root, input), for the classes the genuine nn_modules fixtures do not cover.
BUILT_CASES: dict[str, Callable[[], tuple[t7.T7Object, torch.Tensor]]] = {
    "cudnn.SpatialFullConvolution": _full_convolution,
    "cudnn.VolumetricConvolution": _volumetric_convolution,
    "cudnn.Sigmoid": lambda: (module("cudnn.Sigmoid", inplace=False), sample(2, 3, 4)),
    "cudnn.Tanh": lambda: (module("cudnn.Tanh", inplace=False), sample(2, 3, 4)),
    "cudnn.SoftMax_2d": _softmax("cudnn.SoftMax", (3, 5)),
    "cudnn.SoftMax_4d": _softmax("cudnn.SoftMax", (2, 3, 4, 4), mode="CUDNN_SOFTMAX_MODE_INSTANCE"),
    "cudnn.SoftMax_1d": _softmax("cudnn.SoftMax", (6,)),
    "cudnn.LogSoftMax_3d": _softmax("cudnn.LogSoftMax", (3, 4, 4), algorithm="CUDNN_SOFTMAX_LOG"),
    "cudnn.SpatialSoftMax_4d": _softmax("cudnn.SpatialSoftMax", (2, 3, 4, 4), algorithm="CUDNN_SOFTMAX_ACCURATE"),
    "cudnn.SpatialLogSoftMax_4d": _softmax(
        "cudnn.SpatialLogSoftMax", (2, 3, 4, 4), mode="CUDNN_SOFTMAX_MODE_CHANNEL", algorithm="CUDNN_SOFTMAX_LOG"
    ),
    "cudnn.SpatialCrossMapLRN_even": _lrn("cudnn.SpatialCrossMapLRN", 4),
    "cudnn.SpatialCrossMapLRN_odd": _lrn("cudnn.SpatialCrossMapLRN", 5),
    "nn.SpatialCrossMapLRN_even": _lrn("nn.SpatialCrossMapLRN", 4),
    "cudnn.BatchNormalization": _batch_norm("cudnn.BatchNormalization", (4, 5)),
    "cudnn.VolumetricBatchNormalization": _batch_norm("cudnn.VolumetricBatchNormalization", (2, 3, 3, 4, 4)),
    "cudnn.VolumetricMaxPooling": lambda: _volumetric_pooling("cudnn.VolumetricMaxPooling"),
    "cudnn.VolumetricAveragePooling": lambda: _volumetric_pooling("cudnn.VolumetricAveragePooling"),
    "cudnn.SpatialAveragePooling_count_include_pad_false": _cudnn_average_pooling,
    "cudnn.ClippedReLU": lambda: (module("cudnn.ClippedReLU", ceiling=0.5, inplace=False), sample(2, 3, 4)),
    "cudnn.TemporalConvolution": _temporal_convolution,
    "nn.DataParallelTable": _data_parallel_table,
    "nn.SpatialMaxPooling_asymmetric_ceil": _asymmetric_ceil_pooling,
    "nn.SpatialAdaptiveMaxPooling_13": _adaptive_max_pooling,
}
