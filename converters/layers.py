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
from typing import Any

import numpy as np

from converters import t7
from converters.errors import ConversionError
from converters.lua_modules import EXPECTED, child_modules, describe, lazy_view, module_kind, number_field, tensor_field
from converters.plan import ConversionReport, TensorEntry

__all__ = ["PYTORCH_BN_EPS", "LayerParser"]

PYTORCH_BN_EPS = 1e-5


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
        self.layouts: set[str] = set()

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
        if lua_module.get("groups", 1) != 1:
            raise ConversionError(f"expected an ungrouped convolution, found groups={lua_module.get('groups')}", path)
        weight = tensor_field(lua_module, "weight", path, ndim=(2, 4))
        n_in = int(number_field(lua_module, "nInputPlane", path))
        n_out = int(number_field(lua_module, "nOutputPlane", path))
        k_w, k_h = int(number_field(lua_module, "kW", path)), int(number_field(lua_module, "kH", path))
        d_w, d_h = int(number_field(lua_module, "dW", path, 1)), int(number_field(lua_module, "dH", path, 1))
        p_w, p_h = int(number_field(lua_module, "padW", path, 0)), int(number_field(lua_module, "padH", path, 0))
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
        if (d_w, d_h, p_w, p_h) != (stride, stride, padding, padding):
            raise ConversionError(
                f"expected stride {stride} and padding {padding}, found dW={d_w} dH={d_h} padW={p_w} padH={p_h}", path
            )
        shape = (n_out, n_in, k_h, k_w)
        if weight.numel() != int(np.prod(shape)):
            raise ConversionError(
                f"expected a weight of {n_out}x{n_in}x{k_h}x{k_w}, found size {tuple(weight.size)}", path
            )
        self.record_type(weight)
        self.entries.append(TensorEntry(f"{key}.weight", shape, "float32", lazy_view(weight, shape)))
        bias = lua_module.get("bias")
        nonzero_bias = None
        if bias is not None:
            bias_tensor = tensor_field(lua_module, "bias", path, ndim=(1,))
            if tuple(bias_tensor.size) != (n_out,):
                raise ConversionError(f"expected a bias of size {n_out}, found {tuple(bias_tensor.size)}", path)
            values = np.asarray(bias_tensor.numpy(), dtype=np.float64)
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
        eps = float(number_field(lua_module, "eps", path, PYTORCH_BN_EPS))
        mean = tensor_field(lua_module, "running_mean", path, ndim=(1,))
        if tuple(mean.size) != (channels,):
            raise ConversionError(
                f"expected BatchNorm statistics for {channels} channels, found running_mean of size {tuple(mean.size)}",
                path,
            )
        version = int(getattr(lua_module, "version", 2) or 0)
        if isinstance(lua_module.get("running_var"), t7.T7Tensor) and not (version < 2 and "running_std" in lua_module):
            variance_source = tensor_field(lua_module, "running_var", path, ndim=(1,))
            legacy = False
            self.bn_formats.add("running_var")
        elif isinstance(lua_module.get("running_std"), t7.T7Tensor) and version < 2:
            variance_source = tensor_field(lua_module, "running_std", path, ndim=(1,))
            legacy = True
            self.bn_formats.add("running_std")
        else:
            found = (
                "running_std with class version >= 2 (nn would ignore it)" if "running_std" in lua_module else "neither"
            )
            raise ConversionError(
                f"expected BatchNorm field 'running_var' (or 'running_std' in class version < 2), found {found}", path
            )
        if tuple(variance_source.size) != (channels,):
            raise ConversionError(
                f"expected BatchNorm variance of size {channels}, found {tuple(variance_source.size)}", path
            )
        affine = lua_module.get("affine", "weight" in lua_module) is not False
        if affine:
            weight = tensor_field(lua_module, "weight", path, ndim=(1,))
            bias = tensor_field(lua_module, "bias", path, ndim=(1,))
            for name, tensor in (("weight", weight), ("bias", bias)):
                if tuple(tensor.size) != (channels,):
                    raise ConversionError(
                        f"expected a BatchNorm {name} of size {channels}, found {tuple(tensor.size)}", path
                    )
            self.record_type(weight)
            self.entries.append(TensorEntry(f"{key}.weight", (channels,), "float32", lazy_view(weight, (channels,))))
            self.entries.append(TensorEntry(f"{key}.bias", (channels,), "float32", lazy_view(bias, (channels,))))
        else:
            self.report.notes.append(f"{path}: BatchNorm without affine parameters; stored weight=1, bias=0")
            self.entries.append(
                TensorEntry(f"{key}.weight", (channels,), "float32", lambda: np.ones(channels, np.float32))
            )
            self.entries.append(
                TensorEntry(f"{key}.bias", (channels,), "float32", lambda: np.zeros(channels, np.float32))
            )
            self.record_type(mean)

        if shift is None:
            read_mean = lazy_view(mean, (channels,))
        else:

            def read_mean(mean: t7.T7Tensor = mean, shift: np.ndarray = shift) -> np.ndarray:
                return (np.asarray(mean.numpy(), dtype=np.float64) - shift).astype(np.float32)

        if not legacy and eps == PYTORCH_BN_EPS:
            read_var = lazy_view(variance_source, (channels,))
        else:

            def read_var(source: t7.T7Tensor = variance_source, legacy: bool = legacy, eps: float = eps) -> np.ndarray:
                values = np.asarray(source.numpy(), dtype=np.float64)
                variance = values**-2.0 - eps if legacy else values
                return (variance + eps - PYTORCH_BN_EPS).astype(np.float32)

            if eps != PYTORCH_BN_EPS:
                self.report.notes.append(f"{path}: BatchNorm eps={eps:g} absorbed into running_var (PyTorch uses 1e-5)")
        self.entries.append(TensorEntry(f"{key}.running_mean", (channels,), "float32", read_mean))
        self.entries.append(TensorEntry(f"{key}.running_var", (channels,), "float32", read_var))
        self.entries.append(TensorEntry(f"{key}.num_batches_tracked", (), "int64", lambda: np.zeros((), np.int64)))

    def relu(self, lua_module: t7.T7Object, path: str) -> None:
        threshold, value = lua_module.get("threshold", 0), lua_module.get("val", 0)
        if threshold != 0 or value != 0:
            raise ConversionError(f"expected a plain ReLU, found threshold={threshold} val={value}", path)

    def dropout(self, lua_module: t7.T7Object, path: str) -> None:
        p = float(number_field(lua_module, "p", path, 0.5))
        if lua_module.get("v2", True) is False and p > 0:
            raise ConversionError(
                "found an old nn.Dropout with v2=false (it scales outputs at test time); expected v2 dropout", path
            )
        self.drop_rates.append((p, path))
        self.report.dropout_modules += 1

    def pool(self, lua_module: t7.T7Object, path: str, kernel: int | None, stride: int | None, padding: int) -> int:
        k_w, k_h = int(number_field(lua_module, "kW", path)), int(number_field(lua_module, "kH", path))
        d_w, d_h = int(number_field(lua_module, "dW", path, k_w)), int(number_field(lua_module, "dH", path, k_h))
        p_w, p_h = int(lua_module.get("padW", 0) or 0), int(lua_module.get("padH", 0) or 0)
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
        if lua_module.get("ceil_mode", False):
            raise ConversionError("expected ceil_mode=false pooling", path)
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
        """Parse one dense layer; return (new features, their folded bias or None, layout)."""
        kind = module_kind(lua_module)
        if kind == "custom":
            first, second = self.custom_parts(lua_module, path)
            layout = "custom"
        else:
            concat, concat_path = lua_module, path
            if kind == "sequential":
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
            first, second = net[:2], net[2:]
            layout = "standard"
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
                "expected the bottleneck Conv1x1 after BN-ReLU, found "
                f"{describe(second[0][0]) if second else 'nothing'}",
                second[0][1] if second else path,
            )
        conv1, conv1_path = second[0]
        if int(conv1.get("kW", 0)) == 3:
            raise ConversionError(
                "found a dense layer without bottleneck (opt.bottleneck=false): BN-ReLU-Conv3x3; zoo.DenseNet "
                "needs DenseNet-BC layers",
                conv1_path,
            )
        width, _, bias1 = self.conv(conv1, conv1_path, f"{key}.conv1", channels, 1, 1, 0)
        index = self.skip_dropout(second, 1)
        norm2, norm2_path = self.expect(second, index, "bn", path)
        self.batchnorm(norm2, norm2_path, f"{key}.norm2", width, bias1)
        self.relu(*self.expect(second, index + 1, "relu", path))
        conv2, conv2_path = self.expect(second, index + 2, "conv", path)
        growth, _, bias2 = self.conv(conv2, conv2_path, f"{key}.conv2", width, 3, 1, 1)
        index = self.skip_dropout(second, index + 3)
        if index != len(second):
            raise ConversionError(
                f"expected the dense layer to end after Conv3x3 [Dropout], found {describe(second[index][0])}",
                second[index][1],
            )
        self.growth_rates.append((growth, conv2_path))
        self.bottleneck_widths.append((width, conv1_path))
        return growth, bias2, layout

    def custom_parts(self, lua_module: t7.T7Object, path: str) -> tuple[list[tuple[Any, str]], list[tuple[Any, str]]]:
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
