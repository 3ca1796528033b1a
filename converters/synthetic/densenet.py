"""Build Lua Torch7 DenseNet module trees the way the original code saved them.

:func:`densenet_checkpoint` returns a ``converters.t7.T7Object`` tree shaped like a
checkpoint written by liuzhuang13/DenseNet on top of fb.resnet.torch
(``checkpoints.save``: ``deepCopy(model):float():clearState()`` then
``torch.save``): the same classes and instance fields as the genuine fixtures,
all weights and biases as views into one flat storage (``getParameters``), all
gradients as views into a second one, BatchNorm running statistics in their own
storages, ``train = true`` and cudnn class names. ``layout="custom"`` is the
memory-efficient ``-optMemory 4`` variant with ``nn.DenseConnectLayerCustom``
layers (``net1``/``net2`` distinct from ``modules`` but sharing every tensor,
a shared ``input_c`` activation buffer, a copy of the ``opt`` table) and an
``nn.JoinTable(2)`` before each transition.

Weights are random (seeded) but distributed like trained ones, so outputs and
file sizes are meaningful. Write the tree with ``converters.t7.save``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from converters import t7
from converters.t7.objects import contiguous_strides
from converters.t7.typenames import STORAGE_OF_TENSOR, TENSOR_DTYPES
from zoo.models.densenet import DenseNetConfig

LAYOUTS = ("standard", "custom")

#: The tensor types a checkpoint can be built with -> the cudnn data type name its convolutions record
#: (storage class and element type come from ``converters.t7.typenames``).
TENSOR_TYPES: dict[str, str] = {
    "torch.FloatTensor": "CUDNN_DATA_FLOAT",
    "torch.DoubleTensor": "CUDNN_DATA_DOUBLE",
    "torch.CudaTensor": "CUDNN_DATA_FLOAT",
    "torch.CudaDoubleTensor": "CUDNN_DATA_DOUBLE",
}


@dataclass
class _Parameter:
    """One weight or bias: where it lives in the flat storages and how to draw it."""

    shape: tuple[int, ...]
    init: str  # "conv", "bn_weight", "bn_bias", "linear_weight", "linear_bias"
    fan: int = 1
    offset: int = 0
    tensor: Any = None
    grad: Any = None


@dataclass
class _Builder:
    config: DenseNetConfig
    layout: str
    tensor_type: str
    batch_size: int
    train_batch_size: int
    rng: np.random.Generator  # weights and BN statistics, drawn in module order
    buffer_rng: np.random.Generator  # gradients and activation buffers, so both layouts share weights
    parameters: list[_Parameter] = field(default_factory=list)

    # -- small helpers ---------------------------------------------------------------
    @property
    def storage_type(self) -> str:
        return STORAGE_OF_TENSOR[self.tensor_type]

    @property
    def dtype(self) -> type:
        return TENSOR_DTYPES[self.tensor_type].type

    def empty(self) -> t7.T7Tensor:
        """``torch.Tensor()`` after clearState: no size, no storage."""
        return t7.T7Tensor(self.tensor_type, (), (), 0, None)

    def own(self, array: np.ndarray) -> t7.T7Tensor:
        return t7.T7Tensor.from_numpy(np.ascontiguousarray(array, dtype=self.dtype), self.tensor_type)

    @staticmethod
    def long_storage(values: list[int]) -> t7.T7Storage:
        return t7.T7Storage.from_numpy(np.asarray(values, dtype=np.int64), "torch.LongStorage")

    @staticmethod
    def table(values: dict[Any, Any] | None = None) -> t7.T7Table:
        return t7.T7Table(values or {})

    def module(self, typename: str, fields: dict[str, Any], version: int = 1) -> t7.T7Object:
        fields = {"_type": self.tensor_type, "train": True, **fields}
        return t7.T7Object(typename, self.table(fields), version=version)

    def parameter(
        self, fields: dict[str, Any], name: str, grad_name: str, shape: tuple[int, ...], init: str, fan: int = 1
    ) -> None:
        """Reserve a slot in the flat storages; the view tensors are attached in :meth:`finish`."""
        param = _Parameter(shape=shape, init=init, fan=fan)
        self.parameters.append(param)
        fields[name] = param
        fields[grad_name] = param

    # -- modules ---------------------------------------------------------------------
    def conv(
        self,
        n_in: int,
        n_out: int,
        kernel: int,
        stride: int,
        pad: int,
        size: int,
        *,
        first: bool = False,
        grad_output: bool = False,
    ) -> t7.T7Object:
        out_size = (size + 2 * pad - kernel) // stride + 1
        cudnn_type = TENSOR_TYPES[self.tensor_type]
        fields: dict[str, Any] = {
            "autotunerHash": (
                f"-dimA{self.batch_size},{n_in},{size},{size} -filtA{n_out},{n_in},{kernel},{kernel} "
                f"{self.batch_size},{n_out},{out_size},{out_size} -padA{pad},{pad} "
                f"-convStrideA{stride},{stride} {cudnn_type}"
            ),
            "convDescData": self.table(
                {
                    "dataType": cudnn_type,
                    "filterStrideA": self.table({1: stride, 2: stride}),
                    "padA": self.table({1: pad, 2: pad}),
                    "upscaleA": self.table({1: 1, 2: 1}),
                }
            ),
            "dH": stride,
            "dW": stride,
            "groups": 1,
            "iSize": self.long_storage([self.batch_size, n_in, size, size]),
            "input_offset": n_in * size * size,
            "input_slice": self.empty(),
            "kH": kernel,
            "kW": kernel,
            "nInputPlane": n_in,
            "nOutputPlane": n_out,
            "output": self.empty(),
            "output_offset": n_out * out_size * out_size,
            "output_slice": self.empty(),
            "pad": self.table({1: pad, 2: pad}),
            "padH": pad,
            "padW": pad,
            "stride": self.table({1: stride, 2: stride}),
            "weight_offset": n_out * n_in * kernel * kernel,
        }
        if not first:  # createModel sets model:get(1).gradInput = nil
            fields["gradInput"] = self.empty()
        if grad_output:  # the 3x3 conv of a standard layer sees a narrowed, non-contiguous gradOutput
            fields["_gradOutput"] = self.empty()
        self.parameter(
            fields, "weight", "gradWeight", (n_out, n_in, kernel, kernel), "conv", fan=kernel * kernel * n_out
        )
        return self.module("cudnn.SpatialConvolution", fields)

    def batchnorm(self, channels: int, size: int, *, share_key: bool = False) -> t7.T7Object:
        running_mean = self.rng.normal(0.0, 0.2, channels)
        running_var = self.rng.uniform(0.3, 1.7, channels)
        fields: dict[str, Any] = {
            "affine": True,
            "eps": 1e-5,
            "gradInput": self.empty(),
            "iSize": self.long_storage([self.batch_size, channels, size, size]),
            "momentum": 0.1,
            "output": self.empty(),
            "running_mean": self.own(running_mean),
            "running_var": self.own(running_var),
            "save_mean": self.empty(),
            "save_std": self.empty(),
            "scaleT": self.own(np.ones(1)),
        }
        if share_key:
            fields["__shareGradInputKey"] = "first"
        self.parameter(fields, "weight", "gradWeight", (channels,), "bn_weight")
        self.parameter(fields, "bias", "gradBias", (channels,), "bn_bias")
        return self.module("cudnn.SpatialBatchNormalization", fields, version=2)

    def relu(self, numel: int) -> t7.T7Object:
        return self.module(
            "cudnn.ReLU",
            {
                "gradInput": self.empty(),
                "inplace": True,
                "mode": "CUDNN_ACTIVATION_RELU",
                "nElem": numel,
                "output": self.empty(),
            },
        )

    def dropout(self) -> t7.T7Object:
        return self.module(
            "nn.Dropout",
            {
                "gradInput": self.empty(),
                "noise": self.empty(),
                "output": self.empty(),
                "p": self.config.drop_rate,
                "v2": True,
            },
        )

    def sequential(self, modules: list[t7.T7Object], *, top: bool = False) -> t7.T7Object:
        fields: dict[str, Any] = {
            "modules": self.table({index + 1: lua_module for index, lua_module in enumerate(modules)}),
            "output": self.empty(),
        }
        if not top:
            fields["gradInput"] = self.empty()
        return self.module("nn.Sequential", fields)

    def avg_pool(self, kernel: int, channels: int, size: int) -> t7.T7Object:
        return self.module(
            "cudnn.SpatialAveragePooling",
            {
                "ceil_mode": False,
                "count_include_pad": True,
                "dH": kernel,
                "dW": kernel,
                "gradInput": self.empty(),
                "iSize": self.long_storage([self.batch_size, channels, size, size]),
                "kH": kernel,
                "kW": kernel,
                "mode": "CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING",
                "output": self.empty(),
                "padH": 0,
                "padW": 0,
            },
        )

    def convolutions(self, channels: int, size: int) -> list[t7.T7Object]:
        """The part of a dense layer after its first BN-ReLU.

        With a bottleneck: Conv1x1(bn_size*k) [Dropout] BN ReLU Conv3x3(k) [Dropout]; without (Lua's
        ``-bottleneck false``): Conv3x3(k) [Dropout]. The custom layout has no dropout.
        """
        cfg = self.config
        dropout = cfg.drop_rate > 0 and self.layout == "standard"
        modules = []
        if cfg.bottleneck:
            width = cfg.bn_size * cfg.growth_rate
            modules.append(self.conv(channels, width, 1, 1, 0, size))
            if dropout:
                modules.append(self.dropout())
            modules += [self.batchnorm(width, size), self.relu(width * size * size * self.batch_size)]
            channels = width
        modules.append(self.conv(channels, cfg.growth_rate, 3, 1, 1, size, grad_output=self.layout == "standard"))
        if dropout:
            modules.append(self.dropout())
        return modules

    def standard_layer(self, channels: int, size: int) -> t7.T7Object:
        net = self.sequential(
            [
                self.batchnorm(channels, size, share_key=True),
                self.relu(channels * size * size * self.batch_size),
                *self.convolutions(channels, size),
            ]
        )
        identity = self.module("nn.Identity", {"gradInput": self.empty(), "output": self.empty()})
        concat = self.module(
            "nn.Concat",
            {
                "dimension": 2,
                "gradInput": self.empty(),
                "modules": self.table({1: identity, 2: net}),
                "output": self.empty(),
                "outputSize": self.long_storage([self.batch_size, channels + self.config.growth_rate, size, size]),
            },
        )
        return self.sequential([concat])

    def custom_layer(
        self, channels: int, size: int, first_in_block: bool, input_buffer: t7.T7Storage, opt: dict[str, Any]
    ) -> t7.T7Object:
        net1_modules = [
            self.batchnorm(channels, size, share_key=True),
            self.relu(channels * size * size * self.batch_size),
        ]
        net2_modules = self.convolutions(channels, size)
        net1 = self.sequential(net1_modules)
        net2 = self.sequential(net2_modules)
        # deepCopy gives modules[1]/[2] their own Lua tables that share every tensor with net1/net2.
        copy1, copy2 = _deep_copy(net1), _deep_copy(net2)
        norm = net1_modules[0]
        if first_in_block:
            input_c = t7.T7Tensor(self.tensor_type, (), (), 0, input_buffer)
            grad_input: Any = self.empty()
        else:
            shape = (self.batch_size, channels, size, size)
            strides = (channels * size * size, size * size, size, 1)
            input_c = t7.T7Tensor(self.tensor_type, shape, strides, 0, input_buffer)
            grad_input = self.table()
        return self.module(
            "nn.DenseConnectLayerCustom",
            {
                "gradInput": grad_input,
                "input_c": input_c,
                "modules": self.table({1: copy1, 2: copy2}),
                "net1": net1,
                "net2": net2,
                "opt": self.table(opt),
                "output": self.table(),
                "saved_bn_running_mean": self.own(norm["running_mean"].numpy()),
                "saved_bn_running_var": self.own(norm["running_var"].numpy()),
            },
        )

    # -- whole model -----------------------------------------------------------------
    def build(self) -> t7.T7Object:
        """The whole model: stem, dense blocks with their transitions, BN-ReLU, pooling, reshape, classifier."""
        cfg, batch = self.config, self.batch_size
        modules, channels, size = self.stem()
        input_buffer = self.input_buffer(size) if self.layout == "custom" else None
        opt = self.opt_table() if self.layout == "custom" else {}
        for index, num_layers in enumerate(cfg.block_config):
            for layer in range(num_layers):
                if self.layout == "standard":
                    modules.append(self.standard_layer(channels, size))
                else:
                    modules.append(self.custom_layer(channels, size, layer == 0, input_buffer, opt))
                channels += cfg.growth_rate
            if self.layout == "custom":
                modules.append(self.join_table(channels, size))
            modules += [self.batchnorm(channels, size), self.relu(batch * channels * size * size)]
            if index == len(cfg.block_config) - 1:
                modules += [self.avg_pool(size, channels, size), self.reshape(channels)]
            else:
                out_channels = math.floor(channels * cfg.compression)
                modules.append(self.conv(channels, out_channels, 1, 1, 0, size))
                if cfg.drop_rate > 0:
                    modules.append(self.dropout())
                modules.append(self.avg_pool(2, out_channels, size))
                channels, size = out_channels, size // 2
        modules.append(self.linear(channels))
        root = self.sequential(modules, top=True)
        self.finish(root)
        return root

    def stem(self) -> tuple[list[t7.T7Object], int, int]:
        """The stem's modules, the channels they output and the feature map size after them."""
        channels = self.config.num_init_features
        if self.config.stem != "imagenet":
            return [self.conv(3, channels, 3, 1, 1, 32, first=True)], channels, 32
        conv = self.conv(3, channels, 7, 2, 3, 224, first=True)
        size = 112
        modules = [conv, self.batchnorm(channels, size), self.relu(self.batch_size * channels * size * size)]
        modules.append(
            self.module(
                "nn.SpatialMaxPooling",
                {
                    "ceil_mode": False,
                    "dH": 2,
                    "dW": 2,
                    "gradInput": self.empty(),
                    "iheight": size,
                    "iwidth": size,
                    "indices": self.empty(),
                    "kH": 3,
                    "kW": 3,
                    "output": self.empty(),
                    "padH": 1,
                    "padW": 1,
                },
            )
        )
        return modules, channels, (size + 2 - 3) // 2 + 1

    def join_table(self, channels: int, size: int) -> t7.T7Object:
        """The ``nn.JoinTable(2)`` closing a dense block of custom layers."""
        return self.module(
            "nn.JoinTable",
            {
                "dimension": 2,
                "gradInput": self.table(),
                "output": self.empty(),
                "size": self.long_storage([self.batch_size, channels, size, size]),
            },
        )

    def reshape(self, channels: int) -> t7.T7Object:
        """The ``nn.Reshape(channels)`` between the final pooling and the classifier."""
        return self.module(
            "nn.Reshape",
            {
                "batchsize": self.long_storage([self.batch_size, channels]),
                "gradInput": self.empty(),
                "nelement": channels,
                "output": self.empty(),
                "size": self.long_storage([channels]),
            },
        )

    def linear(self, channels: int) -> t7.T7Object:
        """The classifier ``nn.Linear(channels, num_classes)``."""
        num_classes = self.config.num_classes
        fields: dict[str, Any] = {"addBuffer": self.empty(), "gradInput": self.empty(), "output": self.empty()}
        self.parameter(fields, "weight", "gradWeight", (num_classes, channels), "linear_weight", fan=channels)
        self.parameter(fields, "bias", "gradBias", (num_classes,), "linear_bias", fan=channels)
        return self.module("nn.Linear", fields)

    def input_buffer(self, stem_size: int) -> t7.T7Storage:
        """The activation buffer all custom layers share (sized at the training batch, saved in full)."""
        cfg = self.config
        largest = 0
        channels, size = cfg.num_init_features, stem_size
        for num_layers in cfg.block_config:
            last_input = channels + (num_layers - 1) * cfg.growth_rate
            largest = max(largest, last_input * size * size)
            channels = math.floor((channels + num_layers * cfg.growth_rate) * cfg.compression)
            size //= 2
        values = self.buffer_rng.random(self.train_batch_size * largest, dtype=np.float32).astype(
            self.dtype, copy=False
        )
        return t7.T7Storage.from_numpy(values, self.storage_type)

    def opt_table(self) -> dict[str, Any]:
        cfg = self.config
        blocks = list(cfg.block_config) + [0] * (4 - len(cfg.block_config))
        opt: dict[str, Any] = {
            "LR": 0.1,
            "backend": "cudnn",
            "batchSize": self.train_batch_size,
            "bottleneck": cfg.bottleneck,
            "cudnn": "fastest",
            "data": "data/imagenet",
            "dataset": "imagenet" if cfg.stem == "imagenet" else f"cifar{cfg.num_classes}",
            "depth": (2 if cfg.bottleneck else 1) * sum(cfg.block_config) + len(cfg.block_config) + 1,
            "dropRate": cfg.drop_rate,
            "epochNumber": 1,
            "gen": "gen",
            "growthRate": cfg.growth_rate,
            "lrShape": "multistep",
            "manualSeed": 0,
            "momentum": 0.9,
            "nClasses": 0,
            "nEpochs": 90,
            "nGPU": 1,
            "nThreads": 2,
            "netType": "densenet",
            "optMemory": 4,
            "optimState": "none",
            "optnet": False,
            "precision": "single",
            "reduction": cfg.compression,
            "resetClassifier": False,
            "resume": "none",
            "retrain": "none",
            "save": "checkpoints",
            "shareGradInput": False,
            "shortcutType": "B",
            "tenCrop": False,
            "tensorType": self.tensor_type,
            "testOnly": False,
            "weightDecay": 1e-4,
        }
        for index, num_layers in enumerate(blocks[:4]):
            opt[f"d{index + 1}"] = num_layers
        return opt

    def finish(self, root: t7.T7Object) -> None:
        """Create the two flat storages (weights, gradients) and point every parameter view into them."""
        total = sum(int(np.prod(param.shape)) for param in self.parameters)
        weights = np.empty(total, dtype=self.dtype)
        offset = 0
        for param in self.parameters:
            numel = int(np.prod(param.shape))
            param.offset = offset
            weights[offset : offset + numel] = self.draw(param, numel)
            offset += numel
        # Gradients of the last step: only their presence and size matter, so a cheap scaled copy will do.
        gradients = weights * self.dtype(-1e-3)
        weight_storage = t7.T7Storage.from_numpy(weights, self.storage_type)
        gradient_storage = t7.T7Storage.from_numpy(gradients, self.storage_type)
        for param in self.parameters:
            strides = contiguous_strides(param.shape)
            param.tensor = t7.T7Tensor(self.tensor_type, param.shape, strides, param.offset, weight_storage)
            param.grad = t7.T7Tensor(self.tensor_type, param.shape, strides, param.offset, gradient_storage)
        _attach_parameters(root, set())

    def draw(self, param: _Parameter, numel: int) -> np.ndarray:
        rng = self.rng
        if param.init == "conv":
            return rng.standard_normal(numel, dtype=np.float32) * np.float32(math.sqrt(2.0 / param.fan))
        if param.init == "bn_weight":
            return rng.uniform(0.5, 1.5, numel)
        if param.init == "bn_bias":
            return rng.normal(0.0, 0.2, numel)
        bound = 1.0 / math.sqrt(param.fan)
        if param.init == "linear_weight":
            return rng.uniform(-bound, bound, numel).astype(np.float32)
        return rng.uniform(-bound, bound, numel)


def _deep_copy(lua_value: Any) -> Any:
    """fb.resnet.torch's ``deepCopy``: new Lua tables all the way down, the same tensors and storages."""
    if isinstance(lua_value, t7.T7Object):
        return t7.T7Object(lua_value.typename, _deep_copy(lua_value.fields), version=lua_value.version)
    if isinstance(lua_value, t7.T7Table):
        return t7.T7Table((key, _deep_copy(value)) for key, value in lua_value.items())
    return lua_value


def _attach_parameters(lua_value: Any, seen: set[int]) -> None:
    """Replace the :class:`_Parameter` placeholders by their weight / gradient views."""
    if id(lua_value) in seen:
        return
    seen.add(id(lua_value))
    fields = lua_value.fields if isinstance(lua_value, t7.T7Object) else lua_value
    if not isinstance(fields, dict):
        return
    for key, value in list(fields.items()):
        if isinstance(value, _Parameter):
            fields[key] = value.grad if str(key).startswith("grad") else value.tensor
        elif isinstance(value, (t7.T7Object, t7.T7Table)):
            _attach_parameters(value, seen)


def densenet_checkpoint(
    config: DenseNetConfig,
    layout: str = "standard",
    seed: int = 0,
    tensor_type: str = "torch.FloatTensor",
    *,
    batch_size: int = 2,
    train_batch_size: int = 4,
) -> t7.T7Object:
    """A Lua DenseNet module tree for ``config`` as ``checkpoints.save`` writes it.

    ``layout`` is ``"standard"`` (``-optMemory`` <= 2) or ``"custom"``
    (``-optMemory 4``); ``tensor_type`` one of :data:`TENSOR_TYPES` (the
    ``_type`` and tensor class of every module, as ``model:type(...)`` leaves
    them). ``batch_size`` is the batch of the last forward pass recorded in
    cached sizes (``iSize``, ``nElem``, ...); ``train_batch_size`` sizes the
    shared activation buffer of the custom layout. The same ``seed`` gives
    the same weights in both layouts.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if tensor_type not in TENSOR_TYPES:
        raise ValueError(f"tensor_type must be one of {sorted(TENSOR_TYPES)}, got {tensor_type!r}")
    if config.stem == "imagenet" and len(config.block_config) > 5:
        raise ValueError("an ImageNet-stem DenseNet at 224x224 input supports at most 5 dense blocks")
    builder = _Builder(
        config=config,
        layout=layout,
        tensor_type=tensor_type,
        batch_size=batch_size,
        train_batch_size=train_batch_size,
        rng=np.random.default_rng([seed, 0]),
        buffer_rng=np.random.default_rng([seed, 1]),
    )
    return builder.build()
