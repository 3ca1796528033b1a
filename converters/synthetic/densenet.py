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
from dataclasses import dataclass
from typing import Any

import numpy as np

from converters import t7
from converters.synthetic.lua_tree import CUDNN_DATA_TYPES, LuaTreeBuilder
from converters.t7.typenames import STORAGE_OF_TENSOR
from zoo.models.densenet import DenseNetConfig

LAYOUTS = ("standard", "custom")

#: The tensor types a checkpoint can be built with (storage class and element type come from
#: ``converters.t7.typenames``, the cudnn data type name from ``lua_tree``).
TENSOR_TYPES = tuple(CUDNN_DATA_TYPES)


@dataclass
class _Builder:
    """Builds one DenseNet tree on ``lua``. Weights and biases are drawn when ``lua.finish`` fills the flat
    storage, after every BatchNorm statistic, so that a seed keeps giving the same files."""

    config: DenseNetConfig
    layout: str
    batch_size: int
    train_batch_size: int
    lua: LuaTreeBuilder  # its rng draws weights and BN statistics, in module order
    buffer_rng: np.random.Generator  # activation buffers, so both layouts share weights

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
        lua = self.lua
        fields = lua.cudnn_convolution_fields(n_in, n_out, kernel, stride, pad, size, self.batch_size, first=first)
        if grad_output:  # the 3x3 conv of a standard layer sees a narrowed, non-contiguous gradOutput
            fields["_gradOutput"] = lua.empty()
        shape = (n_out, n_in, kernel, kernel)
        std = math.sqrt(2.0 / (kernel * kernel * n_out))
        lua.parameter(fields, "weight", "gradWeight", lambda: lua.draw("normal", shape, std=std), shape)
        return lua.module("cudnn.SpatialConvolution", fields)

    def batchnorm(self, channels: int, size: int, *, share_key: bool = False) -> t7.T7Object:
        """``cudnn.SpatialBatchNormalization`` (class version 2) after ``clearState``, trained statistics."""
        lua = self.lua
        running_mean = lua.draw("zeros", (channels,))
        running_var = lua.rng.uniform(0.3, 1.7, channels)
        fields: dict[str, Any] = {
            "affine": True,
            "eps": 1e-5,
            "gradInput": lua.empty(),
            "iSize": lua.long_storage([self.batch_size, channels, size, size]),
            "momentum": 0.1,
            "output": lua.empty(),
            "running_mean": lua.own(running_mean),
            "running_var": lua.own(running_var),
            "save_mean": lua.empty(),
            "save_std": lua.empty(),
            "scaleT": lua.own(np.ones(1)),
        }
        if share_key:
            fields["__shareGradInputKey"] = "first"
        shape = (channels,)
        lua.parameter(fields, "weight", "gradWeight", lambda: lua.draw("ones", shape), shape)
        lua.parameter(fields, "bias", "gradBias", lambda: lua.draw("zeros", shape), shape)
        return lua.module("cudnn.SpatialBatchNormalization", fields, version=2)

    def relu(self, channels: int, size: int) -> t7.T7Object:
        return self.lua.cudnn_relu(self.batch_size * channels * size * size)

    def dropout(self) -> t7.T7Object:
        lua = self.lua
        fields = {"gradInput": lua.empty(), "noise": lua.empty(), "output": lua.empty(), "p": self.config.drop_rate}
        fields["v2"] = True
        return lua.module("nn.Dropout", fields)

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
            modules += [self.batchnorm(width, size), self.relu(width, size)]
            channels = width
        modules.append(self.conv(channels, cfg.growth_rate, 3, 1, 1, size, grad_output=self.layout == "standard"))
        if dropout:
            modules.append(self.dropout())
        return modules

    def standard_layer(self, channels: int, size: int) -> t7.T7Object:
        lua = self.lua
        net = lua.sequential(
            [
                self.batchnorm(channels, size, share_key=True),
                self.relu(channels, size),
                *self.convolutions(channels, size),
            ]
        )
        identity = lua.module("nn.Identity", {"gradInput": lua.empty(), "output": lua.empty()})
        concat = lua.module(
            "nn.Concat",
            {
                "dimension": 2,
                "gradInput": lua.empty(),
                "modules": lua.listing([identity, net]),
                "output": lua.empty(),
                "outputSize": lua.long_storage([self.batch_size, channels + self.config.growth_rate, size, size]),
            },
        )
        return lua.sequential([concat])

    def custom_layer(
        self, channels: int, size: int, first_in_block: bool, input_buffer: t7.T7Storage, opt: dict[str, Any]
    ) -> t7.T7Object:
        lua = self.lua
        norm = self.batchnorm(channels, size, share_key=True)
        net1 = lua.sequential([norm, self.relu(channels, size)])
        net2 = lua.sequential(self.convolutions(channels, size))
        # deepCopy gives modules[1]/[2] their own Lua tables that share every tensor with net1/net2.
        copies = [lua.deep_copy(net1), lua.deep_copy(net2)]
        if first_in_block:
            input_c = t7.T7Tensor(lua.tensor_type, (), (), 0, input_buffer)
            grad_input: Any = lua.empty()
        else:
            shape = (self.batch_size, channels, size, size)
            strides = (channels * size * size, size * size, size, 1)
            input_c = t7.T7Tensor(lua.tensor_type, shape, strides, 0, input_buffer)
            grad_input = lua.table()
        return lua.module(
            "nn.DenseConnectLayerCustom",
            {
                "gradInput": grad_input,
                "input_c": input_c,
                "modules": lua.listing(copies),
                "net1": net1,
                "net2": net2,
                "opt": lua.table(opt),
                "output": lua.table(),
                "saved_bn_running_mean": lua.own(norm["running_mean"].numpy()),
                "saved_bn_running_var": lua.own(norm["running_var"].numpy()),
            },
        )

    # -- whole model -----------------------------------------------------------------
    def build(self) -> t7.T7Object:
        """The whole model: stem, dense blocks with their transitions, BN-ReLU, pooling, reshape, classifier."""
        cfg, batch, lua = self.config, self.batch_size, self.lua
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
            modules += [self.batchnorm(channels, size), self.relu(channels, size)]
            if index == len(cfg.block_config) - 1:
                modules += [lua.cudnn_average_pooling(size, size, channels, size, batch), self.reshape(channels)]
            else:
                out_channels = math.floor(channels * cfg.compression)
                modules.append(self.conv(channels, out_channels, 1, 1, 0, size))
                if cfg.drop_rate > 0:
                    modules.append(self.dropout())
                modules.append(lua.cudnn_average_pooling(2, 2, out_channels, size, batch))
                channels, size = out_channels, size // 2
        modules.append(self.linear(channels))
        root = lua.sequential(modules, root=True)
        lua.finish()
        return root

    def stem(self) -> tuple[list[t7.T7Object], int, int]:
        """The stem's modules, the channels they output and the feature map size after them."""
        channels = self.config.num_init_features
        if self.config.stem != "imagenet":
            return [self.conv(3, channels, 3, 1, 1, 32, first=True)], channels, 32
        conv = self.conv(3, channels, 7, 2, 3, 224, first=True)
        size = 112
        modules = [conv, self.batchnorm(channels, size), self.relu(channels, size), self.lua.stem_max_pooling(size)]
        return modules, channels, (size + 2 - 3) // 2 + 1

    def join_table(self, channels: int, size: int) -> t7.T7Object:
        """The ``nn.JoinTable(2)`` closing a dense block of custom layers."""
        lua = self.lua
        return lua.module(
            "nn.JoinTable",
            {
                "dimension": 2,
                "gradInput": lua.table(),
                "output": lua.empty(),
                "size": lua.long_storage([self.batch_size, channels, size, size]),
            },
        )

    def reshape(self, channels: int) -> t7.T7Object:
        """The ``nn.Reshape(channels)`` between the final pooling and the classifier."""
        lua = self.lua
        return lua.module(
            "nn.Reshape",
            {
                "batchsize": lua.long_storage([self.batch_size, channels]),
                "gradInput": lua.empty(),
                "nelement": channels,
                "output": lua.empty(),
                "size": lua.long_storage([channels]),
            },
        )

    def linear(self, channels: int) -> t7.T7Object:
        """The classifier ``nn.Linear(channels, num_classes)``."""
        lua, num_classes = self.lua, self.config.num_classes
        fields: dict[str, Any] = {"addBuffer": lua.empty(), "gradInput": lua.empty(), "output": lua.empty()}
        shape, bound = (num_classes, channels), 1.0 / math.sqrt(channels)

        def weight() -> np.ndarray:  # drawn in single precision whatever the tensor type
            return lua.draw("uniform", shape, bound=bound).astype(np.float32)

        lua.parameter(fields, "weight", "gradWeight", weight, shape)
        lua.parameter(
            fields, "bias", "gradBias", lambda: lua.draw("uniform", (num_classes,), bound=bound), (num_classes,)
        )
        return lua.module("nn.Linear", fields)

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
            self.lua.dtype, copy=False
        )
        return t7.T7Storage.from_numpy(values, STORAGE_OF_TENSOR[self.lua.tensor_type])

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
            "tensorType": self.lua.tensor_type,
            "testOnly": False,
            "weightDecay": 1e-4,
        }
        for index, num_layers in enumerate(blocks[:4]):
            opt[f"d{index + 1}"] = num_layers
        return opt


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
        batch_size=batch_size,
        train_batch_size=train_batch_size,
        lua=LuaTreeBuilder(tensor_type, np.random.default_rng([seed, 0])),
        buffer_rng=np.random.default_rng([seed, 1]),
    )
    return builder.build()
