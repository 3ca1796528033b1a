"""Recognise a Lua Torch7 DenseNet in the general translation and map it onto ``zoo.DenseNet``.

:func:`plan_conversion` translates the module tree of a checkpoint saved by
liuzhuang13/DenseNet (fb.resnet.torch's ``checkpoints.save``) with the general
translator (:func:`converters.translate.translate`, which reads and checks every
Lua field and records a lazy source per tensor), recognises the DenseNet pattern
on the translated modules (stem, dense blocks, transitions, head), infers the
architecture from them and returns a :class:`ConversionPlan`: the
``DenseNetConfig``, a report, and an ordered list of torchvision-named tensors,
the translation's sources renamed, read from the file only when asked for (so
converters can stream them). :func:`convert` materialises the plan into a state
dict. :mod:`converters.densenet_layers` maps each translated layer.

Accepted trees
--------------
Both stems (ImageNet: 7x7/2 conv, BN, ReLU, 3x3/2 max pooling; CIFAR: one 3x3
conv) and both kinds of dense layer: with a bottleneck (DenseNet-B/BC) or without
(the original DenseNet, Lua's ``-bottleneck false``: BN, ReLU, Conv3x3); any
compression (``-reduction``), dropout, any number of classes.

* The standard layout (``-optMemory`` <= 2): every dense layer is
  ``nn.Sequential{nn.Concat(2){nn.Identity, nn.Sequential{BN, ReLU, Conv1x1,
  [Dropout], BN, ReLU, Conv3x3, [Dropout]}}}`` (without bottleneck
  ``{BN, ReLU, Conv3x3, [Dropout]}``; a bare ``nn.Concat`` is accepted too);
  transitions are flat in the top-level ``nn.Sequential``.
* The memory-efficient layout (``-optMemory 3/4``): ``nn.DenseConnectLayerCustom``
  layers whose ``net1`` = {BN, ReLU} runs once on the concatenated input and
  ``net2`` = {Conv1x1, BN, ReLU, Conv3x3} (without bottleneck {Conv3x3}); an
  ``nn.JoinTable(2)`` closes each block. With every BatchNorm in evaluation
  mode this computes exactly what the standard layer does (a plain Lua
  ``evaluate()`` does not reach ``net1``/``net2``, whose BatchNorms then keep
  using batch statistics; the converted model is the evaluation-mode one).
  ``net1``/``net2`` are what its ``updateOutput`` runs, so their tensors are
  used (after ``deepCopy`` they are different Lua tables from ``modules[1]``
  and ``modules[2]`` that share every tensor). ``input_c`` (an activation
  buffer) and ``saved_bn_running_mean/var`` (training-time copies) are ignored.
* ``nn.``, ``cudnn.`` and ``cunn.`` class names; Float, Double, Cuda (any
  floating) tensor types; BatchNorm with ``running_var`` or, for files from
  before nn's BatchNormalization version 2, ``running_std`` (=
  ``1/sqrt(var + eps)``, converted as ``running_var = running_std^-2 - eps``);
  a BatchNorm ``eps`` other than 1e-5 is absorbed into ``running_var``;
  ``nn.Dropout`` (version-2 scaling only: old ``v2 = false`` dropout scales at
  test time, which ``zoo.DenseNet`` cannot express).
* Convolution biases. torchvision's keys have no conv bias, but every DenseNet
  convolution feeds only BatchNorms (through pooling and concatenation, which
  commute with a per-channel constant), so a bias ``b`` is folded exactly (for
  evaluation) into each downstream BatchNorm: ``running_mean -= b``. All-zero
  biases are simply dropped. Both are counted in the report. (In training mode
  BatchNorm subtracts the batch mean, which absorbs the bias anyway; only the
  interaction with dropout between a conv and its BatchNorm differs.)

Everything else raises :class:`ConversionError` naming the module path in Lua
notation (``model.modules[5].modules[1]``, 1-based like ``print(model)``).
Gradient payloads (``gradWeight``/``gradBias``) are never read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from converters import t7
from converters.densenet_layers import WITH_BOTTLENECK, LayerMapper, Node, dense_layer
from converters.errors import ConversionError
from converters.plan import Conversion, ConversionPlan, ConversionReport, TensorEntry
from converters.translate import translate
from zoo.models.densenet import DenseNetConfig

__all__ = [
    "Conversion",
    "ConversionPlan",
    "ConversionReport",
    "TensorEntry",
    "convert",
    "infer_compression",
    "plan_conversion",
]

CONVERTER_VERSION = "1"


def infer_compression(transitions: list[tuple[int, int, str]]) -> float:
    """The compression factor ``c`` with ``floor(in * c) == out`` for every transition ``(in, out, where)``.

    Lua's ``reduction`` (and ``DenseNetConfig.compression``) is not stored in a
    checkpoint, only recoverable from the transition widths: 0.5 (the published
    value) when it fits, else the shortest decimal that does; 0.5 when there are
    no transitions. ``where`` names each transition (a Lua path or a state-dict
    key) for the ConversionError raised when no single factor explains them all.
    """
    if not transitions:
        return 0.5
    low = max(out_channels / in_channels for in_channels, out_channels, _ in transitions)
    candidates = (
        [0.5]
        + [round(low, digits) for digits in range(1, 8)]
        + [math.ceil(low * 10**d) / 10**d for d in range(1, 8)]
        + [low]
    )
    for candidate in candidates:
        if 0 < candidate <= 1 and all(math.floor(i * candidate) == o for i, o, _ in transitions):
            return candidate
    widths = ", ".join(f"{i} -> {o}" for i, o, _ in transitions)
    raise ConversionError(
        f"transition widths are inconsistent with one compression factor (found {widths}); "
        "the checkpoint is not a DenseNet this converter can represent",
        transitions[-1][2],
    )


def _same_everywhere(observed: list[tuple[Any, str]], expectation: str) -> Any:
    """The value every ``(value, Lua path)`` in ``observed`` has; raises at the first that differs.

    ``expectation`` says what was expected, with ``{}`` for the first value.
    """
    expected = observed[0][0]
    for value, path in observed:
        if value != expected:
            raise ConversionError(f"expected {expectation.format(expected)}, found {value}", path)
    return expected


@dataclass
class _Walk:
    """Where :func:`plan_conversion` stands in the model's top-level module list, and what it has mapped so far."""

    mapper: LayerMapper
    modules: list[Node]
    path: str
    index: int = 0
    channels: int = 0
    #: conv biases per channel of the features so far, to fold into the next BatchNorm (None: all zero)
    shift: np.ndarray | None = None

    def expect(self, offset: int, kind: str) -> Node:
        """The module ``offset`` places after the current one, which must be of ``kind``."""
        return self.mapper.expect(self.modules, self.index + offset, kind, self.path)

    def at(self, offset: int) -> Node | None:
        """The module ``offset`` places after the current module; None past the end."""
        position = self.index + offset
        return self.modules[position] if position < len(self.modules) else None

    def kind_at(self, offset: int) -> str | None:
        """The kind of the module ``offset`` places after the current one (None past the end or unknown)."""
        found = self.at(offset)
        return found.kind if found is not None else None


def plan_conversion(root: Any) -> ConversionPlan:
    """Infer the architecture of a parsed checkpoint and list its output tensors.

    The tree is translated once by the general translator (:func:`converters.translate.translate`: every Lua
    field is read and checked there, no weight is read); the DenseNet pattern is then recognised on the
    translated modules and their lazy sources are renamed to torchvision keys. The small BatchNorm statistics
    and convolution biases are read, to check that they are finite; every tensor the plan lists is checked to
    be backed by storage elements of its own, so the plan's sizes are never more than the file holds.
    """
    translation = translate(root)
    model = Node.root(translation)
    if model.kind != "sequential":
        raise ConversionError(f"expected the model to be an nn.Sequential, found {model.lua_class}", model.path)
    mapper = LayerMapper(translation)
    walk = _Walk(mapper=mapper, modules=mapper.children(model), path=model.path)
    stem = _read_stem(walk)
    num_init_features = walk.channels
    blocks: list[int] = []
    transitions: list[tuple[int, int, str]] = []
    while True:  # dense blocks, each followed by BN-ReLU and a transition or the head
        blocks.append(_read_dense_block(walk, len(blocks) + 1))
        norm = walk.expect(0, "bn")
        mapper.relu(walk.expect(1, "relu"))
        if walk.kind_at(2) != "conv":
            break
        transitions.append(_read_transition(walk, len(blocks), norm))
    num_classes = _read_head(walk, norm, stem, len(blocks))
    mapper.check_disjoint()
    config = _infer_config(mapper, stem, num_init_features, blocks, transitions, num_classes, model.path)
    _complete_report(mapper, config)
    return ConversionPlan(config=config, report=mapper.report, entries=mapper.entries)


def _read_stem(walk: _Walk) -> str:
    """Stem: 7x7/2 conv, BN, ReLU, 3x3/2 max pool (ImageNet) or a single 3x3 conv (CIFAR); returns which."""
    mapper = walk.mapper
    stem_conv = walk.expect(0, "conv")
    kernel = stem_conv.module.kernel_size[1]
    if kernel == 7:
        walk.channels, _, stem_bias = mapper.conv(stem_conv, "features.conv0", 3, 7, 2, 3)
        mapper.batchnorm(walk.expect(1, "bn"), "features.norm0", walk.channels, stem_bias)
        mapper.relu(walk.expect(2, "relu"))
        mapper.pool(walk.expect(3, "maxpool"), 3, 2, 1)
        walk.shift, walk.index = None, 4
        return "imagenet"
    if kernel == 3:
        walk.channels, _, walk.shift = mapper.conv(stem_conv, "features.conv0", 3, 3, 1, 1)
        walk.index = 1
        return "cifar"
    raise ConversionError(
        f"expected the stem convolution to be 7x7 (ImageNet) or 3x3 (CIFAR), found {kernel}x{kernel}", stem_conv.path
    )


def _read_dense_block(walk: _Walk, block: int) -> int:
    """Dense block ``block``: its dense layers (and the JoinTable closing a custom-layout block); their number."""
    layers, layouts = 0, set()
    while walk.kind_at(0) in ("sequential", "concat", "custom"):
        layers += 1
        growth, bias, layout = dense_layer(
            walk.mapper,
            walk.modules[walk.index],
            f"features.denseblock{block}.denselayer{layers}",
            walk.channels,
            walk.shift,
        )
        layouts.add(layout)
        if bias is not None or walk.shift is not None:
            walk.shift = np.concatenate(
                [
                    walk.shift if walk.shift is not None else np.zeros(walk.channels),
                    bias if bias is not None else np.zeros(growth),
                ]
            )
        walk.channels += growth
        walk.index += 1
    if layers == 0:
        current = walk.at(0)
        found = current.lua_class if current is not None else "the end of the model"
        where = current.path if current is not None else walk.path
        raise ConversionError(
            f"expected dense block {block}: a dense layer (nn.Sequential{{nn.Concat}} or "
            f"nn.DenseConnectLayerCustom), found {found}",
            where,
        )
    if len(layouts) > 1:
        raise ConversionError(f"dense block {block} mixes standard and DenseConnectLayerCustom layers", walk.path)
    walk.mapper.layouts |= layouts
    if "custom" in layouts:
        join = walk.expect(0, "join").module
        if not (join.dimension == 2 or (join.dimension == 1 and join.n_input_dims == 3)):
            raise ConversionError(
                f"expected nn.JoinTable(2) (channel dimension), found dimension={join.dimension}",
                walk.modules[walk.index].path,
            )
        walk.index += 1
    return layers


def _read_transition(walk: _Walk, block: int, norm: Node) -> tuple[int, int, str]:
    """Transition ``block`` (its BN-ReLU ``norm`` already found): conv 1x1, [dropout], 2x2 average pooling.

    Returns ``(in channels, out channels, Lua path of the conv)`` for :func:`infer_compression`.
    """
    mapper, key = walk.mapper, f"features.transition{block}"
    mapper.batchnorm(norm, f"{key}.norm", walk.channels, walk.shift)
    conv = walk.modules[walk.index + 2]
    out_channels, _, walk.shift = mapper.conv(conv, f"{key}.conv", walk.channels, 1, 1, 0)
    transition = (walk.channels, out_channels, conv.path)
    walk.index = mapper.skip_dropout(walk.modules, walk.index + 3)
    mapper.pool(walk.expect(0, "avgpool"), 2, 2, 0)
    walk.channels, walk.index = out_channels, walk.index + 1
    return transition


def _read_head(walk: _Walk, norm: Node, stem: str, num_blocks: int) -> int:
    """Head: BN-ReLU (``norm``, found after the last block), final average pooling, reshape, classifier.

    Returns the number of classes.
    """
    mapper, report, channels = walk.mapper, walk.mapper.report, walk.channels
    pool = walk.at(2)
    if pool is None or pool.kind != "avgpool":
        found = pool.lua_class if pool is not None else "the end of the model"
        raise ConversionError(
            f"expected a transition Conv1x1 or the final SpatialAveragePooling after BN-ReLU, found {found}",
            pool.path if pool is not None else walk.path,
        )
    mapper.batchnorm(norm, "features.norm5", channels, walk.shift)
    report.final_pool_size = mapper.pool(pool, None, None, 0)
    canonical = (56 if stem == "imagenet" else 32) >> (num_blocks - 1)
    if report.final_pool_size != canonical:
        report.notes.append(
            f"{pool.path}: the Lua model ends with "
            f"{report.final_pool_size}x{report.final_pool_size} average "
            f"pooling, zoo.DenseNet pools globally; they agree when the final feature map is that size"
        )
    reshape = walk.expect(3, "reshape")
    reshape_numel = math.prod(reshape.module.size)
    if reshape_numel != channels:
        raise ConversionError(f"expected a reshape to {channels} features, found {reshape_numel}", reshape.path)
    num_classes = mapper.linear(walk.expect(4, "linear"), channels)
    after = walk.at(5)
    if after is not None:
        raise ConversionError(f"expected the model to end with nn.Linear, found {after.lua_class} after it", after.path)
    return num_classes


def _infer_config(
    mapper: LayerMapper,
    stem: str,
    num_init_features: int,
    blocks: list[int],
    transitions: list[tuple[int, int, str]],
    num_classes: int,
    path: str,
) -> DenseNetConfig:
    """The DenseNetConfig the layers read describe, once growth rate, bottleneck (its presence and width) and
    dropout agree everywhere."""
    growth_rate = _same_everywhere(mapper.growth_rates, "every dense layer to add {} channels (the growth rate)")
    bottleneck = _same_everywhere(mapper.layer_kinds, "every dense layer {}, like the first") == WITH_BOTTLENECK
    bn_size = _bottleneck_size(mapper, growth_rate) if bottleneck else DenseNetConfig.bn_size
    drop_rate = _same_everywhere(mapper.drop_rates, "one dropout rate ({}) everywhere") if mapper.drop_rates else 0.0
    try:
        return DenseNetConfig(
            growth_rate=growth_rate,
            block_config=tuple(blocks),
            num_init_features=num_init_features,
            bn_size=bn_size,
            compression=infer_compression(transitions),
            drop_rate=drop_rate,
            num_classes=num_classes,
            stem=stem,
            bottleneck=bottleneck,
        )
    except ValueError as error:
        raise ConversionError(f"the inferred architecture is not a valid DenseNetConfig: {error}", path) from error


def _bottleneck_size(mapper: LayerMapper, growth_rate: int) -> int:
    """``bn_size``: the bottleneck width (the same in every layer) over the growth rate, which must divide it."""
    width = _same_everywhere(mapper.bottleneck_widths, "every bottleneck to have {} channels")
    if width % growth_rate:
        raise ConversionError(
            f"expected a bottleneck width that is a multiple of the growth rate {growth_rate}, found {width}",
            mapper.bottleneck_widths[0][1],
        )
    return width // growth_rate


def _complete_report(mapper: LayerMapper, config: DenseNetConfig) -> None:
    """The report's summary of the whole tree: layout, tensor types, BatchNorm format, module counts, notes."""
    report, translated = mapper.report, mapper.translation.report
    report.layout = "custom" if "custom" in mapper.layouts else "standard"
    report.tensor_types = dict(mapper.tensor_types)
    report.batchnorm_format = "+".join(sorted(mapper.bn_formats))
    report.module_counts, report.ignored_fields = dict(translated.module_counts), dict(translated.ignored_fields)
    if config.drop_rate > 0 and report.layout == "custom":
        report.notes.append(
            "DenseConnectLayerCustom layers have no dropout in Lua; zoo.DenseNet applies drop_rate in dense "
            "layers when training"
        )


def convert(path_or_parsed: Any, progress: Callable[[int, int], None] | None = None) -> Conversion:
    """Convert a Lua DenseNet checkpoint (a ``.t7`` path or a parsed ``T7Object``) into a state dict.

    Raises ``converters.t7.T7FormatError`` for a malformed file and
    :class:`ConversionError` for a module tree that is not a convertible DenseNet.
    """
    plan = plan_conversion(t7.ensure_loaded(path_or_parsed))
    return Conversion(state_dict=plan.materialize(progress), config=plan.config, report=plan.report)
