"""Build the Lua Torch7 tree of OpenFace's ``nn4.small2.v1.t7`` face embedder, as its training code saved it.

:func:`openface_checkpoint` returns the network of cmusatyalab/openface's
January 2016 ``models/openface/nn4.small2.def.lua`` (commit 9d1bd99, the
definition ``nn4.small2.v1`` was trained with): inside the Inception blocks
max pooling 3x3/2 without padding and ``nn.SpatialLPPooling(n, 2, 3, 3)``
(stride 3), ``nn.Reshape(736,3,3)`` after 5a and ``nn.Reshape(736)`` before
``nn.View(736)``, ``nn.Linear(736, 128)`` and ``nn.Normalize(2)``; 96x96 RGB in,
a 128-d unit vector out. The Inception blocks are dpnn's ``nn.Inception``
(an ``nn.Decorator`` holding one ``nn.DepthConcat`` of its columns) with batch
normalisation.

The tree is what ``training/train.lua`` saved at the end of an epoch:
``sanitize(cudnn_to_nn(model)):float()`` of a model converted with
``nn_to_cudnn`` and flattened by ``model:getParameters()`` (``model.lua``
prints the parameter count that way), in nn and dpnn of January 2016. So:
every weight and bias of the trained modules is a view into one flat storage
(gradients into a second), and that storage still holds the parameters of the
cuDNN convolutions which ``cudnn_to_nn`` replaced by fresh
``nn.SpatialConvolutionMM`` modules (2-D weights in storages of their own);
pooling, ReLU and LRN modules are fresh too (no ``train`` field); every
Inception keeps its constructor's ``pool`` and ``transfer`` modules besides the
tree; ``sanitize`` emptied outputs, gradInputs and convolution/pooling buffers,
but left the buffers it does not know (BatchNorm's ``save_mean``/``save_std``,
Linear's ``addBuffer``, Normalize's ``buffer``...) as the last training batch
left them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from converters import t7
from converters.synthetic.lua_tree import LuaTreeBuilder

IMAGE_SIZE = 96
EMBEDDING_SIZE = 128


@dataclass(frozen=True)
class _InceptionConfig:
    """The arguments of one ``nn.Inception{...}`` in nn4.small2.def.lua (9d1bd99); ``pool`` is
    ``("max", 0)`` for ``nn.SpatialMaxPooling(3, 3, 2, 2)`` or ``("lp", n)`` for ``nn.SpatialLPPooling(n, 2, 3, 3)``."""

    input_size: int
    kernel_size: tuple[int, ...]
    kernel_stride: tuple[int, ...]
    output_size: tuple[int, ...]
    reduce_size: tuple[int, ...]
    pool: tuple[str, int]


#: Inception 3a, 3b, 3c, 4a, 4e, 5a and 5b (4b, 4c, 4d removed; smaller 5 layers).
INCEPTIONS = {
    "3a": _InceptionConfig(192, (3, 5), (1, 1), (128, 32), (96, 16, 32, 64), ("max", 0)),
    "3b": _InceptionConfig(256, (3, 5), (1, 1), (128, 64), (96, 32, 64, 64), ("lp", 256)),
    "3c": _InceptionConfig(320, (3, 5), (2, 2), (256, 64), (128, 32), ("max", 0)),
    "4a": _InceptionConfig(640, (3, 5), (1, 1), (192, 64), (96, 32, 128, 256), ("lp", 640)),
    "4e": _InceptionConfig(640, (3, 5), (2, 2), (256, 128), (160, 64), ("max", 0)),
    "5a": _InceptionConfig(1024, (3,), (1,), (384,), (96, 96, 256), ("lp", 960)),
    "5b": _InceptionConfig(736, (3,), (1,), (384,), (96, 96, 256), ("max", 0)),
}


@dataclass
class _OpenFace:
    lua: LuaTreeBuilder
    batch: int

    # -- modules that went through nn_to_cudnn / cudnn_to_nn: fresh, no ``train`` ------------------------
    def fresh(self, typename: str, **fields: Any) -> t7.T7Object:
        return self.lua.module(
            typename, {"gradInput": self.lua.empty(), "output": self.lua.empty(), **fields}, with_train=False
        )

    def replaced_convolution(self, n_in: int, n_out: int, kernel: int, stride: int, pad: int) -> t7.T7Object:
        """The cudnn convolution's parameters stay (orphaned) in the flat storage; the fresh
        ``nn.SpatialConvolutionMM`` got a copy in storages of its own, its weight 2-D (nOut, nIn*kH*kW)."""
        lua = self.lua
        weight, bias = self.convolution_values(n_in, n_out, kernel)
        lua.orphan(weight)
        lua.orphan(bias)
        fields = lua.convolution_fields(n_in, n_out, kernel, stride, pad)
        lua.own_parameter(fields, "weight", "gradWeight", weight, (n_out, n_in * kernel * kernel))
        lua.own_parameter(fields, "bias", "gradBias", bias, (n_out,))
        return self.fresh("nn.SpatialConvolutionMM", **fields)

    def max_pool(self, kernel: int, stride: int, pad: int) -> t7.T7Object:
        fields = dict(dH=stride, dW=stride, kH=kernel, kW=kernel, padH=pad, padW=pad)
        return self.fresh("nn.SpatialMaxPooling", ceil_mode=False, indices=self.lua.empty(), **fields)

    def average_pool(self, kernel: int, stride: int) -> t7.T7Object:
        fields = dict(dH=stride, dW=stride, kH=kernel, kW=kernel, padH=0, padW=0)
        return self.fresh("nn.SpatialAveragePooling", ceil_mode=False, count_include_pad=True, divide=True, **fields)

    def relu(self) -> t7.T7Object:
        return self.fresh("nn.ReLU", inplace=False, threshold=0, val=0)

    def lrn(self) -> t7.T7Object:
        return self.fresh("nn.SpatialCrossMapLRN", alpha=1e-4, beta=0.75, k=1.0, scale=self.lua.empty(), size=5)

    # -- trained modules (flattened parameters, ``train = true``) ---------------------------------------
    def trained(self, typename: str, **fields: Any) -> t7.T7Object:
        return self.lua.module(typename, {"gradInput": self.lua.empty(), "output": self.lua.empty(), **fields})

    def convolution_values(self, n_in: int, n_out: int, kernel: int) -> tuple[np.ndarray, np.ndarray]:
        """nn's reset(): weight and bias uniform(+-1/sqrt(kW*kH*nIn))."""
        bound = 1 / math.sqrt(kernel * kernel * n_in)
        weight = self.lua.draw("uniform", (n_out, n_in, kernel, kernel), bound=bound)
        return weight, self.lua.draw("uniform", (n_out,), bound=bound)

    def convolution(self, n_in: int, n_out: int, kernel: int, stride: int, pad: int) -> t7.T7Object:
        """dpnn Inception's ``nn.SpatialConvolution`` (never converted to cudnn)."""
        lua = self.lua
        weight, bias = self.convolution_values(n_in, n_out, kernel)
        fields = lua.convolution_fields(n_in, n_out, kernel, stride, pad)
        lua.parameter(fields, "weight", "gradWeight", weight, (n_out, n_in, kernel, kernel))
        lua.parameter(fields, "bias", "gradBias", bias, (n_out,))
        return self.trained("nn.SpatialConvolution", **fields)

    def batchnorm(self, channels: int) -> t7.T7Object:
        """nn.SpatialBatchNormalization of January 2016 (already version 2, ``running_var``); ``sanitize`` left
        its ``save_mean`` and ``save_std`` (the last batch's mean and 1/std) as they were."""
        lua = self.lua
        saved = {
            "save_mean": lua.own(lua.draw("zeros", (channels,))),
            "save_std": lua.own(lua.draw("ones", (channels,))),
        }
        return lua.batchnorm(channels, **saved)

    def sequential(self, modules: list[t7.T7Object]) -> t7.T7Object:
        return self.trained("nn.Sequential", modules=self.lua.listing(modules))

    # -- Inception ------------------------------------------------------------------------------
    def reduction(self, n_in: int, n_out: int) -> list[t7.T7Object]:
        """A 1x1 convolution (``reduce``), its BatchNorm and a clone of the ``transfer`` ReLU."""
        return [self.convolution(n_in, n_out, 1, 1, 0), self.batchnorm(n_out), self.relu()]

    def inception_columns(self, config: _InceptionConfig, size: int):
        """The DepthConcat's columns (module lists), the pool field's module, and each column's (channels, size):
        1x1 reduce then kxk per kernel size; the pooling (then a reduce, if given); a lone 1x1 reduce (if given)."""
        columns, shapes = [], []
        for index, kernel in enumerate(config.kernel_size):
            reduce, out, stride = config.reduce_size[index], config.output_size[index], config.kernel_stride[index]
            columns.append(self.reduction(config.input_size, reduce))
            columns[-1] += [self.convolution(reduce, out, kernel, stride, kernel // 2), self.batchnorm(out)]
            columns[-1].append(self.relu())
            shapes.append((out, (size + 2 * (kernel // 2) - kernel) // stride + 1))
        pool, stale_pool, pooled = self.inception_pool(config, size)
        extra = config.reduce_size[len(config.kernel_size) :]
        columns.append([pool, *self.reduction(config.input_size, extra[0])] if extra else [pool])
        shapes.append((extra[0] if extra else config.input_size, pooled))
        if len(extra) > 1:
            columns.append(self.reduction(config.input_size, extra[1]))
            shapes.append((extra[1], size))
        return columns, stale_pool, shapes

    def inception(self, config: _InceptionConfig, size: int) -> tuple[t7.T7Object, int, int]:
        """dpnn's ``nn.Inception`` (of 2016-01); returns it, its output channels and its output size."""
        lua = self.lua
        columns, stale_pool, shapes = self.inception_columns(config, size)
        channels, out_size = sum(c for c, _ in shapes), max(s for _, s in shapes)
        concat = self.trained(
            "nn.DepthConcat",
            dimension=2,
            modules=lua.listing([self.sequential(column) for column in columns]),
            size=lua.long_storage([self.batch, channels, out_size, out_size]),
        )
        inception = self.trained(
            "nn.Inception",
            batchNorm=True,
            dpnn_online=False,
            inputSize=config.input_size,
            kernelSize=lua.listing(list(config.kernel_size)),
            kernelStride=lua.listing(list(config.kernel_stride)),
            module=concat,
            modules=lua.listing([concat]),
            outputSize=lua.listing(list(config.output_size)),
            padding=True,
            pool=stale_pool,
            poolSize=3,
            poolStride=1,
            reduceSize=lua.listing(list(config.reduce_size)),
            reduceStride=lua.table(),
            transfer=self.fresh("nn.ReLU", inplace=False, threshold=0, val=0),
        )
        return inception, channels, out_size

    def inception_pool(self, config: _InceptionConfig, size: int) -> tuple[t7.T7Object, t7.T7Object, int]:
        """The pool column's pooling module, the Inception's ``pool`` field, and the pooled size. A max pooling was
        replaced in the tree (the field keeps the constructor's); an LP pooling stayed, its average pooling inside
        replaced."""
        if config.pool[0] == "max":
            return self.max_pool(3, 2, 0), self.max_pool(3, 2, 0), (size - 3) // 2 + 1
        children = [
            self.trained("nn.Square"),
            self.average_pool(3, 3),
            self.trained("nn.MulConstant", constant_scalar=9, inplace=False),
            self.trained("nn.Sqrt", eps=0),
        ]
        # SpatialLPPooling(nInputPlane, 2, 3, 3): nInputPlane is not stored, the stride defaults to the kernel
        pool = self.trained("nn.SpatialLPPooling", dH=3, dW=3, kH=3, kW=3, modules=self.lua.listing(children))
        return pool, pool, (size - 3) // 3 + 1

    # -- the network ------------------------------------------------------------------------------
    def stem(self) -> list[t7.T7Object]:
        return [
            self.replaced_convolution(3, 64, 7, 2, 3),
            self.batchnorm(64),
            self.relu(),
            self.max_pool(3, 2, 1),
            self.lrn(),
            self.replaced_convolution(64, 64, 1, 1, 0),
            self.batchnorm(64),
            self.relu(),
            self.replaced_convolution(64, 192, 3, 1, 1),
            self.batchnorm(192),
            self.relu(),
            self.lrn(),
            self.max_pool(3, 2, 1),
        ]

    def reshape(self, *size: int) -> t7.T7Object:
        lua = self.lua
        return self.trained(
            "nn.Reshape",
            _gradOutput=lua.empty(),
            _input=lua.empty(),
            batchsize=lua.long_storage([self.batch, *size]),
            nelement=int(np.prod(size)),
            size=lua.long_storage(list(size)),
        )

    def head(self, features: int, embedding: int) -> list[t7.T7Object]:
        lua = self.lua
        view = self.trained("nn.View", numElements=features, size=lua.long_storage([features]))
        fields: dict[str, Any] = {"addBuffer": lua.own(np.ones(self.batch))}
        shape = (embedding, features)
        bound = 1 / math.sqrt(features)
        lua.parameter(fields, "weight", "gradWeight", lua.draw("uniform", shape, bound=bound), shape)
        lua.parameter(fields, "bias", "gradBias", lua.draw("uniform", (embedding,), bound=bound), (embedding,))
        linear = self.trained("nn.Linear", **fields)
        rows = (self.batch, embedding)
        normalize = self.trained(
            "nn.Normalize",
            _gradInput=lua.own(lua.rng.standard_normal(rows)),
            _output=lua.empty(),
            buffer=lua.own(lua.rng.standard_normal(rows)),
            buffer2=lua.own(lua.rng.standard_normal(rows)),
            cross=lua.own(lua.rng.standard_normal((self.batch, 1))),
            eps=1e-10,
            norm=lua.empty(),
            normp=lua.empty(),
            p=2,
        )
        return [self.average_pool(3, 1), self.reshape(features), view, linear, normalize]

    def build(self, embedding: int) -> t7.T7Object:
        modules = self.stem()
        size = 12  # 96 -> conv /2 -> 48 -> max pool /2 -> 24 -> max pool /2 -> 12
        channels = 192
        for name, config in INCEPTIONS.items():
            if config.input_size != channels:
                raise AssertionError(f"Inception {name} takes {config.input_size} channels, not {channels}")
            inception, channels, size = self.inception(config, size)
            modules.append(inception)
            if name == "5a":
                modules.append(self.reshape(channels, size, size))
        return self.sequential(modules + self.head(channels, embedding))


def openface_checkpoint(
    seed: int = 0,
    tensor_type: str = "torch.FloatTensor",
    *,
    weights: str = "trained",
    batch_size: int = 300,
    embedding_size: int = EMBEDDING_SIZE,
) -> t7.T7Object:
    """The nn4.small2 tree ``torch.save`` wrote to ``model_<epoch>.t7`` (released as ``nn4.small2.v1.t7``).

    ``batch_size`` is the last training batch (``-peoplePerBatch 15 -imagesPerPerson 20`` give up to 300
    images), recorded in cached sizes and buffers; ``embedding_size`` is ``-embSize``; ``weights`` is
    ``"trained"``, ``"init"`` or ``"zeros"`` (see ``converters.synthetic.lua_tree.WEIGHTS``).
    """
    net = _OpenFace(
        lua=LuaTreeBuilder(tensor_type, np.random.default_rng([seed, 0]), weights=weights), batch=batch_size
    )
    root = net.build(embedding_size)
    net.lua.finish()
    return root
