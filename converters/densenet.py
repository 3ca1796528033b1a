"""Map a Lua Torch7 DenseNet module tree onto ``zoo.DenseNet``.

:func:`plan_conversion` walks the module tree of a checkpoint saved by
liuzhuang13/DenseNet (fb.resnet.torch's ``checkpoints.save``), infers the
architecture from the modules themselves and returns a :class:`ConversionPlan`:
the ``DenseNetConfig``, a report, and an ordered list of torchvision-named
tensors that are read from the file only when asked for (so converters can
stream them). :func:`convert` materialises the plan into a state dict.

Accepted trees
--------------
* The standard layout (``-optMemory`` <= 2): every dense layer is
  ``nn.Sequential{nn.Concat(2){nn.Identity, nn.Sequential{BN, ReLU, Conv1x1,
  [Dropout], BN, ReLU, Conv3x3, [Dropout]}}}`` (a bare ``nn.Concat`` is
  accepted too); transitions are flat in the top-level ``nn.Sequential``.
* The memory-efficient layout (``-optMemory 3/4``): ``nn.DenseConnectLayerCustom``
  layers whose ``net1`` = {BN, ReLU} runs once on the concatenated input and
  ``net2`` = {Conv1x1, BN, ReLU, Conv3x3}; an ``nn.JoinTable(2)`` closes each
  block. In evaluate mode this computes exactly what the standard layer does.
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

import collections
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from converters import t7
from converters.errors import ConversionError
from zoo.models.densenet import DenseNetConfig

__all__ = ["Conversion", "ConversionPlan", "ConversionReport", "TensorEntry", "convert", "plan_conversion"]

CONVERTER_VERSION = "1"

#: Class namespaces the original code (and its CPU/GPU conversions) produce.
NAMESPACES = ("nn", "cudnn", "cunn")
PYTORCH_BN_EPS = 1e-5
#: Fields holding tensors the conversion uses; every other tensor payload is reported as ignored.
USED_TENSOR_FIELDS = frozenset({"weight", "bias", "running_mean", "running_var", "running_std"})


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the output state dict, read from the checkpoint on demand.

    ``read()`` returns a numpy array of ``shape`` (any floating dtype for
    ``dtype == "float32"``; possibly a read-only view into the file).
    """

    key: str
    shape: tuple[int, ...]
    dtype: str  # "float32" or "int64"
    read: Callable[[], np.ndarray]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * (4 if self.dtype == "float32" else 8)


@dataclass
class ConversionReport:
    """What the converter found in a checkpoint."""

    layout: str = "standard"
    module_counts: dict[str, int] = field(default_factory=dict)
    tensor_types: dict[str, int] = field(default_factory=dict)
    batchnorm_format: str = "running_var"
    ignored_fields: dict[str, int] = field(default_factory=dict)
    dropout_modules: int = 0
    conv_biases_folded: int = 0
    conv_biases_dropped: int = 0
    final_pool_size: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "module_counts": dict(sorted(self.module_counts.items())),
            "tensor_types": dict(sorted(self.tensor_types.items())),
            "batchnorm_format": self.batchnorm_format,
            "ignored_fields": dict(sorted(self.ignored_fields.items())),
            "dropout_modules": self.dropout_modules,
            "conv_biases_folded": self.conv_biases_folded,
            "conv_biases_dropped": self.conv_biases_dropped,
            "final_pool_size": self.final_pool_size,
            "notes": list(self.notes),
        }


@dataclass
class ConversionPlan:
    """The inferred architecture and the ordered, lazily read output tensors."""

    config: DenseNetConfig
    report: ConversionReport
    entries: list[TensorEntry]

    @property
    def nbytes(self) -> int:
        return sum(entry.nbytes for entry in self.entries)

    @property
    def num_parameters(self) -> int:
        """Learnable parameters (weights and biases; not BatchNorm statistics)."""
        return sum(int(np.prod(entry.shape)) for entry in self.entries if entry.key.endswith((".weight", ".bias")))

    def materialize(self, progress: Callable[[int, int], None] | None = None) -> collections.OrderedDict[str, torch.Tensor]:
        """The state dict: float32 (int64 counters), contiguous tensors with their own memory."""
        state_dict: collections.OrderedDict[str, torch.Tensor] = collections.OrderedDict()
        done, total = 0, self.nbytes
        for entry in self.entries:
            dtype = torch.float32 if entry.dtype == "float32" else torch.int64
            tensor = torch.empty(entry.shape, dtype=dtype)
            source = entry.read()
            np.copyto(tensor.numpy(), source, casting="same_kind")
            drop_file_pages(source)
            state_dict[entry.key] = tensor
            done += entry.nbytes
            if progress is not None:
                progress(done, total)
        return state_dict


@dataclass
class Conversion:
    """The result of :func:`convert`: ``state_dict`` (torchvision key names), ``config``, ``report``."""

    state_dict: collections.OrderedDict[str, torch.Tensor]
    config: DenseNetConfig
    report: ConversionReport


# -- module classification ------------------------------------------------------------------

_KINDS = {
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
    "DataParallelTable": "dataparallel",
}

_EXPECTED = {
    "conv": "a SpatialConvolution (nn./cudnn.)",
    "bn": "a SpatialBatchNormalization (nn./cudnn.)",
    "relu": "a ReLU (nn./cudnn.)",
    "maxpool": "a SpatialMaxPooling",
    "avgpool": "a SpatialAveragePooling",
    "linear": "an nn.Linear",
    "reshape": "an nn.Reshape or nn.View",
    "join": "an nn.JoinTable(2)",
}


def _kind(lua_value: Any) -> str | None:
    if not isinstance(lua_value, t7.T7Object):
        return None
    namespace, _, name = lua_value.typename.partition(".")
    if namespace not in NAMESPACES:
        return None
    return _KINDS.get(name)


def _describe(lua_value: Any) -> str:
    if isinstance(lua_value, t7.T7Object):
        return lua_value.typename
    if isinstance(lua_value, t7.T7Tensor):
        return f"{lua_value.typename} of size {tuple(lua_value.size)}"
    if isinstance(lua_value, t7.T7Table):
        return "a Lua table"
    return f"{type(lua_value).__name__} {lua_value!r}"


def _children(lua_module: t7.T7Object, path: str) -> list[tuple[t7.T7Object, str]]:
    modules = lua_module.get("modules")
    if not isinstance(modules, t7.T7Table) or not modules.is_list():
        raise ConversionError(f"expected a 'modules' list in {lua_module.typename}, found {_describe(modules)}", path)
    return [(child, f"{path}.modules[{index + 1}]") for index, child in enumerate(modules.as_list())]


# -- reading tensors ------------------------------------------------------------------------


def drop_file_pages(array: np.ndarray) -> None:
    """Tell the kernel a read-only *file-backed* mapping's pages are no longer needed.

    Only applied to arrays whose memory is an ``mmap`` of the file (never to
    heap memory, where MADV_DONTNEED would discard data). Keeps peak RSS near
    the output size when a large checkpoint is streamed.
    """
    base: Any = array
    while base is not None and not isinstance(base, np.memmap) and not _is_mmap(base):
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    if base is None or _MADVISE is None or array.nbytes < _PAGE_SIZE:
        return
    address = array.__array_interface__["data"][0]
    page = _PAGE_SIZE
    start = address - address % page
    end = address + array.nbytes
    end -= end % page  # pages shared with a neighbour stay
    if end > start:
        _MADVISE(start, end - start, _MADV_DONTNEED)


def _is_mmap(value: Any) -> bool:
    import mmap

    return isinstance(value, mmap.mmap)


def _load_madvise() -> Callable[[int, int, int], int] | None:
    if os.name != "posix":
        return None
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.madvise
        function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        function.restype = ctypes.c_int
        return function
    except (OSError, AttributeError):
        return None


_MADVISE = _load_madvise()
_MADV_DONTNEED = 4
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _tensor_field(lua_module: t7.T7Object, name: str, path: str, *, ndim: tuple[int, ...] | None = None) -> t7.T7Tensor:
    value = lua_module.get(name)
    if not isinstance(value, t7.T7Tensor):
        what = "missing" if value is None else f"{_describe(value)}"
        raise ConversionError(f"expected field '{name}' of {lua_module.typename} to be a tensor, found {what}", path)
    if not np.issubdtype(np.dtype(value.dtype), np.floating):
        raise ConversionError(f"expected a floating-point '{name}' tensor, found {value.typename}", path)
    if value.storage is None and value.numel() > 0:
        raise ConversionError(f"field '{name}' has size {tuple(value.size)} but no storage", path)
    if ndim is not None and len(value.size) not in ndim:
        raise ConversionError(f"expected '{name}' with {' or '.join(map(str, ndim))} dimensions, found size {tuple(value.size)}", path)
    return value


def _number_field(lua_module: t7.T7Object, name: str, path: str, default: Any = None) -> Any:
    value = lua_module.get(name, default)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConversionError(f"expected a number in field '{name}' of {lua_module.typename}, found {_describe(value) if value is not None else 'nothing'}", path)
    return value


def _view(tensor: t7.T7Tensor, shape: tuple[int, ...]) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        return tensor.numpy().reshape(shape)

    return read


# -- the walk -------------------------------------------------------------------------------


class _Walker:
    """Walks the top-level ``nn.Sequential`` and collects config facts and output tensors."""

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
    def expect(self, modules: list[tuple[Any, str]], index: int, kind: str, parent_path: str) -> tuple[t7.T7Object, str]:
        if index >= len(modules):
            raise ConversionError(f"expected {_EXPECTED.get(kind, kind)} at position {index + 1}, found the end of the container", parent_path)
        lua_module, path = modules[index]
        if _kind(lua_module) != kind:
            raise ConversionError(f"expected {_EXPECTED.get(kind, kind)}, found {_describe(lua_module)}", path)
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
        weight = _tensor_field(lua_module, "weight", path, ndim=(2, 4))
        n_in = int(_number_field(lua_module, "nInputPlane", path))
        n_out = int(_number_field(lua_module, "nOutputPlane", path))
        k_w, k_h = int(_number_field(lua_module, "kW", path)), int(_number_field(lua_module, "kH", path))
        d_w, d_h = int(_number_field(lua_module, "dW", path, 1)), int(_number_field(lua_module, "dH", path, 1))
        p_w, p_h = int(_number_field(lua_module, "padW", path, 0)), int(_number_field(lua_module, "padH", path, 0))
        if n_in != in_channels:
            raise ConversionError(f"expected a convolution with {in_channels} input channels, found nInputPlane={n_in}", path)
        if out_channels is not None and n_out != out_channels:
            raise ConversionError(f"expected a convolution with {out_channels} output channels, found nOutputPlane={n_out}", path)
        if k_w != k_h or (kernel is not None and k_w != kernel):
            raise ConversionError(f"expected a {kernel}x{kernel} convolution, found {k_w}x{k_h} (kW x kH)", path)
        if (d_w, d_h, p_w, p_h) != (stride, stride, padding, padding):
            raise ConversionError(
                f"expected stride {stride} and padding {padding}, found dW={d_w} dH={d_h} padW={p_w} padH={p_h}", path
            )
        shape = (n_out, n_in, k_h, k_w)
        if weight.numel() != int(np.prod(shape)):
            raise ConversionError(f"expected a weight of {n_out}x{n_in}x{k_h}x{k_w}, found size {tuple(weight.size)}", path)
        self.record_type(weight)
        self.entries.append(TensorEntry(f"{key}.weight", shape, "float32", _view(weight, shape)))
        bias = lua_module.get("bias")
        nonzero_bias = None
        if bias is not None:
            bias_tensor = _tensor_field(lua_module, "bias", path, ndim=(1,))
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
        eps = float(_number_field(lua_module, "eps", path, PYTORCH_BN_EPS))
        mean = _tensor_field(lua_module, "running_mean", path, ndim=(1,))
        if tuple(mean.size) != (channels,):
            raise ConversionError(f"expected BatchNorm statistics for {channels} channels, found running_mean of size {tuple(mean.size)}", path)
        version = int(getattr(lua_module, "version", 2) or 0)
        if isinstance(lua_module.get("running_var"), t7.T7Tensor) and not (version < 2 and "running_std" in lua_module):
            variance_source = _tensor_field(lua_module, "running_var", path, ndim=(1,))
            legacy = False
            self.bn_formats.add("running_var")
        elif isinstance(lua_module.get("running_std"), t7.T7Tensor) and version < 2:
            variance_source = _tensor_field(lua_module, "running_std", path, ndim=(1,))
            legacy = True
            self.bn_formats.add("running_std")
        else:
            found = "running_std with class version >= 2 (nn would ignore it)" if "running_std" in lua_module else "neither"
            raise ConversionError(f"expected BatchNorm field 'running_var' (or 'running_std' in class version < 2), found {found}", path)
        if tuple(variance_source.size) != (channels,):
            raise ConversionError(f"expected BatchNorm variance of size {channels}, found {tuple(variance_source.size)}", path)
        affine = lua_module.get("affine", "weight" in lua_module) is not False
        if affine:
            weight = _tensor_field(lua_module, "weight", path, ndim=(1,))
            bias = _tensor_field(lua_module, "bias", path, ndim=(1,))
            for name, tensor in (("weight", weight), ("bias", bias)):
                if tuple(tensor.size) != (channels,):
                    raise ConversionError(f"expected a BatchNorm {name} of size {channels}, found {tuple(tensor.size)}", path)
            self.record_type(weight)
            self.entries.append(TensorEntry(f"{key}.weight", (channels,), "float32", _view(weight, (channels,))))
            self.entries.append(TensorEntry(f"{key}.bias", (channels,), "float32", _view(bias, (channels,))))
        else:
            self.report.notes.append(f"{path}: BatchNorm without affine parameters; stored weight=1, bias=0")
            self.entries.append(TensorEntry(f"{key}.weight", (channels,), "float32", lambda: np.ones(channels, np.float32)))
            self.entries.append(TensorEntry(f"{key}.bias", (channels,), "float32", lambda: np.zeros(channels, np.float32)))
            self.record_type(mean)

        if shift is None:
            read_mean = _view(mean, (channels,))
        else:
            def read_mean(mean: t7.T7Tensor = mean, shift: np.ndarray = shift) -> np.ndarray:
                return (np.asarray(mean.numpy(), dtype=np.float64) - shift).astype(np.float32)

        if not legacy and eps == PYTORCH_BN_EPS:
            read_var = _view(variance_source, (channels,))
        else:
            def read_var(source: t7.T7Tensor = variance_source, legacy: bool = legacy, eps: float = eps) -> np.ndarray:
                values = np.asarray(source.numpy(), dtype=np.float64)
                variance = values ** -2.0 - eps if legacy else values
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
        p = float(_number_field(lua_module, "p", path, 0.5))
        if lua_module.get("v2", True) is False and p > 0:
            raise ConversionError("found an old nn.Dropout with v2=false (it scales outputs at test time); expected v2 dropout", path)
        self.drop_rates.append((p, path))
        self.report.dropout_modules += 1

    def pool(self, lua_module: t7.T7Object, path: str, kernel: int | None, stride: int | None, padding: int) -> int:
        k_w, k_h = int(_number_field(lua_module, "kW", path)), int(_number_field(lua_module, "kH", path))
        d_w, d_h = int(_number_field(lua_module, "dW", path, k_w)), int(_number_field(lua_module, "dH", path, k_h))
        p_w, p_h = int(lua_module.get("padW", 0) or 0), int(lua_module.get("padH", 0) or 0)
        expected_kernel = kernel if kernel is not None else k_w
        expected_stride = stride if stride is not None else expected_kernel
        if (k_w, k_h, d_w, d_h, p_w, p_h) != (expected_kernel, expected_kernel, expected_stride, expected_stride, padding, padding):
            raise ConversionError(
                f"expected {expected_kernel}x{expected_kernel} pooling, stride {expected_stride}, padding {padding}; "
                f"found kW={k_w} kH={k_h} dW={d_w} dH={d_h} padW={p_w} padH={p_h}",
                path,
            )
        if lua_module.get("ceil_mode", False):
            raise ConversionError("expected ceil_mode=false pooling", path)
        if _kind(lua_module) == "avgpool" and lua_module.typename.startswith("nn.") and lua_module.get("divide", False) is not True:
            raise ConversionError("expected an averaging nn.SpatialAveragePooling (divide=true); without 'divide' nn sums", path)
        return k_w

    def skip_dropout(self, modules: list[tuple[Any, str]], index: int) -> int:
        if index < len(modules) and _kind(modules[index][0]) == "dropout":
            self.dropout(*modules[index])
            return index + 1
        return index

    # - dense layers -
    def dense_layer(self, lua_module: t7.T7Object, path: str, key: str, channels: int, shift: np.ndarray | None) -> tuple[int, np.ndarray | None, str]:
        """Parse one dense layer; return (new features, their folded bias or None, layout)."""
        kind = _kind(lua_module)
        if kind == "custom":
            first, second = self.custom_parts(lua_module, path)
            layout = "custom"
        else:
            concat, concat_path = lua_module, path
            if kind == "sequential":
                children = _children(lua_module, path)
                if len(children) != 1 or _kind(children[0][0]) != "concat":
                    raise ConversionError("expected a dense layer nn.Sequential{nn.Concat(2){nn.Identity, nn.Sequential{...}}}", path)
                concat, concat_path = children[0]
            if concat.get("dimension") != 2:
                raise ConversionError(f"expected nn.Concat(2) (channel dimension), found dimension={concat.get('dimension')}", concat_path)
            branches = _children(concat, concat_path)
            if len(branches) != 2 or _kind(branches[0][0]) != "identity" or _kind(branches[1][0]) != "sequential":
                found = ", ".join(_describe(branch) for branch, _ in branches)
                raise ConversionError(f"expected nn.Concat(2){{nn.Identity, nn.Sequential}}, found {{{found}}}", concat_path)
            net = _children(*branches[1])
            first, second = net[:2], net[2:]
            layout = "standard"
        norm, norm_path = self.expect(first, 0, "bn", path)
        self.batchnorm(norm, norm_path, f"{key}.norm1", channels, shift)
        self.relu(*self.expect(first, 1, "relu", path))
        if len(first) != 2:
            raise ConversionError(f"expected BN, ReLU before the bottleneck, found {len(first)} modules", first[2][1] if len(first) > 2 else path)
        if not second or _kind(second[0][0]) != "conv":
            raise ConversionError(f"expected the bottleneck Conv1x1 after BN-ReLU, found {_describe(second[0][0]) if second else 'nothing'}", second[0][1] if second else path)
        conv1, conv1_path = second[0]
        if int(conv1.get("kW", 0)) == 3:
            raise ConversionError("found a dense layer without bottleneck (opt.bottleneck=false): BN-ReLU-Conv3x3; zoo.DenseNet needs DenseNet-BC layers", conv1_path)
        width, _, bias1 = self.conv(conv1, conv1_path, f"{key}.conv1", channels, 1, 1, 0)
        index = self.skip_dropout(second, 1)
        norm2, norm2_path = self.expect(second, index, "bn", path)
        self.batchnorm(norm2, norm2_path, f"{key}.norm2", width, bias1)
        self.relu(*self.expect(second, index + 1, "relu", path))
        conv2, conv2_path = self.expect(second, index + 2, "conv", path)
        growth, _, bias2 = self.conv(conv2, conv2_path, f"{key}.conv2", width, 3, 1, 1)
        index = self.skip_dropout(second, index + 3)
        if index != len(second):
            raise ConversionError(f"expected the dense layer to end after Conv3x3 [Dropout], found {_describe(second[index][0])}", second[index][1])
        self.growth_rates.append((growth, conv2_path))
        self.bottleneck_widths.append((width, conv1_path))
        return growth, bias2, layout

    def custom_parts(self, lua_module: t7.T7Object, path: str) -> tuple[list[tuple[Any, str]], list[tuple[Any, str]]]:
        parts = _children(lua_module, path)
        if len(parts) != 2 or any(_kind(part) != "sequential" for part, _ in parts):
            raise ConversionError("expected nn.DenseConnectLayerCustom with modules = {nn.Sequential, nn.Sequential}", path)
        nets = []
        for index, name in enumerate(("net1", "net2")):
            net = lua_module.get(name)
            if net is None:
                nets.append(parts[index])
                continue
            if _kind(net) != "sequential":
                raise ConversionError(f"expected '{name}' to be an nn.Sequential, found {_describe(net)}", path)
            mirror = [child.typename if isinstance(child, t7.T7Object) else None for child, _ in _children(*parts[index])]
            used = [child.typename if isinstance(child, t7.T7Object) else None for child, _ in _children(net, f"{path}.{name}")]
            if mirror != used:
                raise ConversionError(f"expected '{name}' to match modules[{index + 1}], found {used} vs {mirror}", path)
            nets.append((net, f"{path}.{name}"))
        return _children(*nets[0]), _children(*nets[1])


def _infer_compression(transitions: list[tuple[int, int, str]]) -> float:
    """The ``reduction`` with floor(in * reduction) == out for every transition (0.5 preferred)."""
    if not transitions:
        return 0.5
    low, high = 0.0, math.inf
    for in_channels, out_channels, _ in transitions:
        low = max(low, out_channels / in_channels)
        high = min(high, (out_channels + 1) / in_channels)
    candidates = [0.5] + [round(low, digits) for digits in range(1, 8)] + [math.ceil(low * 10**d) / 10**d for d in range(1, 8)] + [low]
    for candidate in candidates:
        if 0 < candidate <= 1 and all(math.floor(i * candidate) == o for i, o, _ in transitions):
            return candidate
    in_channels, out_channels, path = transitions[-1]
    raise ConversionError(f"transition widths are inconsistent with one compression factor (found {in_channels} -> {out_channels})", path)


def _count_modules(root: t7.T7Object) -> tuple[dict[str, int], dict[str, int]]:
    """Module classes as ``print(model)`` shows them, and tensor fields never read."""
    counts: collections.Counter[str] = collections.Counter()
    ignored: collections.Counter[str] = collections.Counter()
    seen: set[int] = set()
    stack = [root]
    while stack:
        lua_module = stack.pop()
        if id(lua_module) in seen:
            continue
        seen.add(id(lua_module))
        counts[lua_module.typename] += 1
        for name, value in lua_module.fields.items():
            if (
                isinstance(value, t7.T7Tensor)
                and value.storage is not None
                and np.issubdtype(np.dtype(value.dtype), np.floating)
                and name not in USED_TENSOR_FIELDS
            ):
                ignored[str(name)] += 1
        modules = lua_module.get("modules")
        if isinstance(modules, t7.T7Table):
            stack.extend(child for child in modules.values() if isinstance(child, t7.T7Object))
    return dict(counts), dict(ignored)


def plan_conversion(root: Any) -> ConversionPlan:
    """Infer the architecture of a parsed checkpoint and list its output tensors (nothing is read yet)."""
    path = "model"
    if _kind(root) == "dataparallel":
        children = _children(root, path)
        root, path = children[0]
    if _kind(root) != "sequential":
        raise ConversionError(f"expected the model to be an nn.Sequential, found {_describe(root)}", path)
    walker = _Walker()
    report = walker.report
    modules = _children(root, path)

    # Stem: 7x7/2 conv, BN, ReLU, 3x3/2 max pool (ImageNet) or a single 3x3 conv (CIFAR).
    stem_conv, stem_path = walker.expect(modules, 0, "conv", path)
    kernel = int(stem_conv.get("kW", 0))
    if kernel == 7:
        stem = "imagenet"
        channels, _, stem_bias = walker.conv(stem_conv, stem_path, "features.conv0", 3, 7, 2, 3)
        walker.batchnorm(*walker.expect(modules, 1, "bn", path), "features.norm0", channels, stem_bias)
        walker.relu(*walker.expect(modules, 2, "relu", path))
        walker.pool(*walker.expect(modules, 3, "maxpool", path), 3, 2, 1)
        shift, index = None, 4
    elif kernel == 3:
        stem = "cifar"
        channels, _, shift = walker.conv(stem_conv, stem_path, "features.conv0", 3, 3, 1, 1)
        index = 1
    else:
        raise ConversionError(f"expected the stem convolution to be 7x7 (ImageNet) or 3x3 (CIFAR), found {kernel}x{kernel}", stem_path)
    num_init_features = channels

    blocks: list[int] = []
    transitions: list[tuple[int, int, str]] = []
    num_classes = 0
    while True:
        block = len(blocks) + 1
        layers, layouts = 0, set()
        while index < len(modules) and _kind(modules[index][0]) in ("sequential", "concat", "custom"):
            layers += 1
            lua_module, layer_path = modules[index]
            growth, bias, layout = walker.dense_layer(lua_module, layer_path, f"features.denseblock{block}.denselayer{layers}", channels, shift)
            layouts.add(layout)
            if bias is not None or shift is not None:
                shift = np.concatenate([shift if shift is not None else np.zeros(channels), bias if bias is not None else np.zeros(growth)])
            channels += growth
            index += 1
        if layers == 0:
            found = _describe(modules[index][0]) if index < len(modules) else "the end of the model"
            where = modules[index][1] if index < len(modules) else path
            raise ConversionError(f"expected dense block {block}: a dense layer (nn.Sequential{{nn.Concat}} or nn.DenseConnectLayerCustom), found {found}", where)
        if len(layouts) > 1:
            raise ConversionError(f"dense block {block} mixes standard and DenseConnectLayerCustom layers", path)
        walker.layouts |= layouts
        blocks.append(layers)
        if "custom" in layouts:
            join, join_path = walker.expect(modules, index, "join", path)
            if not (join.get("dimension") == 2 or (join.get("dimension") == 1 and join.get("nInputDims") == 3)):
                raise ConversionError(f"expected nn.JoinTable(2) (channel dimension), found dimension={join.get('dimension')}", join_path)
            index += 1
        norm, norm_path = walker.expect(modules, index, "bn", path)
        walker.relu(*walker.expect(modules, index + 1, "relu", path))
        following = modules[index + 2][0] if index + 2 < len(modules) else None
        if _kind(following) == "conv":
            key = f"features.transition{block}"
            walker.batchnorm(norm, norm_path, f"{key}.norm", channels, shift)
            conv, conv_path = modules[index + 2]
            out_channels, _, shift = walker.conv(conv, conv_path, f"{key}.conv", channels, 1, 1, 0)
            transitions.append((channels, out_channels, conv_path))
            index = walker.skip_dropout(modules, index + 3)
            walker.pool(*walker.expect(modules, index, "avgpool", path), 2, 2, 0)
            channels, index = out_channels, index + 1
            continue
        if _kind(following) != "avgpool":
            found = _describe(following) if following is not None else "the end of the model"
            raise ConversionError(
                f"expected a transition Conv1x1 or the final SpatialAveragePooling after BN-ReLU, found {found}",
                modules[index + 2][1] if following is not None else path,
            )
        walker.batchnorm(norm, norm_path, "features.norm5", channels, shift)
        report.final_pool_size = walker.pool(*modules[index + 2], None, None, 0)
        canonical = (56 if stem == "imagenet" else 32) >> (len(blocks) - 1)
        if report.final_pool_size != canonical:
            report.notes.append(
                f"{modules[index + 2][1]}: the Lua model ends with {report.final_pool_size}x{report.final_pool_size} average "
                f"pooling, zoo.DenseNet pools globally; they agree when the final feature map is that size"
            )
        reshape, reshape_path = walker.expect(modules, index + 3, "reshape", path)
        sizes = reshape.get("size")
        reshape_numel = int(np.prod(sizes.numpy())) if isinstance(sizes, (t7.T7Storage, t7.T7Tensor)) else reshape.get("nelement", channels)
        if reshape_numel != channels:
            raise ConversionError(f"expected a reshape to {channels} features, found {reshape_numel}", reshape_path)
        linear, linear_path = walker.expect(modules, index + 4, "linear", path)
        weight = _tensor_field(linear, "weight", linear_path, ndim=(2,))
        if weight.size[1] != channels:
            raise ConversionError(f"expected nn.Linear({channels} -> classes), found weight of size {tuple(weight.size)}", linear_path)
        num_classes = int(weight.size[0])
        walker.record_type(weight)
        walker.entries.append(TensorEntry("classifier.weight", (num_classes, channels), "float32", _view(weight, (num_classes, channels))))
        if linear.get("bias") is not None:
            bias = _tensor_field(linear, "bias", linear_path, ndim=(1,))
            if tuple(bias.size) != (num_classes,):
                raise ConversionError(f"expected a bias of size {num_classes}, found {tuple(bias.size)}", linear_path)
            read_bias = _view(bias, (num_classes,))
        else:
            report.notes.append(f"{linear_path}: nn.Linear without bias; stored zeros")
            read_bias = lambda: np.zeros(num_classes, np.float32)  # noqa: E731
        walker.entries.append(TensorEntry("classifier.bias", (num_classes,), "float32", read_bias))
        if index + 5 != len(modules):
            raise ConversionError(f"expected the model to end with nn.Linear, found {_describe(modules[index + 5][0])} after it", modules[index + 5][1])
        break

    growth_rate = walker.growth_rates[0][0]
    for growth, conv_path in walker.growth_rates:
        if growth != growth_rate:
            raise ConversionError(f"expected every dense layer to add {growth_rate} channels (the growth rate), found {growth}", conv_path)
    width = walker.bottleneck_widths[0][0]
    for layer_width, conv_path in walker.bottleneck_widths:
        if layer_width != width:
            raise ConversionError(f"expected every bottleneck to have {width} channels, found {layer_width}", conv_path)
    if width % growth_rate:
        raise ConversionError(f"expected a bottleneck width that is a multiple of the growth rate {growth_rate}, found {width}", walker.bottleneck_widths[0][1])
    drop_rate = 0.0
    if walker.drop_rates:
        drop_rate = walker.drop_rates[0][0]
        for p, dropout_path in walker.drop_rates:
            if p != drop_rate:
                raise ConversionError(f"expected one dropout rate ({drop_rate}) everywhere, found {p}", dropout_path)
    try:
        config = DenseNetConfig(
            growth_rate=growth_rate,
            block_config=tuple(blocks),
            num_init_features=num_init_features,
            bn_size=width // growth_rate,
            compression=_infer_compression(transitions),
            drop_rate=drop_rate,
            num_classes=num_classes,
            stem=stem,
        )
    except ValueError as error:
        raise ConversionError(f"the inferred architecture is not a valid DenseNetConfig: {error}", path) from error

    report.layout = "custom" if "custom" in walker.layouts else "standard"
    report.tensor_types = dict(walker.tensor_types)
    report.batchnorm_format = "+".join(sorted(walker.bn_formats))
    report.module_counts, report.ignored_fields = _count_modules(root)
    if drop_rate > 0 and report.layout == "custom":
        report.notes.append("DenseConnectLayerCustom layers have no dropout in Lua; zoo.DenseNet applies drop_rate in dense layers when training")
    return ConversionPlan(config=config, report=report, entries=walker.entries)


def load_checkpoint(path_or_parsed: Any) -> Any:
    """The root object of a checkpoint given as a path or as an already parsed tree."""
    if isinstance(path_or_parsed, (str, os.PathLike)):
        return t7.load(os.fspath(path_or_parsed), lazy=True)
    return path_or_parsed


def convert(path_or_parsed: Any, progress: Callable[[int, int], None] | None = None) -> Conversion:
    """Convert a Lua DenseNet checkpoint (a ``.t7`` path or a parsed ``T7Object``) into a state dict.

    Raises ``converters.t7.T7FormatError`` for a malformed file and
    :class:`ConversionError` for a module tree that is not a convertible DenseNet.
    """
    plan = plan_conversion(load_checkpoint(path_or_parsed))
    return Conversion(state_dict=plan.materialize(progress), config=plan.config, report=plan.report)
