"""DenseNet (Huang et al., CVPR 2017) as the original Lua Torch7 code built it.

The module tree and parameter names follow torchvision's ``densenet``
(``features.conv0``, ``features.denseblock1.denselayer1.norm1``, ...,
``features.norm5``, ``classifier``), so converted ImageNet weights for
DenseNet-121/169/201/161 also load strictly into ``torchvision.models``.
Behaviour follows liuzhuang13/DenseNet's ``models/densenet.lua`` and
``models/DenseConnectLayer.lua``: BatchNorm eps 1e-5 and momentum 0.1, dropout
after every convolution but the stem's when ``drop_rate > 0`` (both
convolutions of a bottleneck layer, the one of a layer without bottleneck, the
transition convolution), transitions that keep ``floor(channels *
compression)`` channels, and the Lua weight initialisation.

Besides DenseNet-BC (``bottleneck=True``) the config describes the original
DenseNet (``bottleneck=False``, Lua's ``-bottleneck false``): each dense layer
is BN-ReLU-Conv3x3 only, named ``norm1``, ``relu1``, ``conv1`` (the names of
the first BN-ReLU-conv of a bottleneck layer; there is no ``norm2``/``conv2``).
The CIFAR architectures of the published tables are named in
:data:`CIFAR_MODELS` (configs: :data:`CIFAR_CONFIGS`).

``DenseNet(config, memory_efficient=True)`` trains with far less activation
memory (see :mod:`zoo.models.memory_efficient`); the module tree and weights
are the same either way.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import numbers
import reprlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.models import memory_efficient as _memory_efficient

STEMS = ("imagenet", "cifar")

#: Upper bounds of a DenseNetConfig: far above every published or plausible DenseNet (the largest
#: published model has 64 layers in a block, growth rate 48 and 1000 classes), low enough that a
#: config read from an untrusted file cannot make this library build an absurd network.
MAX_BLOCKS = 16
MAX_LAYERS_PER_BLOCK = 500
_INTEGER_LIMITS = {"growth_rate": 1024, "num_init_features": 4096, "bn_size": 64, "num_classes": 1_000_000}

_SHORT = reprlib.Repr()
_SHORT.maxlist = _SHORT.maxtuple = 8
_SHORT.maxstring = _SHORT.maxother = 40


@dataclass(frozen=True)
class DenseNetConfig:
    """The architecture of a DenseNet: everything needed to build it, nothing about weights.

    ``stem="imagenet"`` is the 7x7/2 convolution, BN, ReLU and 3x3/2 max pool of
    the ImageNet models; ``stem="cifar"`` is the single 3x3 convolution of the
    CIFAR models. ``num_init_features`` is the stem's output width (2k in the
    ImageNet models and the DenseNet-BCs; 16 in the paper's original CIFAR
    DenseNets, 2k in the released Lua code for those too).
    ``bottleneck=True`` (DenseNet-B/BC) gives each dense layer a 1x1
    convolution to ``bn_size * growth_rate`` channels before its 3x3
    convolution; ``bottleneck=False`` (the original DenseNet) leaves it out and
    ``bn_size`` is not used. ``compression`` is Lua's ``-reduction`` (0.5 for
    DenseNet-BC, 1 for the original DenseNet).

    Every field is checked on construction (type, range, and the upper bounds
    :data:`MAX_BLOCKS`, :data:`MAX_LAYERS_PER_BLOCK` and ``_INTEGER_LIMITS``);
    a bad value raises ``ValueError`` naming each problem.
    """

    growth_rate: int = 32
    block_config: tuple[int, ...] = (6, 12, 24, 16)
    num_init_features: int = 64
    bn_size: int = 4
    compression: float = 0.5
    drop_rate: float = 0.0
    num_classes: int = 1000
    stem: str = "imagenet"
    bottleneck: bool = True

    def __post_init__(self) -> None:
        problems = []
        for name, limit in _INTEGER_LIMITS.items():
            value = getattr(self, name)
            if not _is_integer(value) or not 1 <= value <= limit:
                problems.append(f"{name} must be an integer from 1 to {limit}, got {_SHORT.repr(value)}")
            else:
                object.__setattr__(self, name, int(value))
        blocks = self.block_config
        if isinstance(blocks, (str, bytes, Mapping)) or not isinstance(blocks, Iterable):
            problems.append(f"block_config must be a list of layer counts, got {_SHORT.repr(blocks)}")
        else:
            blocks = tuple(itertools.islice(blocks, MAX_BLOCKS + 1))
            if not 1 <= len(blocks) <= MAX_BLOCKS or not all(
                _is_integer(n) and 1 <= n <= MAX_LAYERS_PER_BLOCK for n in blocks
            ):
                problems.append(
                    f"block_config must be a list of 1 to {MAX_BLOCKS} integer layer counts, each from 1 to "
                    f"{MAX_LAYERS_PER_BLOCK}, got {_SHORT.repr(self.block_config)}"
                )
            else:
                object.__setattr__(self, "block_config", tuple(int(n) for n in blocks))
        for name, low, high, closed in (("compression", 0.0, 1.0, "(0, 1]"), ("drop_rate", 0.0, 1.0, "[0, 1)")):
            value = getattr(self, name)
            in_range = _is_real(value) and (low < value <= high if name == "compression" else low <= value < high)
            if not in_range:
                problems.append(f"{name} must be a number in {closed}, got {_SHORT.repr(value)}")
            else:
                object.__setattr__(self, name, float(value))
        if not isinstance(self.stem, str) or self.stem not in STEMS:
            problems.append(f"stem must be one of {STEMS}, got {_SHORT.repr(self.stem)}")
        if not isinstance(self.bottleneck, bool):  # 1, "true", numpy.bool_ ... are refused: a bool is a bool
            problems.append(f"bottleneck must be True or False, got {_SHORT.repr(self.bottleneck)}")
        if problems:
            raise ValueError("invalid DenseNetConfig: " + "; ".join(problems))

    @property
    def num_features(self) -> int:
        """Width of the final feature map (the classifier's input)."""
        return self.block_widths()[-1][1]

    @property
    def smallest_input_size(self) -> int:
        """The smallest image side the network takes: each transition's 2x2 average pool needs 2 pixels.

        The CIFAR stem keeps the size; the ImageNet stem's 7x7/2 convolution and 3x3/2 max pool take
        ``s`` to ``ceil(ceil(s / 2) / 2)``, so it needs ``4 * (m - 1) + 1`` pixels to leave ``m``.
        """
        after_stem = 2 ** (len(self.block_config) - 1)
        return after_stem if self.stem == "cifar" else 4 * (after_stem - 1) + 1

    def block_widths(self) -> list[tuple[int, int]]:
        """(input width, output width) of each dense block, before its transition."""
        widths = []
        channels = self.num_init_features
        for index, num_layers in enumerate(self.block_config):
            out = channels + num_layers * self.growth_rate
            widths.append((channels, out))
            channels = out if index == len(self.block_config) - 1 else math.floor(out * self.compression)
        return widths

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists instead of tuples)."""
        config = dataclasses.asdict(self)
        config["block_config"] = list(self.block_config)
        return config

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> DenseNetConfig:
        """Build from a dict such as ``to_dict()`` produced; unknown keys and wrong types are a ``ValueError``."""
        if not isinstance(config, Mapping):
            raise ValueError(f"a DenseNetConfig is described by a dict (a JSON object), got {_SHORT.repr(config)}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(_SHORT.repr(key) for key in config if key not in known)
        if unknown:
            raise ValueError(f"unknown DenseNetConfig keys {unknown[:8]}; expected some of {sorted(known)}")
        return cls(**config)

    def replace(self, **changes: Any) -> DenseNetConfig:
        return dataclasses.replace(self, **changes)


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def state_dict_shapes(config: DenseNetConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape of every tensor of ``DenseNet(config).state_dict()``, in its order, without building modules.

    What the tensors of a file are checked against before a network is built from the file's (untrusted)
    config: cheap for any valid config, and it allocates nothing of the network's size.
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(key: str, out_channels: int, in_channels: int, kernel: int) -> None:
        shapes[f"{key}.weight"] = (out_channels, in_channels, kernel, kernel)

    def norm(key: str, channels: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{key}.{name}"] = (channels,)
        shapes[f"{key}.num_batches_tracked"] = ()

    growth, width = config.growth_rate, config.bn_size * config.growth_rate
    conv("features.conv0", config.num_init_features, 3, 7 if config.stem == "imagenet" else 3)
    if config.stem == "imagenet":
        norm("features.norm0", config.num_init_features)
    widths = config.block_widths()
    for index, num_layers in enumerate(config.block_config):
        in_channels, out_channels = widths[index]
        for layer in range(num_layers):
            key = f"features.denseblock{index + 1}.denselayer{layer + 1}"
            norm(f"{key}.norm1", in_channels + layer * growth)
            if config.bottleneck:
                conv(f"{key}.conv1", width, in_channels + layer * growth, 1)
                norm(f"{key}.norm2", width)
                conv(f"{key}.conv2", growth, width, 3)
            else:
                conv(f"{key}.conv1", growth, in_channels + layer * growth, 3)
        if index != len(config.block_config) - 1:
            norm(f"features.transition{index + 1}.norm", out_channels)
            conv(f"features.transition{index + 1}.conv", widths[index + 1][0], out_channels, 1)
    norm("features.norm5", config.num_features)
    shapes["classifier.weight"] = (config.num_classes, config.num_features)
    shapes["classifier.bias"] = (config.num_classes,)
    return shapes


def num_parameters(config: DenseNetConfig) -> int:
    """The number of trainable values of ``DenseNet(config)`` (weights and biases), counted without building it."""
    return sum(
        math.prod(shape) for key, shape in state_dict_shapes(config).items() if key.endswith((".weight", ".bias"))
    )


def state_dict_mismatch(
    config: DenseNetConfig, state_dict: Mapping[str, Tensor], optional_prefix: str | None = None
) -> str | None:
    """What keeps ``state_dict`` from being ``DenseNet(config)``'s (names, shapes, kinds of values), or None.

    Missing ``num_batches_tracked`` counters (old files lack them) and, with ``optional_prefix``, missing
    keys that start with it are accepted. Weights and statistics must be floating-point, counters
    integers. The text counts missing and unexpected keys and mismatches, with the first few of each.
    """
    expected = state_dict_shapes(config)
    missing = [
        key
        for key in expected
        if key not in state_dict
        and not key.endswith(".num_batches_tracked")
        and not (optional_prefix and key.startswith(optional_prefix))
    ]
    unexpected = [str(key)[:80] for key in state_dict if key not in expected]
    wrong_shape = [
        f"{key} {tuple(state_dict[key].shape)} (model: {expected[key]})"
        for key in expected
        if key in state_dict and tuple(state_dict[key].shape) != expected[key]
    ]
    wrong_kind = [
        f"{key} {tensor.dtype}"
        for key, tensor in state_dict.items()
        if key in expected
        and (
            tensor.is_complex()
            or tensor.dtype == torch.bool
            or tensor.is_floating_point() == key.endswith(".num_batches_tracked")
        )
    ]
    parts = [
        f"{what.format(len(found))} (first: {found[:3]})"
        for found, what in (
            (missing, "missing {} keys"),
            (unexpected, "unexpected {} keys"),
            (wrong_shape, "{} shape mismatches"),
            (wrong_kind, "{} tensors of the wrong kind (weights and statistics are floating-point, counters integers)"),
        )
        if found
    ]
    return "; ".join(parts) or None


def _imagenet(growth_rate: int, block_config: tuple[int, ...]) -> DenseNetConfig:
    return DenseNetConfig(growth_rate=growth_rate, block_config=block_config, num_init_features=2 * growth_rate)


#: The eight published ImageNet models. "cosine" names the learning-rate
#: schedule a model was trained with, not a different architecture.
MODEL_CONFIGS: dict[str, DenseNetConfig] = {
    "densenet121": _imagenet(32, (6, 12, 24, 16)),
    "densenet169": _imagenet(32, (6, 12, 32, 32)),
    "densenet201": _imagenet(32, (6, 12, 48, 32)),
    "densenet161": _imagenet(48, (6, 12, 36, 24)),
    "densenet264": _imagenet(32, (6, 12, 64, 48)),
    "densenet232": _imagenet(48, (6, 12, 48, 48)),
    "densenet264_cosine": _imagenet(32, (6, 12, 64, 48)),
    "densenet264_k48_cosine": _imagenet(48, (6, 12, 64, 48)),
}


#: The CIFAR model families of the published tables: the original DenseNet and the two with bottleneck
#: layers and compression 0.5 (the wide ones are shallow DenseNet-BCs with a large growth rate).
CIFAR_FAMILIES = ("DenseNet", "DenseNet-BC", "Wide-DenseNet-BC")


def cifar_config(
    depth: int,
    growth_rate: int,
    bottleneck: bool = True,
    compression: float | None = None,
    num_init_features: int | None = None,
    num_classes: int = 10,
) -> DenseNetConfig:
    """The CIFAR DenseNet of depth L and growth rate k by ``models/densenet.lua``'s rules.

    Three dense blocks of ``(L-4)/6`` layers with bottleneck, ``(L-4)/3`` without (L counts every
    convolution and the classifier); ``compression`` is Lua's ``-reduction``: 0.5 with bottleneck and 1
    without by default (DenseNet-BC and the original DenseNet). The stem width defaults to the paper's:
    2k with bottleneck, 16 without; the released Lua code uses 2k for both (``num_init_features=2*k``).
    """
    layers_per_block, remainder = divmod(depth - 4, 6 if bottleneck else 3)
    if isinstance(depth, bool) or not isinstance(depth, int) or remainder or layers_per_block < 1:
        rule = "L-4 divisible by 6 (with bottleneck)" if bottleneck else "L-4 divisible by 3 (without bottleneck)"
        raise ValueError(f"a CIFAR DenseNet has depth L with {rule} and at least one layer per block, got {depth!r}")
    return DenseNetConfig(
        growth_rate=growth_rate,
        block_config=(layers_per_block,) * 3,
        num_init_features=num_init_features or (2 * growth_rate if bottleneck else 16),
        compression=compression if compression is not None else (0.5 if bottleneck else 1.0),
        num_classes=num_classes,
        stem="cifar",
        bottleneck=bottleneck,
    )


@dataclass(frozen=True)
class CifarModel:
    """A CIFAR architecture of the published tables, ``family (L=depth, k=growth_rate)``, 10 classes."""

    family: str
    depth: int
    growth_rate: int

    @property
    def title(self) -> str:
        """The row name of the published tables, e.g. ``DenseNet-BC (L=100, k=12)``."""
        return f"{self.family} (L={self.depth}, k={self.growth_rate})"

    @property
    def config(self) -> DenseNetConfig:
        """The architecture with the paper's stem width (see :func:`cifar_config`)."""
        return cifar_config(self.depth, self.growth_rate, bottleneck=self.family != "DenseNet")

    @property
    def lua_init_features(self) -> int:
        """The stem width of the released Lua code (2k for every family)."""
        return 2 * self.growth_rate


#: The nine CIFAR architectures of the DenseNet README's CIFAR and Wide-DenseNet tables, in table order.
#: Names are ``[wide_]densenet[_bc]_l{L}_k{k}``; none has pretrained weights.
CIFAR_MODELS: dict[str, CifarModel] = {
    f"{family.lower().replace('-', '_')}_l{depth}_k{growth_rate}": CifarModel(family, depth, growth_rate)
    for family, depth, growth_rate in (
        ("DenseNet", 40, 12),
        ("DenseNet", 100, 12),
        ("DenseNet", 100, 24),
        ("DenseNet-BC", 100, 12),
        ("DenseNet-BC", 250, 24),
        ("DenseNet-BC", 190, 40),
        ("Wide-DenseNet-BC", 40, 36),
        ("Wide-DenseNet-BC", 40, 48),
        ("Wide-DenseNet-BC", 40, 60),
    )
}

#: The configs of :data:`CIFAR_MODELS` (CIFAR-10; ``replace(num_classes=100)`` for CIFAR-100).
CIFAR_CONFIGS: dict[str, DenseNetConfig] = {name: model.config for name, model in CIFAR_MODELS.items()}

#: Every architecture named in code: the ImageNet models, then the CIFAR ones (what ``zoo.create_model`` builds).
NAMED_CONFIGS: dict[str, DenseNetConfig] = {**MODEL_CONFIGS, **CIFAR_CONFIGS}


def lua_init_(module: nn.Module) -> None:
    """Initialise one layer in place as liuzhuang13/DenseNet's Lua code did; other modules are left alone.

    Conv: N(0, sqrt(2/(kW*kH*nOutputPlane))) (fan-out). BatchNorm: weight 1,
    bias 0, running statistics restarted (mean 0, variance 1) as in a new Lua
    model. Linear: weight U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which is what
    Torch7's nn.Linear:reset() draws, and bias 0.
    """
    if isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
    elif isinstance(module, nn.BatchNorm2d):
        module.reset_running_stats()
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear):
        bound = 1.0 / math.sqrt(module.in_features)
        nn.init.uniform_(module.weight, -bound, bound)
        nn.init.zeros_(module.bias)


class DenseLayer(nn.Module):
    """The new features of one layer: BN-ReLU-Conv1x1(bn_size*k)-BN-ReLU-Conv3x3(k), or BN-ReLU-Conv3x3(k).

    With ``bottleneck=False`` the only convolution is the 3x3 one, named ``conv1`` (after ``norm1``,
    ``relu1``); ``bn_size`` is then not used. Dropout follows every convolution when ``drop_rate > 0``.
    """

    def __init__(
        self, in_channels: int, growth_rate: int, bn_size: int, drop_rate: float, bottleneck: bool = True
    ) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        if bottleneck:
            width = bn_size * growth_rate
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, stride=1, bias=False)
            self.norm2 = nn.BatchNorm2d(width)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(width, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        self.bottleneck = bottleneck
        self.growth_rate = growth_rate
        self.drop_rate = float(drop_rate)

    def forward(self, features: Tensor) -> Tensor:
        hidden = self.conv1(self.relu1(self.norm1(features)))
        if self.drop_rate > 0:
            hidden = F.dropout(hidden, p=self.drop_rate, training=self.training)
        if not self.bottleneck:
            return hidden
        new_features = self.conv2(self.relu2(self.norm2(hidden)))
        if self.drop_rate > 0:
            new_features = F.dropout(new_features, p=self.drop_rate, training=self.training)
        return new_features


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers, each fed the concatenation of all earlier outputs."""

    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth_rate: int,
        bn_size: int,
        drop_rate: float,
        bottleneck: bool = True,
    ) -> None:
        super().__init__()
        self.memory_efficient: str | None = None
        for index in range(num_layers):
            layer = DenseLayer(in_channels + index * growth_rate, growth_rate, bn_size, drop_rate, bottleneck)
            self.add_module(f"denselayer{index + 1}", layer)

    def forward(self, features: Tensor) -> Tensor:
        if self.memory_efficient:
            return _memory_efficient.dense_block_forward(self, features, self.memory_efficient)
        for layer in self.values():
            features = torch.cat([features, layer(features)], 1)
        return features


class Transition(nn.Sequential):
    """BN-ReLU-Conv1x1-(Dropout)-AvgPool2x2 between two dense blocks."""

    def __init__(self, in_channels: int, out_channels: int, drop_rate: float) -> None:
        super().__init__()
        self.memory_efficient: str | None = None
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, bias=False)
        if drop_rate > 0:
            self.drop = nn.Dropout(drop_rate)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, features: Tensor) -> Tensor:
        if self.memory_efficient:
            return _memory_efficient.transition_forward(self, features)
        return super().forward(features)


class Features(nn.Sequential):
    """The stem, the dense blocks, the transitions and ``norm5``, run in order.

    In memory-efficient mode the ImageNet stem (conv-BN-ReLU-MaxPool) runs as
    one unit recomputed in backward; otherwise this is a plain ``nn.Sequential``.
    """

    def __init__(self, modules: OrderedDict[str, nn.Module]) -> None:
        super().__init__(modules)
        self.memory_efficient: str | None = None

    def forward(self, images: Tensor) -> Tensor:
        modules = list(self._modules.items())
        features = images
        index = 0
        if self.memory_efficient and [name for name, _ in modules[:4]] == ["conv0", "norm0", "relu0", "pool0"]:
            features = _memory_efficient.stem_forward(features, modules[0][1], modules[1][1], modules[3][1])
            index = 4
        for _, module in modules[index:]:
            features = module(features)
        return features


class DenseNet(nn.Module):
    """A DenseNet (BC or original) built from a :class:`DenseNetConfig`.

    ``memory_efficient``: False (plain autograd), or a mode of
    :mod:`zoo.models.memory_efficient`: "norm" (shared feature buffers,
    BatchNorm/ReLU recomputed in backward), "full" (also recomputes the 1x1
    bottleneck convolutions: least memory, more compute) or True/"balanced"
    ("full" in the first dense block, "norm" in the others).
    It changes only how ``forward`` runs; parameters, buffers and state-dict
    keys are identical, and it can be switched later with
    :meth:`set_memory_efficient`.

    ``init_weights=False`` skips the random Lua initialisation for a network whose
    tensors are all replaced right away: parameters and buffers are built on the
    ``meta`` device (shapes only, no memory) and must then be given with
    ``load_state_dict(state_dict, strict=True, assign=True)``. A tensor left out
    stays on ``meta`` and fails loudly when used, so no uninitialised values can
    reach a computation.
    """

    def __init__(
        self, config: DenseNetConfig | None = None, memory_efficient: bool | str = False, init_weights: bool = True
    ) -> None:
        super().__init__()
        if not init_weights:
            with torch.device("meta"):
                self._build(config)
        else:
            self._build(config)
            self.reset_parameters()
        self.memory_efficient: str | None = None
        self.set_memory_efficient(memory_efficient)

    def _build(self, config: DenseNetConfig | None) -> None:
        """The modules of ``config`` (torchvision names), as PyTorch initialises them."""
        self.config = config if config is not None else DenseNetConfig()
        cfg = self.config
        if cfg.stem == "imagenet":
            stem = [
                ("conv0", nn.Conv2d(3, cfg.num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
                ("norm0", nn.BatchNorm2d(cfg.num_init_features)),
                ("relu0", nn.ReLU(inplace=True)),
                ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            ]
        else:
            stem = [("conv0", nn.Conv2d(3, cfg.num_init_features, kernel_size=3, stride=1, padding=1, bias=False))]
        self.features = Features(OrderedDict(stem))
        widths = cfg.block_widths()
        for index, num_layers in enumerate(cfg.block_config):
            in_channels, out_channels = widths[index]
            block = DenseBlock(num_layers, in_channels, cfg.growth_rate, cfg.bn_size, cfg.drop_rate, cfg.bottleneck)
            self.features.add_module(f"denseblock{index + 1}", block)
            if index != len(cfg.block_config) - 1:
                transition = Transition(out_channels, widths[index + 1][0], cfg.drop_rate)
                self.features.add_module(f"transition{index + 1}", transition)
        self.features.add_module("norm5", nn.BatchNorm2d(cfg.num_features))
        self.classifier = nn.Linear(cfg.num_features, cfg.num_classes)

    def set_memory_efficient(self, memory_efficient: bool | str) -> DenseNet:
        """Switch the training-memory mode (False, True/"balanced", "norm", "full"); returns ``self``."""
        mode = _memory_efficient.resolve_mode(memory_efficient)
        self.memory_efficient = mode
        blocks = [module for module in self.modules() if isinstance(module, DenseBlock)]
        for index, block in enumerate(blocks):
            if mode == "balanced":
                block.memory_efficient = "full" if index == 0 else "norm"
            else:
                block.memory_efficient = mode
        for module in self.modules():
            if isinstance(module, (Transition, Features)):
                module.memory_efficient = mode
        return self

    def reset_parameters(self) -> None:
        """The Lua initialisation of every layer (see :func:`lua_init_`)."""
        for module in self.modules():
            lua_init_(module)

    def forward_features(self, images: Tensor) -> Tensor:
        """The final feature map after ``norm5`` and ReLU."""
        return F.relu(self.features(images), inplace=True)

    def forward(self, images: Tensor) -> Tensor:
        pooled = F.adaptive_avg_pool2d(self.forward_features(images), (1, 1))
        return self.classifier(torch.flatten(pooled, 1))
