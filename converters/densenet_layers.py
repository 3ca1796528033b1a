"""Check each Lua module against what ``zoo.DenseNet`` computes and list its output tensors.

:class:`LayerParser` is used by :func:`converters.densenet.plan_conversion`
while it walks the top-level ``nn.Sequential``: each method validates one
module (convolution, BatchNorm, ReLU, pooling, dropout, a whole dense layer),
appends the torchvision-named :class:`TensorEntry` objects it yields, and
collects the facts the architecture is inferred from (growth rates,
bottleneck widths, dropout rates, BatchNorm formats, layouts).
"""

from __future__ import annotations

import collections
import math
from typing import Any

import numpy as np

from converters import t7
from converters.errors import ConversionError
from converters.lua_layers import (
    batchnorm_variance_field,
    convolution_fields,
    dropout_fields,
    pooling_window,
    running_var_from_std,
)
from converters.lua_modules import (
    EXPECTED,
    child_modules,
    describe,
    float_field,
    integer_field,
    lazy_view,
    module_kind,
    tensor_field,
)
from converters.plan import ConversionReport, TensorEntry
from converters.views import first_shared, view_span

__all__ = ["PYTORCH_BN_EPS", "WITHOUT_BOTTLENECK", "WITH_BOTTLENECK", "LayerParser"]

PYTORCH_BN_EPS = 1e-5
#: The two kinds of dense layer, as :attr:`LayerParser.layer_kinds` records them.
WITH_BOTTLENECK = "with a bottleneck (BN-ReLU-Conv1x1-BN-ReLU-Conv3x3)"
WITHOUT_BOTTLENECK = "without bottleneck (BN-ReLU-Conv3x3)"


class LayerParser:
    """Parses the modules :func:`~converters.densenet.plan_conversion` hands it; collects config facts and
    output tensors."""

    def __init__(self) -> None:
        self.entries: list[TensorEntry] = []
        self.report = ConversionReport()
        self.tensor_types: collections.Counter[str] = collections.Counter()
        self.drop_rates: list[tuple[float, str]] = []
        self.bn_formats: set[str] = set()
        self.growth_rates: list[tuple[int, str]] = []
        self.bottleneck_widths: list[tuple[int, str]] = []
        self.layer_kinds: list[tuple[str, str]] = []  # each dense layer: with or without bottleneck
        self.layouts: set[str] = set()
        self.views: list[tuple[t7.T7Storage, int, int, str]] = []  # storage elements each tensor read reaches

    # - leaves -
    def expect(
        self, modules: list[tuple[Any, str]], index: int, kind: str, parent_path: str
    ) -> tuple[t7.T7Object, str]:
        if index >= len(modules):
            raise ConversionError(
                f"expected {EXPECTED.get(kind, kind)} at position {index + 1}, found the end of the container",
                parent_path,
            )
        lua_module, path = modules[index]
        if module_kind(lua_module) != kind:
            raise ConversionError(f"expected {EXPECTED.get(kind, kind)}, found {describe(lua_module)}", path)
        return lua_module, path

    def record_type(self, tensor: t7.T7Tensor) -> None:
        self.tensor_types[tensor.typename] += 1

    def tensor(self, lua_module: t7.T7Object, name: str, path: str, ndim: tuple[int, ...]) -> t7.T7Tensor:
        """Field ``name`` as a tensor (see :func:`tensor_field`), remembered for :meth:`check_disjoint`."""
        tensor = tensor_field(lua_module, name, path, ndim=ndim)
        if tensor.numel() > 0:
            start = tensor.storage_offset
            self.views.append(
                (tensor.storage, start, start + view_span(tensor.size, tensor.stride), f"field '{name}' of {path}")
            )
        return tensor

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

    def conv(
        self,
        lua_module: t7.T7Object,
        path: str,
        key: str,
        in_channels: int,
        kernel: int | None,
        stride: int,
        padding: int,
        out_channels: int | None = None,
    ) -> tuple[int, int, np.ndarray | None]:
        """Emit ``key.weight``; return (out channels, kernel size, nonzero bias or None)."""
        fields = convolution_fields(lua_module, path)
        if fields.groups != 1 or fields.dilation != (1, 1):
            raise ConversionError(
                f"expected an ungrouped, undilated convolution, found groups={fields.groups} "
                f"dilation={fields.dilation}",
                path,
            )
        weight = self.tensor(lua_module, "weight", path, ndim=(2, 4))
        n_in, n_out, (k_h, k_w) = fields.n_in, fields.n_out, fields.kernel
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
        if fields.stride + fields.padding != (stride, stride, padding, padding):
            (d_h, d_w), (p_h, p_w) = fields.stride, fields.padding
            raise ConversionError(
                f"expected stride {stride} and padding {padding}, found dW={d_w} dH={d_h} padW={p_w} padH={p_h}", path
            )
        shape = (n_out, n_in, k_h, k_w)
        if weight.numel() != math.prod(shape):
            raise ConversionError(
                f"expected a weight of {n_out}x{n_in}x{k_h}x{k_w}, found size {tuple(weight.size)}", path
            )
        self.record_type(weight)
        self.entries.append(TensorEntry(f"{key}.weight", shape, "float32", lazy_view(weight, shape)))
        bias = lua_module.get("bias")
        nonzero_bias = None
        if bias is not None:
            bias_tensor = self.tensor(lua_module, "bias", path, ndim=(1,))
            if tuple(bias_tensor.size) != (n_out,):
                raise ConversionError(f"expected a bias of size {n_out}, found {tuple(bias_tensor.size)}", path)
            values = _finite_values(bias_tensor, "convolution bias (it is folded into a BatchNorm mean)", path)
            if np.any(values != 0):
                nonzero_bias = values.copy()
                self.report.conv_biases_folded += 1
            else:
                self.report.conv_biases_dropped += 1
        return n_out, k_w, nonzero_bias

    def batchnorm(self, lua_module: t7.T7Object, path: str, key: str, channels: int, shift: np.ndarray | None) -> None:
        """Emit ``key.{weight,bias,running_mean,running_var,num_batches_tracked}``.

        ``shift`` holds folded conv biases per input channel (subtracted from the mean).
        """
        eps = float_field(lua_module, "eps", path, PYTORCH_BN_EPS)
        if eps < 0:
            raise ConversionError(f"expected a BatchNorm eps >= 0, found {eps:g}", path)
        mean = self.tensor(lua_module, "running_mean", path, ndim=(1,))
        if tuple(mean.size) != (channels,):
            raise ConversionError(
                f"expected BatchNorm statistics for {channels} channels, found running_mean of size {tuple(mean.size)}",
                path,
            )
        variance_source, legacy = self._variance_source(lua_module, path)
        if tuple(variance_source.size) != (channels,):
            raise ConversionError(
                f"expected BatchNorm variance of size {channels}, found {tuple(variance_source.size)}", path
            )
        self._batchnorm_affine(lua_module, path, key, channels, mean)
        running_mean, running_var = _statistics(mean, variance_source, legacy, eps, shift, path)
        if eps != PYTORCH_BN_EPS:
            self.report.notes.append(f"{path}: BatchNorm eps={eps:g} absorbed into running_var (PyTorch uses 1e-5)")
        self.entries.append(TensorEntry(f"{key}.running_mean", (channels,), "float32", lambda: running_mean))
        self.entries.append(TensorEntry(f"{key}.running_var", (channels,), "float32", lambda: running_var))
        self.entries.append(TensorEntry(f"{key}.num_batches_tracked", (), "int64", lambda: np.zeros((), np.int64)))

    def _variance_source(self, lua_module: t7.T7Object, path: str) -> tuple[t7.T7Tensor, bool]:
        """The BatchNorm's ``running_var``, or ``running_std`` in class version < 2 (then ``legacy`` is True)."""
        name, legacy = batchnorm_variance_field(lua_module, path)
        self.bn_formats.add(name)
        return self.tensor(lua_module, name, path, ndim=(1,)), legacy

    def _batchnorm_affine(self, lua_module: t7.T7Object, path: str, key: str, channels: int, mean: t7.T7Tensor) -> None:
        """Emit ``key.weight`` and ``key.bias``: the module's, or 1 and 0 for a BatchNorm without affine parameters."""
        if lua_module.get("affine", "weight" in lua_module) is False:
            self.report.notes.append(f"{path}: BatchNorm without affine parameters; stored weight=1, bias=0")
            self.entries.append(
                TensorEntry(f"{key}.weight", (channels,), "float32", lambda: np.ones(channels, np.float32))
            )
            self.entries.append(
                TensorEntry(f"{key}.bias", (channels,), "float32", lambda: np.zeros(channels, np.float32))
            )
            self.record_type(mean)
            return
        weight = self.tensor(lua_module, "weight", path, ndim=(1,))
        bias = self.tensor(lua_module, "bias", path, ndim=(1,))
        for name, tensor in (("weight", weight), ("bias", bias)):
            if tuple(tensor.size) != (channels,):
                raise ConversionError(
                    f"expected a BatchNorm {name} of size {channels}, found {tuple(tensor.size)}", path
                )
        self.record_type(weight)
        self.entries.append(TensorEntry(f"{key}.weight", (channels,), "float32", lazy_view(weight, (channels,))))
        self.entries.append(TensorEntry(f"{key}.bias", (channels,), "float32", lazy_view(bias, (channels,))))

    def relu(self, lua_module: t7.T7Object, path: str) -> None:
        threshold, value = lua_module.get("threshold", 0), lua_module.get("val", 0)
        if threshold != 0 or value != 0:
            raise ConversionError(f"expected a plain ReLU, found threshold={threshold} val={value}", path)

    def dropout(self, lua_module: t7.T7Object, path: str) -> None:
        p, v2 = dropout_fields(lua_module, path)
        if not v2 and p > 0:
            raise ConversionError(
                "found an old nn.Dropout (v2 false or absent: it scales outputs by 1 - p at test time, which "
                "zoo.DenseNet cannot); expected v2 dropout",
                path,
            )
        self.drop_rates.append((p, path))
        self.report.dropout_modules += 1

    def pool(self, lua_module: t7.T7Object, path: str, kernel: int | None, stride: int | None, padding: int) -> int:
        window = pooling_window(lua_module, path, stride_is_kernel=module_kind(lua_module) == "maxpool")
        k_w, k_h, d_w, d_h, p_w, p_h = (window[name] for name in ("kW", "kH", "dW", "dH", "padW", "padH"))
        expected_kernel = kernel if kernel is not None else k_w
        expected_stride = stride if stride is not None else expected_kernel
        if (k_w, k_h, d_w, d_h, p_w, p_h) != (
            expected_kernel,
            expected_kernel,
            expected_stride,
            expected_stride,
            padding,
            padding,
        ):
            raise ConversionError(
                f"expected {expected_kernel}x{expected_kernel} pooling, stride {expected_stride}, padding {padding}; "
                f"found kW={k_w} kH={k_h} dW={d_w} dH={d_h} padW={p_w} padH={p_h}",
                path,
            )
        ceil_mode = lua_module.get("ceil_mode")
        if ceil_mode is not None and ceil_mode is not False:  # Lua: any value but nil and false is true
            raise ConversionError(f"expected ceil_mode=false pooling, found ceil_mode={describe(ceil_mode)}", path)
        if (
            module_kind(lua_module) == "avgpool"
            and lua_module.typename.startswith("nn.")
            and lua_module.get("divide", False) is not True
        ):
            raise ConversionError(
                "expected an averaging nn.SpatialAveragePooling (divide=true); without 'divide' nn sums", path
            )
        return k_w

    def skip_dropout(self, modules: list[tuple[Any, str]], index: int) -> int:
        if index < len(modules) and module_kind(modules[index][0]) == "dropout":
            self.dropout(*modules[index])
            return index + 1
        return index

    # - dense layers -
    def dense_layer(
        self, lua_module: t7.T7Object, path: str, key: str, channels: int, shift: np.ndarray | None
    ) -> tuple[int, np.ndarray | None, str]:
        """Parse one dense layer; return (new features, their folded bias or None, layout).

        With a bottleneck (DenseNet-B/BC) the layer is BN-ReLU-Conv1x1-[Dropout]-BN-ReLU-Conv3x3-[Dropout]
        (``norm1``/``conv1``/``norm2``/``conv2``); without (Lua's ``-bottleneck false``) BN-ReLU-Conv3x3-[Dropout]
        (``norm1``/``conv1``). A custom-layout layer has no dropout in Lua.
        """
        if module_kind(lua_module) == "custom":
            (first, second), layout = self.custom_parts(lua_module, path), "custom"
        else:
            (first, second), layout = self.standard_parts(lua_module, path), "standard"
        norm, norm_path = self.expect(first, 0, "bn", path)
        self.batchnorm(norm, norm_path, f"{key}.norm1", channels, shift)
        self.relu(*self.expect(first, 1, "relu", path))
        if len(first) != 2:
            raise ConversionError(
                f"expected BN, ReLU before the bottleneck, found {len(first)} modules",
                first[2][1] if len(first) > 2 else path,
            )
        if not second or module_kind(second[0][0]) != "conv":
            raise ConversionError(
                "expected the bottleneck Conv1x1 or the Conv3x3 after BN-ReLU, found "
                f"{describe(second[0][0]) if second else 'nothing'}",
                second[0][1] if second else path,
            )
        conv, conv_path = second[0]
        if integer_field(conv, "kW", conv_path, minimum=1) == 3:
            growth, bias, index = self._plain_convolution(second, key, channels)
        else:
            growth, bias, index = self._bottleneck_convolutions(second, path, key, channels)
        if index != len(second):
            raise ConversionError(
                f"expected the dense layer to end after Conv3x3 [Dropout], found {describe(second[index][0])}",
                second[index][1],
            )
        return growth, bias, layout

    def _plain_convolution(
        self, modules: list[tuple[Any, str]], key: str, channels: int
    ) -> tuple[int, np.ndarray | None, int]:
        """A layer without bottleneck after its BN-ReLU: Conv3x3 as ``key.conv1``, [Dropout].

        Returns (growth, folded bias or None, index past the modules read).
        """
        conv, conv_path = modules[0]
        growth, _, bias = self.conv(conv, conv_path, f"{key}.conv1", channels, 3, 1, 1)
        self.layer_kinds.append((WITHOUT_BOTTLENECK, conv_path))
        self.growth_rates.append((growth, conv_path))
        return growth, bias, self.skip_dropout(modules, 1)

    def _bottleneck_convolutions(
        self, modules: list[tuple[Any, str]], path: str, key: str, channels: int
    ) -> tuple[int, np.ndarray | None, int]:
        """A bottleneck layer after its first BN-ReLU: Conv1x1 [Dropout] BN ReLU Conv3x3 [Dropout].

        Returns (growth, folded bias of the Conv3x3 or None, index past the modules read).
        """
        conv1, conv1_path = modules[0]
        width, _, bias1 = self.conv(conv1, conv1_path, f"{key}.conv1", channels, 1, 1, 0)
        index = self.skip_dropout(modules, 1)
        norm2, norm2_path = self.expect(modules, index, "bn", path)
        self.batchnorm(norm2, norm2_path, f"{key}.norm2", width, bias1)
        self.relu(*self.expect(modules, index + 1, "relu", path))
        conv2, conv2_path = self.expect(modules, index + 2, "conv", path)
        growth, _, bias2 = self.conv(conv2, conv2_path, f"{key}.conv2", width, 3, 1, 1)
        self.layer_kinds.append((WITH_BOTTLENECK, conv1_path))
        self.growth_rates.append((growth, conv2_path))
        self.bottleneck_widths.append((width, conv1_path))
        return growth, bias2, self.skip_dropout(modules, index + 3)

    def standard_parts(self, lua_module: t7.T7Object, path: str) -> tuple[list[tuple[Any, str]], list[tuple[Any, str]]]:
        """``nn.Sequential{nn.Concat(2){nn.Identity, net}}`` (or the bare Concat): net's {BN, ReLU} and the rest."""
        concat, concat_path = lua_module, path
        if module_kind(lua_module) == "sequential":
            children = child_modules(lua_module, path)
            if len(children) != 1 or module_kind(children[0][0]) != "concat":
                raise ConversionError(
                    "expected a dense layer nn.Sequential{nn.Concat(2){nn.Identity, nn.Sequential{...}}}", path
                )
            concat, concat_path = children[0]
        if concat.get("dimension") != 2:
            raise ConversionError(
                f"expected nn.Concat(2) (channel dimension), found dimension={concat.get('dimension')}", concat_path
            )
        branches = child_modules(concat, concat_path)
        if (
            len(branches) != 2
            or module_kind(branches[0][0]) != "identity"
            or module_kind(branches[1][0]) != "sequential"
        ):
            found = ", ".join(describe(branch) for branch, _ in branches)
            raise ConversionError(
                f"expected nn.Concat(2){{nn.Identity, nn.Sequential}}, found {{{found}}}", concat_path
            )
        net = child_modules(*branches[1])
        return net[:2], net[2:]

    def custom_parts(self, lua_module: t7.T7Object, path: str) -> tuple[list[tuple[Any, str]], list[tuple[Any, str]]]:
        """``nn.DenseConnectLayerCustom``: the modules of its ``net1`` ({BN, ReLU}) and ``net2`` (the rest)."""
        parts = child_modules(lua_module, path)
        if len(parts) != 2 or any(module_kind(part) != "sequential" for part, _ in parts):
            raise ConversionError(
                "expected nn.DenseConnectLayerCustom with modules = {nn.Sequential, nn.Sequential}", path
            )
        nets = []
        for index, name in enumerate(("net1", "net2")):
            net = lua_module.get(name)
            if net is None:
                nets.append(parts[index])
                continue
            if module_kind(net) != "sequential":
                raise ConversionError(f"expected '{name}' to be an nn.Sequential, found {describe(net)}", path)
            mirror = [
                child.typename if isinstance(child, t7.T7Object) else None for child, _ in child_modules(*parts[index])
            ]
            used = [
                child.typename if isinstance(child, t7.T7Object) else None
                for child, _ in child_modules(net, f"{path}.{name}")
            ]
            if mirror != used:
                raise ConversionError(
                    f"expected '{name}' to match modules[{index + 1}], found {used} vs {mirror}", path
                )
            nets.append((net, f"{path}.{name}"))
        return child_modules(*nets[0]), child_modules(*nets[1])


def _finite_values(tensor: t7.T7Tensor, what: str, path: str) -> np.ndarray:
    """The values of a small tensor (statistics, biases) as float64; NaN or infinite values are refused."""
    values = np.asarray(tensor.numpy(), dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ConversionError(
            f"expected finite values in the {what}, found {values[bad]} at index {bad + 1} (1-based); "
            "the checkpoint is corrupt (a diverged training run or a damaged file)",
            path,
        )
    return values


def _statistics(
    mean: t7.T7Tensor, variance_source: t7.T7Tensor, legacy: bool, eps: float, shift: np.ndarray | None, path: str
) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's float32 ``running_mean`` and ``running_var`` (eps 1e-5) of a Lua BatchNorm, checked to be finite.

    ``legacy``: ``variance_source`` is old nn's ``running_std`` = 1/sqrt(var + eps). ``shift`` holds folded
    conv biases per channel (subtracted from the mean). Read while planning: statistics are small, and a
    NaN or infinite statistic must be refused before anything is written.
    """
    values = _finite_values(mean, "BatchNorm running_mean", path)
    source = _finite_values(variance_source, "BatchNorm running_std" if legacy else "BatchNorm running_var", path)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        variance = running_var_from_std(source, eps) if legacy else source
        if not legacy and np.any(source < 0):
            bad = int(np.flatnonzero(source < 0)[0])
            raise ConversionError(
                f"expected BatchNorm variances >= 0, found {source[bad]} at index {bad + 1} (1-based)", path
            )
        running_mean = (values if shift is None else values - shift).astype(np.float32)
        if legacy or eps != PYTORCH_BN_EPS:
            running_var = (variance + eps - PYTORCH_BN_EPS).astype(np.float32)
        else:
            running_var = np.asarray(variance_source.numpy(), dtype=np.float32).reshape(-1)
    for name, converted in (("running_mean", running_mean), ("running_var", running_var)):
        if not np.all(np.isfinite(converted)):
            raise ConversionError(
                f"expected a BatchNorm {name} that is finite in float32, found values out of range "
                "(a running_std of 0, or statistics beyond 3.4e38)",
                path,
            )
    return running_mean, running_var
