"""Map the translated modules of a DenseNet's layers onto ``zoo.DenseNet``'s torchvision-named tensors.

:class:`LayerMapper` is used by :func:`converters.densenet.plan_conversion`
while it recognises the DenseNet pattern in the general translation
(:func:`converters.translate.translate`): each method takes a translated module
(a :class:`Node`: the PyTorch module, its Lua path and class), checks that it
computes what ``zoo.DenseNet`` computes at that place (geometry, a plain ReLU,
v2 dropout, averaging pooling), renames its lazy tensor sources to torchvision
keys (folding convolution biases into the next BatchNorm's mean, absorbing a
BatchNorm ``eps`` other than PyTorch's into ``running_var``) and collects the facts
the architecture is inferred from. No Lua field is read here: the translators did.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np
import torch

from converters import lua_nn
from converters.errors import ConversionError
from converters.plan import ConversionReport, TensorEntry
from converters.translate import TensorSource, Translation
from converters.views import first_shared, view_span

__all__ = ["PYTORCH_BN_EPS", "WITHOUT_BOTTLENECK", "WITH_BOTTLENECK", "LayerMapper", "Node", "dense_layer"]

PYTORCH_BN_EPS = 1e-5
#: The two kinds of dense layer, as :attr:`LayerMapper.layer_kinds` records them.
WITH_BOTTLENECK = "with a bottleneck (BN-ReLU-Conv1x1-BN-ReLU-Conv3x3)"
WITHOUT_BOTTLENECK = "without bottleneck (BN-ReLU-Conv3x3)"

#: Class namespaces the original code (and its CPU/GPU conversions) produce.
NAMESPACES = ("nn", "cudnn", "cunn")

#: Lua class name (without namespace) -> the role the DenseNet pattern gives it.
KINDS = {
    "SpatialConvolution": "conv",
    "SpatialConvolutionMM": "conv",
    "SpatialBatchNormalization": "bn",
    "ReLU": "relu",
    "SpatialMaxPooling": "maxpool",
    "SpatialAveragePooling": "avgpool",
    "Dropout": "dropout",
    "Linear": "linear",
    "Reshape": "reshape",
    "View": "reshape",
    "JoinTable": "join",
    "Concat": "concat",
    "Sequential": "sequential",
    "Identity": "identity",
    "DenseConnectLayerCustom": "custom",
}

#: What an error message says was expected, per role.
EXPECTED = {
    "conv": "a SpatialConvolution (nn./cudnn.)",
    "bn": "a SpatialBatchNormalization (nn./cudnn.)",
    "relu": "a ReLU (nn./cudnn.)",
    "maxpool": "a SpatialMaxPooling",
    "avgpool": "a SpatialAveragePooling",
    "linear": "an nn.Linear",
    "reshape": "an nn.Reshape or nn.View",
    "join": "an nn.JoinTable(2)",
}


@dataclass(frozen=True)
class Node:
    """A module of the translated tree: its PyTorch name (``"4.0"``), the module, its Lua path and Lua class."""

    name: str
    module: torch.nn.Module
    path: str
    lua_class: str

    @classmethod
    def root(cls, translation: Translation) -> Node:
        return cls.named(translation, "", translation.module)

    @classmethod
    def named(cls, translation: Translation, name: str, module: torch.nn.Module) -> Node:
        report = translation.report
        return cls(name, module, report.lua_paths[name], report.lua_classes[name])

    @property
    def kind(self) -> str | None:
        """The role of an ``nn.``/``cudnn.``/``cunn.`` module (``"conv"``, ``"bn"``, ...), None for anything else."""
        namespace, _, name = self.lua_class.partition(".")
        return KINDS.get(name) if namespace in NAMESPACES else None

    def key(self, tensor: str) -> str:
        """The state-dict name of this module's ``tensor`` in the translation."""
        return f"{self.name}.{tensor}" if self.name else tensor


class LayerMapper:
    """Maps the translated layers :func:`~converters.densenet.plan_conversion` hands it to torchvision entries;
    collects config facts."""

    def __init__(self, translation: Translation) -> None:
        self.translation = translation
        self.entries: list[TensorEntry] = []
        self.report = ConversionReport()
        self.tensor_types: collections.Counter[str] = collections.Counter()
        self.drop_rates: list[tuple[float, str]] = []
        self.bn_formats: set[str] = set()
        self.growth_rates: list[tuple[int, str]] = []
        self.bottleneck_widths: list[tuple[int, str]] = []
        self.layer_kinds: list[tuple[str, str]] = []  # each dense layer: with or without bottleneck
        self.layouts: set[str] = set()
        self.views: list[tuple[object, int, int, str]] = []  # storage elements each tensor used reaches
        #: PyTorch name -> its children's names in Lua order (a Lua module held twice is listed at both places)
        self.child_names: dict[str, list[str]] = collections.defaultdict(list)
        for name in translation.report.lua_paths:
            if name:
                self.child_names[name.rpartition(".")[0]].append(name)

    # - the tree -
    def children(self, node: Node) -> list[Node]:
        """The translated children of a container, in Lua order."""
        root = self.translation.module
        return [Node.named(self.translation, name, root.get_submodule(name)) for name in self.child_names[node.name]]

    def expect(self, nodes: list[Node], index: int, kind: str, parent_path: str) -> Node:
        if index >= len(nodes):
            raise ConversionError(
                f"expected {EXPECTED.get(kind, kind)} at position {index + 1}, found the end of the container",
                parent_path,
            )
        node = nodes[index]
        if node.kind != kind:
            raise ConversionError(f"expected {EXPECTED.get(kind, kind)}, found {node.lua_class}", node.path)
        return node

    # - tensors -
    def source(self, node: Node, name: str) -> TensorSource | None:
        """The translation's source of the module's tensor ``name`` (None when the module has none), remembered
        with the storage elements it reads for :meth:`check_disjoint`."""
        source = self.translation.sources.get(node.key(name))
        lua_tensor = source.lua_tensor if source is not None else None
        if lua_tensor is not None and lua_tensor.numel() > 0:
            start = lua_tensor.storage_offset
            end = start + view_span(lua_tensor.size, lua_tensor.stride)
            self.views.append((lua_tensor.storage, start, end, f"field '{name}' of {node.path}"))
        return source

    def record_type(self, source: TensorSource) -> None:
        if source.lua_tensor is not None:
            self.tensor_types[source.lua_tensor.typename] += 1

    def check_disjoint(self) -> None:
        """Refuse tensors that read the same storage elements: each weight must be backed by its own.

        Torch7 checkpoints keep every parameter in its own part of the flat
        parameter storage; a file that points many tensors at one storage would
        make the output far larger than the file.
        """
        shared = first_shared(self.views)
        if shared is not None:
            raise ConversionError(
                f"expected every weight and statistic to have storage elements of its own, found {shared[1]} "
                f"reading the same elements as {shared[0]}; the file is corrupt or crafted, re-save it from Lua"
            )

    # - layers -
    def conv(
        self,
        node: Node,
        key: str,
        in_channels: int,
        kernel: int | None,
        stride: int,
        padding: int,
        out_channels: int | None = None,
    ) -> tuple[int, int, np.ndarray | None]:
        """Emit ``key.weight``; return (out channels, kernel size, nonzero bias or None)."""
        conv, path = node.module, node.path
        assert isinstance(conv, torch.nn.Conv2d), conv  # what the translators make of a SpatialConvolution
        if conv.groups != 1 or tuple(conv.dilation) != (1, 1):
            raise ConversionError(
                f"expected an ungrouped, undilated convolution, found groups={conv.groups} dilation={conv.dilation}",
                path,
            )
        n_in, n_out, (k_h, k_w) = conv.in_channels, conv.out_channels, conv.kernel_size
        if n_in != in_channels:
            raise ConversionError(
                f"expected a convolution with {in_channels} input channels, found nInputPlane={n_in}", path
            )
        if out_channels is not None and n_out != out_channels:
            raise ConversionError(
                f"expected a convolution with {out_channels} output channels, found nOutputPlane={n_out}", path
            )
        if k_w != k_h or (kernel is not None and k_w != kernel):
            raise ConversionError(f"expected a {kernel}x{kernel} convolution, found {k_w}x{k_h} (kW x kH)", path)
        if tuple(conv.stride) + tuple(conv.padding) != (stride, stride, padding, padding):
            (d_h, d_w), (p_h, p_w) = conv.stride, conv.padding
            raise ConversionError(
                f"expected stride {stride} and padding {padding}, found dW={d_w} dH={d_h} padW={p_w} padH={p_h}", path
            )
        weight = self.source(node, "weight")
        self.record_type(weight)
        shape = (n_out, n_in, k_h, k_w)
        self.entries.append(TensorEntry(f"{key}.weight", shape, "float32", weight.read))
        bias = self.source(node, "bias")
        nonzero_bias = None
        if bias is not None:
            values = _finite_values(bias, "convolution bias (it is folded into a BatchNorm mean)", path)
            if np.any(values != 0):
                nonzero_bias = values.copy()
                self.report.conv_biases_folded += 1
            else:
                self.report.conv_biases_dropped += 1
        return n_out, k_w, nonzero_bias

    def batchnorm(self, node: Node, key: str, channels: int, shift: np.ndarray | None) -> None:
        """Emit ``key.{weight,bias,running_mean,running_var,num_batches_tracked}``.

        ``shift`` holds folded conv biases per input channel (subtracted from the mean).
        """
        norm, path = node.module, node.path
        assert isinstance(norm, lua_nn.BatchNormalization), norm
        if norm.eps < 0:
            raise ConversionError(f"expected a BatchNorm eps >= 0, found {norm.eps:g}", path)
        if norm.num_features != channels:
            raise ConversionError(
                f"expected BatchNorm statistics for {channels} channels, found running_mean of size "
                f"({norm.num_features},)",
                path,
            )
        mean, variance = self.source(node, "running_mean"), self.source(node, "running_var")
        legacy = _lua_field(variance, path) == "running_std"
        self.bn_formats.add("running_std" if legacy else "running_var")
        self._batchnorm_affine(node, key, channels, mean)
        running_mean, running_var = _statistics(mean, variance, legacy, norm.eps, shift, path)
        if norm.eps != PYTORCH_BN_EPS:
            self.report.notes.append(
                f"{path}: BatchNorm eps={norm.eps:g} absorbed into running_var (PyTorch uses 1e-5)"
            )
        self.entries.append(TensorEntry(f"{key}.running_mean", (channels,), "float32", lambda: running_mean))
        self.entries.append(TensorEntry(f"{key}.running_var", (channels,), "float32", lambda: running_var))
        self.entries.append(TensorEntry(f"{key}.num_batches_tracked", (), "int64", lambda: np.zeros((), np.int64)))

    def _batchnorm_affine(self, node: Node, key: str, channels: int, mean: TensorSource) -> None:
        """Emit ``key.weight`` and ``key.bias``: the module's, or 1 and 0 for a BatchNorm without affine parameters."""
        if not node.module.affine:
            self.report.notes.append(f"{node.path}: BatchNorm without affine parameters; stored weight=1, bias=0")
            self.entries.append(
                TensorEntry(f"{key}.weight", (channels,), "float32", lambda: np.ones(channels, np.float32))
            )
            self.entries.append(
                TensorEntry(f"{key}.bias", (channels,), "float32", lambda: np.zeros(channels, np.float32))
            )
            self.record_type(mean)
            return
        weight, bias = self.source(node, "weight"), self.source(node, "bias")
        self.record_type(weight)
        self.entries.append(TensorEntry(f"{key}.weight", (channels,), "float32", weight.read))
        self.entries.append(TensorEntry(f"{key}.bias", (channels,), "float32", bias.read))

    def linear(self, node: Node, channels: int) -> int:
        """``classifier.weight`` and ``classifier.bias`` from the final nn.Linear; returns the number of classes."""
        linear = node.module
        assert isinstance(linear, torch.nn.Linear), linear
        if linear.in_features != channels:
            raise ConversionError(
                f"expected nn.Linear({channels} -> classes), found weight of size "
                f"{(linear.out_features, linear.in_features)}",
                node.path,
            )
        num_classes = linear.out_features
        weight = self.source(node, "weight")
        self.record_type(weight)
        self.entries.append(TensorEntry("classifier.weight", (num_classes, channels), "float32", weight.read))
        bias = self.source(node, "bias")
        if bias is not None:
            read_bias = bias.read
        else:
            self.report.notes.append(f"{node.path}: nn.Linear without bias; stored zeros")
            read_bias = lambda: np.zeros(num_classes, np.float32)  # noqa: E731
        self.entries.append(TensorEntry("classifier.bias", (num_classes,), "float32", read_bias))
        return num_classes

    def relu(self, node: Node) -> None:
        if not isinstance(node.module, torch.nn.ReLU):
            threshold, value = node.module.threshold, node.module.value
            raise ConversionError(f"expected a plain ReLU, found threshold={threshold:g} val={value:g}", node.path)

    def dropout(self, node: Node) -> None:
        dropout = node.module
        assert isinstance(dropout, lua_nn.Dropout), dropout
        if not dropout.v2 and dropout.p > 0:
            raise ConversionError(
                "found an old nn.Dropout (v2 false or absent: it scales outputs by 1 - p at test time, which "
                "zoo.DenseNet cannot); expected v2 dropout",
                node.path,
            )
        self.drop_rates.append((dropout.p, node.path))
        self.report.dropout_modules += 1

    def pool(self, node: Node, kernel: int | None, stride: int | None, padding: int) -> int:
        pool, path = node.module, node.path
        k_w, k_h, d_w, d_h, p_w, p_h = pool.kW, pool.kH, pool.dW, pool.dH, pool.padW, pool.padH
        expected_kernel = kernel if kernel is not None else k_w
        expected_stride = stride if stride is not None else expected_kernel
        expected = (expected_kernel, expected_kernel, expected_stride, expected_stride, padding, padding)
        if (k_w, k_h, d_w, d_h, p_w, p_h) != expected:
            raise ConversionError(
                f"expected {expected_kernel}x{expected_kernel} pooling, stride {expected_stride}, padding {padding}; "
                f"found kW={k_w} kH={k_h} dW={d_w} dH={d_h} padW={p_w} padH={p_h}",
                path,
            )
        if pool.ceil_mode:
            raise ConversionError("expected ceil_mode=false pooling, found a pooling in ceil mode (ceil_mode)", path)
        if not getattr(pool, "divide", True):
            raise ConversionError(
                "expected an averaging nn.SpatialAveragePooling (divide=true); without 'divide' nn sums", path
            )
        return k_w

    def skip_dropout(self, nodes: list[Node], index: int) -> int:
        if index < len(nodes) and nodes[index].kind == "dropout":
            self.dropout(nodes[index])
            return index + 1
        return index


def _lua_field(source: TensorSource, path: str) -> str:
    """The Lua field a source reads (``running_std`` in ``model.modules[2].running_std (running_std^-2 - eps)``)."""
    return source.lua_path.removeprefix(f"{path}.").partition(" ")[0]


def _finite_values(source: TensorSource, what: str, path: str) -> np.ndarray:
    """The values of a small tensor (statistics, biases) as float64; NaN or infinite values are refused."""
    values = np.asarray(source.read(), dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ConversionError(
            f"expected finite values in the {what}, found {values[bad]} at index {bad + 1} (1-based); "
            "the checkpoint is corrupt (a diverged training run or a damaged file)",
            path,
        )
    return values


def _statistics(
    mean: TensorSource,
    variance: TensorSource,
    legacy: bool,
    eps: float,
    shift: np.ndarray | None,
    path: str,
) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's float32 ``running_mean`` and ``running_var`` (eps 1e-5) of a translated Lua BatchNorm, checked to be
    finite.

    ``legacy``: ``variance`` is converted from old nn's ``running_std`` (as nn reads it: ``std^-2 - eps``).
    ``shift`` holds folded conv biases per channel (subtracted from the mean). Read while planning: statistics
    are small, and a NaN or infinite statistic must be refused before anything is written.
    """
    values = _finite_values(mean, "BatchNorm running_mean", path)
    if legacy:  # std^-2 - eps: infinite for a running_std of 0, refused below
        source = np.asarray(variance.read(), dtype=np.float64).reshape(-1)
    else:
        source = _finite_values(variance, "BatchNorm running_var", path)
    if not legacy and np.any(source < 0):
        bad = int(np.flatnonzero(source < 0)[0])
        raise ConversionError(
            f"expected BatchNorm variances >= 0, found {source[bad]} at index {bad + 1} (1-based)", path
        )
    if legacy and not np.all(source + eps > 0):  # an infinite or NaN running_std: Lua would divide by 0 or NaN
        bad = int(np.flatnonzero(~(source + eps > 0))[0])
        raise ConversionError(
            f"expected a finite, positive BatchNorm running_std, found one giving variance {source[bad]} at index"
            f" {bad + 1} (1-based)",
            path,
        )
    with np.errstate(over="ignore", invalid="ignore"):
        running_mean = (values if shift is None else values - shift).astype(np.float32)
        if legacy or eps != PYTORCH_BN_EPS:
            running_var = (source + eps - PYTORCH_BN_EPS).astype(np.float32)
        else:
            running_var = np.asarray(variance.read(), dtype=np.float32).reshape(-1)
    for name, converted in (("running_mean", running_mean), ("running_var", running_var)):
        if not np.all(np.isfinite(converted)):
            raise ConversionError(
                f"expected a BatchNorm {name} that is finite in float32, found values out of range "
                "(a running_std of 0, or statistics beyond 3.4e38)",
                path,
            )
    return running_mean, running_var


def dense_layer_parts(mapper: LayerMapper, node: Node) -> tuple[list[Node], list[Node], str]:
    """A dense layer's BN-ReLU (``net1``'s modules), the rest (``net2``'s), and its layout.

    The standard layer is ``nn.Sequential{nn.Concat(2){nn.Identity, net}}`` (or the bare Concat), net's first two
    modules BN-ReLU; the memory-efficient ``nn.DenseConnectLayerCustom`` holds them as ``net1`` and ``net2``.
    """
    if node.kind == "custom":
        net1, net2 = mapper.children(node)
        return mapper.children(net1), mapper.children(net2), "custom"
    concat = node
    if node.kind == "sequential":
        children = mapper.children(node)
        if len(children) != 1 or children[0].kind != "concat":
            raise ConversionError(
                "expected a dense layer nn.Sequential{nn.Concat(2){nn.Identity, nn.Sequential{...}}}", node.path
            )
        concat = children[0]
    if concat.module.dimension != 2:
        raise ConversionError(
            f"expected nn.Concat(2) (channel dimension), found dimension={concat.module.dimension}", concat.path
        )
    branches = mapper.children(concat)
    if len(branches) != 2 or branches[0].kind != "identity" or branches[1].kind != "sequential":
        found = ", ".join(branch.lua_class for branch in branches)
        raise ConversionError(f"expected nn.Concat(2){{nn.Identity, nn.Sequential}}, found {{{found}}}", concat.path)
    net = mapper.children(branches[1])
    return net[:2], net[2:], "standard"


def dense_layer(
    mapper: LayerMapper, node: Node, key: str, channels: int, shift: np.ndarray | None
) -> tuple[int, np.ndarray | None, str]:
    """Map one dense layer; return (new features, their folded bias or None, layout).

    With a bottleneck (DenseNet-B/BC) the layer is BN-ReLU-Conv1x1-[Dropout]-BN-ReLU-Conv3x3-[Dropout]
    (``norm1``/``conv1``/``norm2``/``conv2``); without (Lua's ``-bottleneck false``) BN-ReLU-Conv3x3-[Dropout]
    (``norm1``/``conv1``). A custom-layout layer has no dropout in Lua.
    """
    first, second, layout = dense_layer_parts(mapper, node)
    mapper.batchnorm(mapper.expect(first, 0, "bn", node.path), f"{key}.norm1", channels, shift)
    mapper.relu(mapper.expect(first, 1, "relu", node.path))
    if len(first) != 2:
        raise ConversionError(
            f"expected BN, ReLU before the bottleneck, found {len(first)} modules",
            first[2].path if len(first) > 2 else node.path,
        )
    if not second or second[0].kind != "conv":
        raise ConversionError(
            "expected the bottleneck Conv1x1 or the Conv3x3 after BN-ReLU, found "
            f"{second[0].lua_class if second else 'nothing'}",
            second[0].path if second else node.path,
        )
    if second[0].module.kernel_size[1] == 3:
        growth, bias, index = _plain_convolution(mapper, second, key, channels)
    else:
        growth, bias, index = _bottleneck_convolutions(mapper, second, node.path, key, channels)
    if index != len(second):
        raise ConversionError(
            f"expected the dense layer to end after Conv3x3 [Dropout], found {second[index].lua_class}",
            second[index].path,
        )
    return growth, bias, layout


def _plain_convolution(
    mapper: LayerMapper, nodes: list[Node], key: str, channels: int
) -> tuple[int, np.ndarray | None, int]:
    """A layer without bottleneck after its BN-ReLU: Conv3x3 as ``key.conv1``, [Dropout].

    Returns (growth, folded bias or None, index past the modules read).
    """
    growth, _, bias = mapper.conv(nodes[0], f"{key}.conv1", channels, 3, 1, 1)
    mapper.layer_kinds.append((WITHOUT_BOTTLENECK, nodes[0].path))
    mapper.growth_rates.append((growth, nodes[0].path))
    return growth, bias, mapper.skip_dropout(nodes, 1)


def _bottleneck_convolutions(
    mapper: LayerMapper, nodes: list[Node], path: str, key: str, channels: int
) -> tuple[int, np.ndarray | None, int]:
    """A bottleneck layer after its first BN-ReLU: Conv1x1 [Dropout] BN ReLU Conv3x3 [Dropout].

    Returns (growth, folded bias of the Conv3x3 or None, index past the modules read).
    """
    conv1 = nodes[0]
    width, _, bias1 = mapper.conv(conv1, f"{key}.conv1", channels, 1, 1, 0)
    index = mapper.skip_dropout(nodes, 1)
    mapper.batchnorm(mapper.expect(nodes, index, "bn", path), f"{key}.norm2", width, bias1)
    mapper.relu(mapper.expect(nodes, index + 1, "relu", path))
    conv2 = mapper.expect(nodes, index + 2, "conv", path)
    growth, _, bias2 = mapper.conv(conv2, f"{key}.conv2", width, 3, 1, 1)
    mapper.layer_kinds.append((WITH_BOTTLENECK, conv1.path))
    mapper.growth_rates.append((growth, conv2.path))
    mapper.bottleneck_widths.append((width, conv1.path))
    return growth, bias2, mapper.skip_dropout(nodes, index + 3)
