"""Build Lua Torch7 ResNet trees the way facebookarchive/fb.resnet.torch built and saved them.

:func:`resnet_checkpoint` returns the ``converters.t7`` tree that
``models/resnet.lua`` (or ``models/preresnet.lua`` with ``preact=True``)
builds, as ``checkpoints.save`` writes it after training:
``deepCopy(model):float():clearState()``. That means the classes those files
use (``cudnn.SpatialConvolution`` without bias, ``nn.SpatialBatchNormalization``,
``cudnn.ReLU``, ``nn.SpatialMaxPooling``, ``cudnn.SpatialAveragePooling``,
``nn.View(n):setNumInputDims(3)``, ``nn.Linear``) with the instance fields cuDNN
R5 and nn leave after a forward and backward pass and ``clearState``; the
residual blocks as ``nn.Sequential{nn.ConcatTable{branch, shortcut},
nn.CAddTable(true), cudnn.ReLU(true)}``; shortcut type A (CIFAR's strided,
zero-padded identity), B or C; all weights and biases as views into one flat
storage (the trainer's ``getParameters``), all gradients into a second one;
``train = true``; no ``gradInput`` on the first convolution (``createModel``
removes it) nor on the root. Write the tree with ``converters.t7.save``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from converters import t7
from converters.synthetic.lua_tree import LuaTreeBuilder

#: ImageNet depth -> (residual blocks per stage, block kind), from resnet.lua / preresnet.lua (200: preresnet only).
IMAGENET_DEPTHS: dict[int, tuple[tuple[int, ...], str]] = {
    18: ((2, 2, 2, 2), "basic"),
    34: ((3, 4, 6, 3), "basic"),
    50: ((3, 4, 6, 3), "bottleneck"),
    101: ((3, 4, 23, 3), "bottleneck"),
    152: ((3, 8, 36, 3), "bottleneck"),
    200: ((3, 24, 36, 3), "bottleneck"),
}
#: dataset -> number of classes of its classifier
DATASETS = {"imagenet": 1000, "cifar10": 10, "cifar100": 100}
SHORTCUTS = ("A", "B", "C")
#: the tensor types a checkpoint can be saved as
TENSOR_TYPES = ("torch.FloatTensor", "torch.DoubleTensor")


@dataclass
class _ResNet:
    lua: LuaTreeBuilder
    shortcut_type: str
    preact: bool
    bn_after_add: bool
    batch: int
    size: int = 0  # spatial size of the feature map at the current point of the build
    channels: int = 0  # ``iChannels`` of the Lua code

    # -- leaves ------------------------------------------------------------------------
    def conv(self, n_in: int, n_out: int, kernel: int, stride: int, pad: int, *, first: bool = False) -> t7.T7Object:
        """``cudnn.SpatialConvolution`` without bias (cuDNN >= 4), MSR-initialised; advances ``size``."""
        fields = self.lua.cudnn_convolution_fields(n_in, n_out, kernel, stride, pad, self.size, self.batch, first=first)
        shape = (n_out, n_in, kernel, kernel)
        values = self.lua.draw("normal", shape, std=math.sqrt(2.0 / (kernel * kernel * n_out)))
        self.lua.parameter(fields, "weight", "gradWeight", values, shape)
        self.size = (self.size + 2 * pad - kernel) // stride + 1
        return self.lua.module("cudnn.SpatialConvolution", fields)

    def batchnorm(self, channels: int, share_key: str | None = None) -> t7.T7Object:
        """BNInit'ed or trained; ``share_key`` is preresnet.lua's ``ShareGradInput(module, key)`` mark."""
        marks = {} if share_key is None else {"__shareGradInputKey": share_key}
        return self.lua.batchnorm(channels, **marks)

    def relu(self, channels: int) -> t7.T7Object:
        return self.lua.cudnn_relu(self.batch * channels * self.size * self.size)

    def max_pool(self) -> t7.T7Object:
        """The stem's ``nn.SpatialMaxPooling(3,3,2,2,1,1)``; advances ``size``."""
        pool = self.lua.stem_max_pooling(self.size)
        self.size = (self.size + 2 - 3) // 2 + 1
        return pool

    def global_pool(self, channels: int) -> t7.T7Object:
        """``cudnn.SpatialAveragePooling(k,k,1,1)`` over the whole last feature map (k = 7 at 224x224)."""
        pool = self.lua.cudnn_average_pooling(self.size, 1, channels, self.size, self.batch)
        self.size = 1
        return pool

    def view(self, features: int) -> t7.T7Object:
        lua = self.lua
        fields = {
            "gradInput": lua.empty(),
            "numElements": features,
            "numInputDims": 3,
            "output": lua.empty(),
            "size": lua.long_storage([features]),
        }
        return lua.module("nn.View", fields)

    def linear(self, features: int, num_classes: int) -> t7.T7Object:
        """``nn.Linear`` with nn's uniform(+-1/sqrt(in)) weights and the bias createModel zeroes."""
        lua = self.lua
        fields: dict[str, Any] = {"addBuffer": lua.empty(), "gradInput": lua.empty(), "output": lua.empty()}
        shape = (num_classes, features)
        lua.parameter(fields, "weight", "gradWeight", lua.draw("uniform", shape, bound=1 / math.sqrt(features)), shape)
        lua.parameter(fields, "bias", "gradBias", lua.draw("zeros", (num_classes,)), (num_classes,))
        return lua.module("nn.Linear", fields)

    def simple(self, typename: str, **fields: Any) -> t7.T7Object:
        """A module whose only state is ``output``/``gradInput`` (emptied by clearState) and ``fields``."""
        return self.lua.module(typename, {"gradInput": self.lua.empty(), "output": self.lua.empty(), **fields})

    # -- residual blocks ---------------------------------------------------------------
    def shortcut(self, n_in: int, n_out: int, stride: int, in_size: int) -> t7.T7Object:
        if self.shortcut_type == "C" or (self.shortcut_type == "B" and n_in != n_out):
            after = self.size
            self.size = in_size  # the projection sees the block's input
            modules = [self.conv(n_in, n_out, 1, stride, 0)]
            if not self.preact:
                modules.append(self.batchnorm(n_out))
            self.size = after
            return self.lua.sequential(modules)
        if n_in != n_out:  # type A: strided, zero-padded identity
            lua = self.lua
            pool = self.simple(
                "nn.SpatialAveragePooling",
                ceil_mode=False,
                count_include_pad=True,
                dH=stride,
                dW=stride,
                divide=True,
                kH=1,
                kW=1,
                padH=0,
                padW=0,
            )
            concat_fields = {
                "dimension": 2,
                "gradInput": lua.empty(),
                "modules": lua.listing([self.simple("nn.Identity"), self.mul_constant(0)]),
                "output": lua.empty(),
                "outputSize": lua.long_storage([self.batch, 2 * n_in, self.size, self.size]),
            }
            return self.lua.sequential([pool, lua.module("nn.Concat", concat_fields)])
        return self.simple("nn.Identity")

    def mul_constant(self, constant: float) -> t7.T7Object:
        return self.simple("nn.MulConstant", constant_scalar=constant, inplace=False)

    def block(self, kind: str, features: int, stride: int, preact_type: str | None) -> t7.T7Object:
        """basicblock / bottleneck of resnet.lua, or of preresnet.lua (``preact_type``: 'both_preact',
        'no_preact' or None) when building the pre-activation network."""
        n_in, in_size = self.channels, self.size
        n_out = features * 4 if kind == "bottleneck" else features
        self.channels = n_out
        head: list[t7.T7Object] = []
        branch: list[t7.T7Object] = []
        if self.preact and preact_type == "both_preact":
            head = [self.batchnorm(n_in, "preact"), self.relu(n_in)]
        elif self.preact and preact_type != "no_preact":
            branch = [self.batchnorm(n_in), self.relu(n_in)]
        if kind == "basic":
            branch += [self.conv(n_in, features, 3, stride, 1), self.batchnorm(features), self.relu(features)]
            branch.append(self.conv(features, features, 3, 1, 1))
        else:
            branch += [self.conv(n_in, features, 1, 1, 0), self.batchnorm(features), self.relu(features)]
            branch += [self.conv(features, features, 3, stride, 1), self.batchnorm(features), self.relu(features)]
            branch.append(self.conv(features, n_out, 1, 1, 0))
        if not self.preact and not self.bn_after_add:
            branch.append(self.batchnorm(n_out))
        concat = self.lua.module(
            "nn.ConcatTable",
            {
                "gradInput": self.lua.empty(),
                "modules": self.lua.listing([self.lua.sequential(branch), self.shortcut(n_in, n_out, stride, in_size)]),
                "output": self.lua.table(),
            },
        )
        add = self.lua.module(
            "nn.CAddTable", {"gradInput": self.lua.table(), "inplace": True, "output": self.lua.empty()}
        )
        tail = [add]
        if not self.preact:
            tail += [self.batchnorm(n_out)] if self.bn_after_add else []
            tail.append(self.relu(n_out))
        return self.lua.sequential([*head, concat, *tail])

    def layer(self, kind: str, features: int, count: int, stride: int, first: bool = False) -> t7.T7Object:
        blocks = []
        for index in range(count):
            if not self.preact:
                preact_type = None
            elif index == 0:
                preact_type = "no_preact" if first else "both_preact"
            else:
                preact_type = None
            blocks.append(self.block(kind, features, stride if index == 0 else 1, preact_type))
        return self.lua.sequential(blocks)

    # -- whole networks ----------------------------------------------------------------
    def imagenet(self, depth: int, num_classes: int) -> list[t7.T7Object]:
        stages, kind = IMAGENET_DEPTHS[depth]
        self.channels = 64
        modules = [self.conv(3, 64, 7, 2, 3, first=True), self.batchnorm(64), self.relu(64), self.max_pool()]
        for index, (count, features) in enumerate(zip(stages, (64, 128, 256, 512), strict=True)):
            modules.append(self.layer(kind, features, count, 1 if index == 0 else 2, first=index == 0))
        return modules + self.head(num_classes)

    def cifar(self, depth: int, num_classes: int) -> list[t7.T7Object]:
        count = (depth - 2) // 6
        self.channels = 16
        modules = [self.conv(3, 16, 3, 1, 1, first=True)]
        if not self.preact:
            modules += [self.batchnorm(16), self.relu(16)]
        for index, features in enumerate((16, 32, 64)):
            modules.append(self.layer("basic", features, count, 1 if index == 0 else 2))
        return modules + self.head(num_classes)

    def head(self, num_classes: int) -> list[t7.T7Object]:
        features = self.channels
        modules = [self.batchnorm(features, "last"), self.relu(features)] if self.preact else []
        return [*modules, self.global_pool(features), self.view(features), self.linear(features, num_classes)]


def resnet_checkpoint(
    depth: int,
    dataset: str = "imagenet",
    shortcut: str | None = None,
    preact: bool = False,
    num_classes: int | None = None,
    seed: int = 0,
    tensor_type: str = "torch.FloatTensor",
    *,
    weights: str = "trained",
    image_size: int | None = None,
    batch_size: int = 2,
    bn_after_add: bool = False,
) -> t7.T7Object:
    """The module tree fb.resnet.torch saves for ``-netType resnet|preresnet -depth D -dataset DATASET``.

    ``shortcut`` is ``-shortcutType`` (default: ``"B"`` for ImageNet, ``"A"``
    for CIFAR, as ``opts.lua`` chooses); ``preact`` builds ``preresnet.lua``
    (the only one with depth 200); ``num_classes`` replaces the classifier as
    ``-resetClassifier -nClasses`` does. ``weights`` is ``"trained"``
    (BatchNorm and biases spread as after training), ``"init"`` (createModel's
    MSRinit / BNInit / zeroed Linear bias) or ``"zeros"`` (cheap: for sizes and
    parameter counts). ``image_size`` defaults to 224 (ImageNet) or 32 (CIFAR),
    for which the final pooling is the Lua code's ``Avg(7,7,1,1)`` /
    ``Avg(8,8,1,1)``; another size (a multiple of 32, or of 4 for CIFAR) sizes
    that pooling to its last feature map, so that small inputs stay cheap.
    ``batch_size`` is the batch of the last forward pass that cached sizes
    record. ``bn_after_add`` moves each block's last BatchNorm after the
    addition (the published ResNet-50 file's layout, per ``pretrained/README.md``).
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    if tensor_type not in TENSOR_TYPES:
        raise ValueError(f"tensor_type must be one of {sorted(TENSOR_TYPES)}, got {tensor_type!r}")
    shortcut = shortcut or ("B" if dataset == "imagenet" else "A")
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
    if bn_after_add and preact:
        raise ValueError("bn_after_add is a layout of the post-activation ResNet only")
    stride_product = 32 if dataset == "imagenet" else 4
    image_size = image_size or (224 if dataset == "imagenet" else 32)
    if image_size % stride_product:
        raise ValueError(f"image_size must be a multiple of {stride_product} for {dataset}, got {image_size}")
    _check_depth(depth, dataset, preact)
    builder = _ResNet(
        lua=LuaTreeBuilder(tensor_type, np.random.default_rng([seed, 0]), weights=weights),
        shortcut_type=shortcut,
        preact=preact,
        bn_after_add=bn_after_add,
        batch=batch_size,
        size=image_size,
    )
    num_classes = num_classes or DATASETS[dataset]
    if dataset == "imagenet":
        modules = builder.imagenet(depth, num_classes)
    else:
        modules = builder.cifar(depth, num_classes)
    root = builder.lua.sequential(modules, root=True)
    builder.lua.finish()
    return root


def _check_depth(depth: int, dataset: str, preact: bool) -> None:
    if dataset != "imagenet":
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet's depth is 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
    elif depth not in IMAGENET_DEPTHS or (depth == 200 and not preact):
        valid = sorted(IMAGENET_DEPTHS) if preact else sorted(set(IMAGENET_DEPTHS) - {200})
        raise ValueError(f"an ImageNet {'pre' if preact else ''}ResNet's depth is one of {valid}, got {depth}")
