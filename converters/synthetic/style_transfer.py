"""Build Lua Torch7 checkpoints of jcjohnson/fast-neural-style's feed-forward style transfer networks.

:func:`style_transfer_checkpoint` returns the table ``train.lua`` saves
(``torch.save(checkpoint_name .. '.t7', checkpoint)``): ``opt``, the loss
histories and ``model``, the network ``models.build_model(opt)`` builds
for an ``-arch`` string such as ``c9s1-32,d64,d128,R128,R128,R128,R128,R128,u64,u32,c9s1-3``:
``nn.SpatialConvolution`` / ``nn.SpatialFullConvolution`` layers, each but the last
followed by ``nn.InstanceNormalization`` (or ``nn.SpatialBatchNormalization``) and
``nn.ReLU(true)``; residual blocks ``nn.Sequential{nn.ConcatTable{conv block,
nn.ShaveImage(2) or nn.Identity}, nn.CAddTable()}``; then ``nn.Tanh``,
``nn.MulConstant(tanh_constant)`` and ``nn.TotalVariation(tv_strength)``. With the
default ``-padding_type reflect-start`` the blocks do not pad, and training
inserted an ``nn.SpatialReflectionPadding`` in front that makes the output as
large as the input.

The tree is as a CPU run (``-gpu -1``) leaves it at a checkpoint: after
``model:clearState()``, in training mode, every weight a view into one flat
storage and every gradient into another (``getParameters``), each
InstanceNormalization holding the inner ``bn`` of its last forward pass (sized
for that batch), TotalVariation its difference buffers of the last backward
pass and, as ``output``, the very tensor object of the MulConstant before it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from converters import t7
from converters.synthetic.lua_tree import LuaTreeBuilder

DEFAULT_ARCH = "c9s1-32,d64,d128,R128,R128,R128,R128,R128,u64,u32,c9s1-3"
NORMS = ("instance", "batch")
PADDING_TYPES = ("reflect-start", "reflect", "replicate", "zero", "none")
_LAYER = re.compile(r"^(?:(?P<conv>[cf])(?P<kernel>\d)s(?P<stride>\d)-(?P<dim>\d+)|(?P<kind>[dUuCR])(?P<n>\d+))$")
#: train.lua's VGG-16 loss layers whose per-iteration losses the checkpoint records.
_STYLE_LAYERS = (4, 9, 16, 23)
_CONTENT_LAYERS = (16,)


@dataclass(frozen=True)
class _Layer:
    """One ``-arch`` item: ``kind`` is its first character; ``dim`` its output channels (or ``U``'s scale)."""

    kind: str
    dim: int
    kernel: int = 3
    stride: int = 1


def parse_arch(arch: str) -> list[_Layer]:
    """The layers of an ``-arch`` string, as ``build_model`` reads it (one-digit kernel and stride)."""
    layers = []
    for item in arch.split(","):
        match = _LAYER.match(item)
        if match is None:
            raise ValueError(f"cannot read -arch item {item!r} (expected e.g. c9s1-32, d64, u64, U2, C128, R128)")
        if match["conv"]:
            layers.append(_Layer(match["conv"], int(match["dim"]), int(match["kernel"]), int(match["stride"])))
        else:
            layers.append(_Layer(match["kind"], int(match["n"])))
    return layers


def _block_padding(padding_type: str) -> int:
    """The padding a residual or conv block's 3x3 convolutions get, by a module or by the convolution."""
    return 0 if padding_type in ("reflect-start", "none") else 1


def output_size(layers: list[_Layer], padding_type: str, size: int) -> int:
    """The spatial size ``build_model``'s network (without the inserted padding) makes of ``size``."""
    for layer in layers:
        if layer.kind == "c":
            size = (size + 2 * ((layer.kernel - 1) // 2) - layer.kernel) // layer.stride + 1
        elif layer.kind == "f":
            size = (size - 1) * layer.stride - 2 * ((layer.kernel - 1) // 2) + layer.kernel + layer.stride - 1
        elif layer.kind == "d":
            size = (size - 1) // 2 + 1
        elif layer.kind == "U":
            size *= layer.dim
        elif layer.kind == "u":
            size *= 2
        else:  # C and R: two 3x3 convolutions, padded or not
            size -= 4 - 4 * _block_padding(padding_type)
    return size


@dataclass
class _StyleNet:
    lua: LuaTreeBuilder
    norm: str
    padding_type: str
    batch: int
    size: int  # spatial size at the current point of the build

    def simple(self, typename: str, **fields: Any) -> t7.T7Object:
        return self.lua.module(typename, {"gradInput": self.lua.empty(), "output": self.lua.empty(), **fields})

    def container(self, typename: str, modules: list[t7.T7Object], output: Any = None) -> t7.T7Object:
        lua = self.lua
        output = lua.empty() if output is None else output  # a ConcatTable's is a (cleared) table
        fields = {"gradInput": lua.empty(), "modules": lua.listing(modules), "output": output}
        return lua.module(typename, fields)

    def padding(self, kind: str, pad: int) -> t7.T7Object:
        self.size += 2 * pad
        typename = "nn.SpatialReflectionPadding" if kind == "reflect" else "nn.SpatialReplicationPadding"
        return self.simple(typename, pad_b=pad, pad_l=pad, pad_r=pad, pad_t=pad)

    def convolution(self, n_in: int, n_out: int, kernel: int, stride: int, pad: int) -> t7.T7Object:
        """``nn.SpatialConvolution`` with nn's reset(): weight and bias uniform(+-1/sqrt(kW*kH*nIn))."""
        self.size = (self.size + 2 * pad - kernel) // stride + 1
        return self._convolution("nn.SpatialConvolution", n_in, n_out, kernel, stride, pad, {})

    def full_convolution(self, n_in: int, n_out: int, kernel: int, stride: int, pad: int) -> t7.T7Object:
        adjust = stride - 1
        self.size = (self.size - 1) * stride - 2 * pad + kernel + adjust
        extra = {"adjH": adjust, "adjW": adjust, "ones": self.lua.empty()}
        return self._convolution("nn.SpatialFullConvolution", n_in, n_out, kernel, stride, pad, extra)

    def _convolution(self, typename: str, n_in: int, n_out: int, kernel: int, stride: int, pad: int, extra: dict):
        lua = self.lua
        fields = {**lua.convolution_fields(n_in, n_out, kernel, stride, pad), **extra}
        shape = (n_in, n_out, kernel, kernel) if "Full" in typename else (n_out, n_in, kernel, kernel)
        bound = 1 / math.sqrt(kernel * kernel * n_in)
        lua.parameter(fields, "weight", "gradWeight", lua.draw("uniform", shape, bound=bound), shape)
        lua.parameter(fields, "bias", "gradBias", lua.draw("uniform", (n_out,), bound=bound), (n_out,))
        return lua.module(typename, fields)

    def normalization(self, channels: int) -> t7.T7Object:
        if self.norm == "batch":
            return self.lua.batchnorm(channels)
        lua = self.lua
        fields: dict[str, Any] = {"eps": 1e-5, "gradInput": lua.empty(), "nOutput": channels, "output": lua.empty()}
        weight, bias = lua.draw("ones", (channels,)), lua.draw("zeros", (channels,))
        lua.parameter(fields, "weight", "gradWeight", weight, (channels,))
        lua.parameter(fields, "bias", "gradBias", bias, (channels,))
        module = lua.module("nn.InstanceNormalization", fields)
        # The inner BatchNorm of the last forward pass: batch * channels planes, always in training mode, the
        # outer weight and bias repeated per image; its running statistics are never used (nor converted).
        inner = lua.batchnorm(self.batch * channels, flat=False)
        inner["weight"], inner["bias"] = lua.own(np.tile(weight, self.batch)), lua.own(np.tile(bias, self.batch))
        inner["train"] = True
        module.fields.update(bn=inner, prev_N=self.batch)
        return module

    def relu(self) -> t7.T7Object:
        return self.simple("nn.ReLU", inplace=True, threshold=0, val=0)

    def conv_block(self, dim: int) -> t7.T7Object:
        """``build_conv_block``: (pad) conv3x3 norm ReLU (pad) conv3x3 norm."""
        modules: list[t7.T7Object] = []
        pad = 1 if self.padding_type == "zero" else 0
        for index in range(2):
            if self.padding_type in ("reflect", "replicate"):
                modules.append(self.padding(self.padding_type, 1))
            modules += [self.convolution(dim, dim, 3, 1, pad), self.normalization(dim)]
            if index == 0:
                modules.append(self.relu())
        return self.container("nn.Sequential", modules)

    def residual_block(self, dim: int) -> t7.T7Object:
        block = self.conv_block(dim)
        if self.padding_type in ("none", "reflect-start"):
            shortcut = self.simple("nn.ShaveImage", size=2)
        else:
            shortcut = self.simple("nn.Identity")
        concat = self.container("nn.ConcatTable", [block, shortcut], output=self.lua.table())
        add = self.lua.module("nn.CAddTable", {"gradInput": self.lua.table(), "output": self.lua.empty()})
        return self.container("nn.Sequential", [concat, add])

    def layer(self, layer: _Layer, prev_dim: int) -> list[t7.T7Object]:
        """The modules ``build_model`` adds for one ``-arch`` item (without its norm and ReLU)."""
        if layer.kind == "c":
            pad = (layer.kernel - 1) // 2
            modules = []
            if self.padding_type in ("reflect", "replicate"):
                modules.append(self.padding(self.padding_type, pad))
                pad = 0
            return [*modules, self.convolution(prev_dim, layer.dim, layer.kernel, layer.stride, pad)]
        if layer.kind == "f":
            return [self.full_convolution(prev_dim, layer.dim, layer.kernel, layer.stride, (layer.kernel - 1) // 2)]
        if layer.kind == "d":
            return [self.convolution(prev_dim, layer.dim, 3, 2, 1)]
        if layer.kind == "u":
            return [self.full_convolution(prev_dim, layer.dim, 3, 2, 1)]
        if layer.kind == "U":
            return [self.upsampling(prev_dim, layer.dim)]
        if layer.kind == "C":
            return [self.conv_block(layer.dim)]
        return [self.residual_block(layer.dim)]

    def upsampling(self, channels: int, scale: int) -> t7.T7Object:
        sizes = {
            "inputSize": self.lua.long_storage([self.batch, channels, self.size, self.size]),
            "outputSize": self.lua.long_storage([self.batch, channels, self.size * scale, self.size * scale]),
        }
        self.size *= scale
        return self.simple("nn.SpatialUpSamplingNearest", scale_factor=scale, **sizes)

    def build(self, layers: list[_Layer], tanh_constant: float, tv_strength: float) -> t7.T7Object:
        modules: list[t7.T7Object] = []
        prev_dim = 3
        for index, layer in enumerate(layers):
            modules += self.layer(layer, prev_dim)
            dim = prev_dim if layer.kind == "U" else layer.dim
            last = index == len(layers) - 1
            if layer.kind not in ("C", "R") and not last:
                modules.append(self.normalization(dim))
            if layer.kind != "R" and not last:
                modules.append(self.relu())
            prev_dim = dim
        scale = self.simple("nn.MulConstant", constant_scalar=tanh_constant, inplace=False)
        variation = self.lua.module(
            "nn.TotalVariation",
            {
                "gradInput": self.lua.empty(),
                "output": scale["output"],  # updateOutput: self.output = input
                "strength": tv_strength,
                "x_diff": self.difference_buffer(),
                "y_diff": self.difference_buffer(),
            },
        )
        return self.container("nn.Sequential", [*modules, self.simple("nn.Tanh"), scale, variation])

    def difference_buffer(self) -> t7.T7Tensor:
        """An x_diff / y_diff buffer of the last backward pass: (batch, 3, H-1, W-1), kept by clearState."""
        extent = self.size - 1
        return self.lua.own(self.lua.rng.standard_normal((self.batch, 3, extent, extent), dtype=np.float32))


def style_transfer_checkpoint(
    arch: str = DEFAULT_ARCH,
    norm: str = "instance",
    padding_type: str = "reflect-start",
    seed: int = 0,
    tensor_type: str = "torch.FloatTensor",
    *,
    weights: str = "trained",
    tanh_constant: float = 150,
    tv_strength: float = 1e-6,
    image_size: int = 256,
    batch_size: int = 4,
    iterations: int = 40000,
) -> t7.T7Table:
    """The checkpoint table ``train.lua`` saves for ``-arch ARCH -use_instance_norm 1|0 -padding_type P``.

    Its ``model`` is the network; load it with ``converters.load_module(checkpoint["model"])``.
    ``image_size`` and ``batch_size`` are the training images' (``-h5_file``'s
    256) and ``-batch_size`` (4): they size the inserted reflection padding,
    the inner BatchNorm of each InstanceNormalization and TotalVariation's
    buffers. ``iterations`` is the iteration of the checkpoint (the histories'
    length). ``weights`` is ``"trained"``, ``"init"`` or ``"zeros"`` (see
    ``converters.synthetic.lua_tree.WEIGHTS``).
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if padding_type not in PADDING_TYPES:
        raise ValueError(f"padding_type must be one of {PADDING_TYPES}, got {padding_type!r}")
    layers = parse_arch(arch)
    pad = 0
    if padding_type == "reflect-start":
        shrink = image_size - output_size(layers, padding_type, image_size)
        if shrink % 2:
            raise ValueError(f"-arch {arch} shrinks a {image_size}-pixel image by an odd {shrink} pixels")
        pad = shrink // 2
    net = _StyleNet(
        lua=LuaTreeBuilder(tensor_type, np.random.default_rng([seed, 0]), weights=weights),
        norm=norm,
        padding_type=padding_type,
        batch=batch_size,
        size=image_size,
    )
    front = [net.padding("reflect", pad)] if pad else []  # model:insert(pad_mod, 1) after the first forward
    model = net.build(layers, tanh_constant, tv_strength)
    model["modules"] = net.lua.listing(front + model["modules"].as_list())
    net.lua.finish()
    return t7.T7Table(
        {
            "opt": _options(arch, norm, padding_type, tanh_constant, tv_strength, batch_size),
            **_histories(np.random.default_rng([seed, 1]), iterations),
            "model": model,
        }
    )


def _options(arch: str, norm: str, padding_type: str, tanh: float, tv: float, batch_size: int) -> t7.T7Table:
    """train.lua's ``opt`` after ``cmd:parse`` and ``utils.parse_layers`` (a CPU run: ``-gpu -1``)."""
    listing = LuaTreeBuilder.listing
    return t7.T7Table(
        {
            "arch": arch,
            "use_instance_norm": 1 if norm == "instance" else 0,
            "task": "style",
            "h5_file": "data/ms-coco-256.h5",
            "padding_type": padding_type,
            "tanh_constant": tanh,
            "preprocessing": "vgg",
            "resume_from_checkpoint": "",
            "pixel_loss_type": "L2",
            "pixel_loss_weight": 0.0,
            "percep_loss_weight": 1.0,
            "tv_strength": tv,
            "content_weights": listing([1.0] * len(_CONTENT_LAYERS)),
            "content_layers": listing(list(_CONTENT_LAYERS)),
            "loss_network": "models/vgg16.t7",
            "style_image": "images/styles/candy.jpg",
            "style_image_size": 256,
            "style_weights": listing([5.0] * len(_STYLE_LAYERS)),
            "style_layers": listing(list(_STYLE_LAYERS)),
            "style_target_type": "gram",
            "upsample_factor": 4,
            "num_iterations": 40000,
            "max_train": -1,
            "batch_size": batch_size,
            "learning_rate": 1e-3,
            "lr_decay_every": -1,
            "lr_decay_factor": 0.5,
            "weight_decay": 0,
            "checkpoint_name": "checkpoint",
            "checkpoint_every": 1000,
            "num_val_batches": 10,
            "gpu": -1,
            "use_cudnn": 1,
            "backend": "cuda",
        }
    )


def _histories(rng: np.random.Generator, iterations: int) -> dict[str, t7.T7Table]:
    """The loss histories of ``iterations`` steps (a validation loss every 1000), decaying like real ones."""
    listing = LuaTreeBuilder.listing

    def curve(count: int, start: float) -> t7.T7Table:
        steps = np.arange(1, count + 1)
        return listing((start / np.sqrt(steps) * rng.uniform(0.9, 1.1, count)).tolist())

    checkpoints = iterations // 1000
    losses = {f"style-{layer}": curve(iterations, 1e5) for layer in _STYLE_LAYERS}
    losses.update({f"content-{layer}": curve(iterations, 1e5) for layer in _CONTENT_LAYERS})
    return {
        "train_loss_history": curve(iterations, 5e5),
        "val_loss_history": curve(checkpoints, 3e5),
        "val_loss_history_ts": listing([1000 * (index + 1) for index in range(checkpoints)]),
        "style_loss_history": t7.T7Table(losses),
    }
