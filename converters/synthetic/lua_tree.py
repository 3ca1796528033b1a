"""The parts every Lua-checkpoint writer here shares: Torch7 objects as ``nn`` leaves them in a saved file.

:class:`LuaTreeBuilder` makes the pieces a saved ``nn`` module tree is built
from: module objects with their common fields (``_type``, ``train``), the
empty tensors that ``clearState`` leaves behind, tensors with storages of
their own (BatchNorm statistics, buffers), and parameters as Lua's
``getParameters`` leaves them: every weight and bias a view into one flat
storage, every gradient a view into a second one, in the order
``model:parameters()`` lists them. A family writer (``densenet``, ``resnet``,
``style_transfer``, ``openface``) reserves parameters while it builds its
tree and calls :meth:`LuaTreeBuilder.finish` once, which allocates the two
flat storages and puts the views in place (also into the copies that
:meth:`LuaTreeBuilder.deep_copy` made). It also makes the modules that
fb.resnet.torch-trained models (DenseNet, ResNet) share: cuDNN convolutions,
ReLUs and average pooling with the sizes they cached, max pooling, containers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from converters import t7
from converters.t7.objects import contiguous_strides
from converters.t7.typenames import STORAGE_OF_TENSOR, TENSOR_DTYPES

#: How parameter values are drawn: ``"trained"`` (spread like a trained model's, so outputs are meaningful),
#: ``"init"`` (the Lua code's own initialisation, before any step) or ``"zeros"`` (no drawing at all: cheap,
#: for layouts, sizes and parameter counts).
WEIGHTS = ("trained", "init", "zeros")

#: Tensor type -> the cudnn data type name that a cuDNN convolution of that type records.
CUDNN_DATA_TYPES: dict[str, str] = {
    "torch.FloatTensor": "CUDNN_DATA_FLOAT",
    "torch.DoubleTensor": "CUDNN_DATA_DOUBLE",
    "torch.CudaTensor": "CUDNN_DATA_FLOAT",
    "torch.CudaDoubleTensor": "CUDNN_DATA_DOUBLE",
}

#: A parameter's values: flat, in the tensor's element type, or a function drawing them when
#: :meth:`LuaTreeBuilder.finish` fills the flat storage (in reservation order).
Values = np.ndarray | Callable[[], np.ndarray]


@dataclass
class _Slot:
    """One parameter reserved in the flat storages; its views are made in :meth:`LuaTreeBuilder.finish`."""

    fields: dict[str, Any]  # the module's field table once the module is made
    name: str
    grad_name: str
    values: Values
    shape: tuple[int, ...]
    offset: int = 0
    copies: list[dict[str, Any]] = field(default_factory=list)  # deep copies of ``fields``, sharing the views


@dataclass
class LuaTreeBuilder:
    """Makes Torch7 objects of one tensor type and remembers the parameters to flatten.

    ``train`` is the value of the modules' ``train`` field (``training()`` sets
    it; a module made after the last such call has none: ``with_train=False``).
    """

    tensor_type: str
    rng: np.random.Generator
    weights: str = "trained"
    train: bool | None = True
    slots: list[_Slot] = field(default_factory=list)
    flat_size: int = 0
    _pending: list[_Slot] = field(default_factory=list)
    _orphans: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.tensor_type not in TENSOR_DTYPES:
            raise ValueError(f"unknown Torch tensor class {self.tensor_type!r}")
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {self.weights!r}")

    @property
    def dtype(self) -> np.dtype:
        return TENSOR_DTYPES[self.tensor_type]

    # -- values ------------------------------------------------------------------------
    def empty(self) -> t7.T7Tensor:
        """``torch.Tensor()``, as ``clearState`` and ``sanitize`` leave buffers: no size, no storage."""
        return t7.T7Tensor(self.tensor_type, (), (), 0, None)

    def own(self, values: Any) -> t7.T7Tensor:
        """A contiguous tensor with a storage of its own holding ``values``."""
        return t7.T7Tensor.from_numpy(np.ascontiguousarray(values, dtype=self.dtype), self.tensor_type)

    @staticmethod
    def long_storage(values: list[int]) -> t7.T7Storage:
        return t7.T7Storage.from_numpy(np.asarray(values, dtype=np.int64), "torch.LongStorage")

    @staticmethod
    def table(values: dict[Any, Any] | None = None) -> t7.T7Table:
        return t7.T7Table(values or {})

    @staticmethod
    def listing(items: list[Any]) -> t7.T7Table:
        """A Lua list (keys 1..n)."""
        return t7.T7Table({index + 1: item for index, item in enumerate(items)})

    def draw(self, kind: str, shape: tuple[int, ...], **spread: float) -> np.ndarray:
        """Values for one tensor (flat, in the element type) under the builder's ``weights`` rule.

        ``kind`` is ``"normal"`` (``std``), ``"uniform"`` (``bound``: +-bound), or one of the BatchNorm /
        bias kinds whose Lua initialisation is a constant: ``"ones"`` (BN weight, running_var) and
        ``"zeros"`` (BN bias, zeroed biases, running_mean). ``"trained"`` spreads the constant kinds
        (ones -> uniform(0.5, 1.5), zeros -> normal(0, 0.2)) so that no layer is an identity.
        """
        numel = int(np.prod(shape))
        if self.weights == "zeros":
            return np.zeros(numel, dtype=self.dtype)
        rng = self.rng
        if kind == "normal":
            values = rng.standard_normal(numel, dtype=np.float32) * np.float32(spread["std"])
        elif kind == "uniform":
            values = rng.uniform(-spread["bound"], spread["bound"], numel)
        elif kind == "ones":
            values = rng.uniform(0.5, 1.5, numel) if self.weights == "trained" else np.ones(numel)
        elif kind == "zeros":
            values = rng.normal(0.0, 0.2, numel) if self.weights == "trained" else np.zeros(numel)
        else:
            raise ValueError(f"unknown value kind {kind!r}")
        return values.astype(self.dtype, copy=False)

    # -- modules -----------------------------------------------------------------------
    def module(
        self, typename: str, fields: dict[str, Any], version: int = 1, *, with_train: bool = True
    ) -> t7.T7Object:
        """An instance of ``typename`` with ``fields``, ``_type`` and (``with_train``) the builder's ``train``."""
        table = self.table({"_type": self.tensor_type})
        if with_train and self.train is not None:
            table["train"] = self.train
        table.update(fields)
        for slot in self._pending:  # the parameters just reserved (on ``fields`` or a copy) live in this table
            if slot.name not in table or table[slot.name] is not None:
                raise RuntimeError(f"{typename} does not hold the pending parameter {slot.name!r}")
            slot.fields = table
        self._pending.clear()
        return t7.T7Object(typename, table, version=version)

    def batchnorm(self, channels: int, *, flat: bool = True, **fields: Any) -> t7.T7Object:
        """``nn.SpatialBatchNormalization(channels)`` (class version 2: ``running_var``) after ``clearState``,
        its weight and bias in the flat storages (``flat``) or in storages of their own; ``fields`` add or
        replace fields."""
        table: dict[str, Any] = {
            "affine": True,
            "eps": 1e-5,
            "gradInput": self.empty(),
            "momentum": 0.1,
            "output": self.empty(),
            "running_mean": self.own(self.draw("zeros", (channels,))),
            "running_var": self.own(self.draw("ones", (channels,))),
            "save_mean": self.empty(),
            "save_std": self.empty(),
            **fields,
        }
        add = self.parameter if flat else self.own_parameter
        add(table, "weight", "gradWeight", self.draw("ones", (channels,)), (channels,))
        add(table, "bias", "gradBias", self.draw("zeros", (channels,)), (channels,))
        return self.module("nn.SpatialBatchNormalization", table, version=2)

    def convolution_fields(self, n_in: int, n_out: int, kernel: int, stride: int, pad: int) -> dict[str, Any]:
        """The fields of an nn (full) convolution besides its parameters, its unfolding buffers emptied."""
        return {
            "dH": stride,
            "dW": stride,
            "fgradInput": self.empty(),
            "finput": self.empty(),
            "gradInput": self.empty(),
            "kH": kernel,
            "kW": kernel,
            "nInputPlane": n_in,
            "nOutputPlane": n_out,
            "output": self.empty(),
            "padH": pad,
            "padW": pad,
        }

    # -- fb.resnet.torch's modules, with the sizes of the last forward pass (``batch`` images of ``size``^2) --
    def cudnn_convolution_fields(
        self, n_in: int, n_out: int, kernel: int, stride: int, pad: int, size: int, batch: int, *, first: bool = False
    ) -> dict[str, Any]:
        """The fields of a ``cudnn.SpatialConvolution`` (cuDNN R5, no bias) besides its weight; the first
        convolution has no ``gradInput`` (``createModel``: ``model:get(1).gradInput = nil``)."""
        out = (size + 2 * pad - kernel) // stride + 1
        data_type = CUDNN_DATA_TYPES[self.tensor_type]
        pair = self.table
        fields: dict[str, Any] = {
            "autotunerHash": (
                f"-dimA{batch},{n_in},{size},{size} -filtA{n_out},{n_in},{kernel},{kernel} "
                f"{batch},{n_out},{out},{out} -padA{pad},{pad} -convStrideA{stride},{stride} {data_type}"
            ),
            "convDescData": pair(
                {
                    "dataType": data_type,
                    "filterStrideA": pair({1: stride, 2: stride}),
                    "padA": pair({1: pad, 2: pad}),
                    "upscaleA": pair({1: 1, 2: 1}),
                }
            ),
            "dH": stride,
            "dW": stride,
            "groups": 1,
            "iSize": self.long_storage([batch, n_in, size, size]),
            "input_offset": n_in * size * size,
            "input_slice": self.empty(),
            "kH": kernel,
            "kW": kernel,
            "nInputPlane": n_in,
            "nOutputPlane": n_out,
            "output": self.empty(),
            "output_offset": n_out * out * out,
            "output_slice": self.empty(),
            "pad": pair({1: pad, 2: pad}),
            "padH": pad,
            "padW": pad,
            "stride": pair({1: stride, 2: stride}),
            "weight_offset": n_out * n_in * kernel * kernel,
        }
        if not first:
            fields["gradInput"] = self.empty()
        return fields

    def cudnn_relu(self, numel: int) -> t7.T7Object:
        """``cudnn.ReLU(true)`` after a forward pass over ``numel`` elements."""
        fields = {
            "gradInput": self.empty(),
            "inplace": True,
            "mode": "CUDNN_ACTIVATION_RELU",
            "nElem": numel,
            "output": self.empty(),
        }
        return self.module("cudnn.ReLU", fields)

    def cudnn_average_pooling(self, kernel: int, stride: int, channels: int, size: int, batch: int) -> t7.T7Object:
        """``cudnn.SpatialAveragePooling(kernel, kernel, stride, stride)`` over ``channels`` maps of ``size``."""
        fields = {
            "ceil_mode": False,
            "count_include_pad": True,
            "dH": stride,
            "dW": stride,
            "gradInput": self.empty(),
            "iSize": self.long_storage([batch, channels, size, size]),
            "kH": kernel,
            "kW": kernel,
            "mode": "CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING",
            "output": self.empty(),
            "padH": 0,
            "padW": 0,
        }
        return self.module("cudnn.SpatialAveragePooling", fields)

    def stem_max_pooling(self, size: int) -> t7.T7Object:
        """The ImageNet stem's ``nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1)`` over maps of ``size``."""
        fields = {
            "ceil_mode": False,
            "dH": 2,
            "dW": 2,
            "gradInput": self.empty(),
            "iheight": size,
            "iwidth": size,
            "indices": self.empty(),  # a LongTensor on the CPU, but :float() made it a FloatTensor
            "kH": 3,
            "kW": 3,
            "output": self.empty(),
            "padH": 1,
            "padW": 1,
        }
        return self.module("nn.SpatialMaxPooling", fields)

    def sequential(self, modules: list[t7.T7Object], *, root: bool = False) -> t7.T7Object:
        """``nn.Sequential`` of ``modules``; the root has no ``gradInput`` (it was its first module's, which
        ``createModel`` removed)."""
        fields: dict[str, Any] = {"modules": self.listing(modules), "output": self.empty()}
        if not root:
            fields["gradInput"] = self.empty()
        return self.module("nn.Sequential", fields)

    def deep_copy(self, value: Any) -> Any:
        """fb.resnet.torch's ``deepCopy``: new Lua tables all the way down, the same tensors and storages.

        A copied module whose parameters are reserved gets the same views as the original in :meth:`finish`.
        """
        copies: dict[int, t7.T7Table] = {}
        result = _copy_tables(value, copies)
        for slot in self.slots:
            copy = copies.get(id(slot.fields))
            if copy is not None:
                slot.copies.append(copy)
        return result

    def parameter(self, fields: dict[str, Any], name: str, grad_name: str, values: Values, shape: tuple) -> None:
        """Reserve ``fields[name]`` (and ``fields[grad_name]``) in the flat storages, holding ``values``."""
        slot = _Slot(fields=fields, name=name, grad_name=grad_name, values=values, shape=tuple(shape))
        slot.offset = self.reserve(int(np.prod(slot.shape)))
        self.slots.append(slot)
        self._pending.append(slot)
        fields[name] = fields[grad_name] = None  # placeholders: the views are attached by finish()

    def reserve(self, numel: int) -> int:
        """Room for ``numel`` elements in the flat storages; returns its offset."""
        offset = self.flat_size
        self.flat_size += int(numel)
        return offset

    def orphan(self, values: np.ndarray) -> None:
        """A region of the flat storages that holds ``values`` but that no module points at any more: the
        parameters of a module replaced after ``getParameters`` (the storage is saved whole)."""
        self._orphans.append((self.reserve(values.size), values))

    def own_parameter(self, fields: dict[str, Any], name: str, grad_name: str, values: np.ndarray, shape) -> None:
        """A weight or bias with storages of its own (a module made after ``getParameters``)."""
        fields[name] = self.own(values.reshape(shape))
        fields[grad_name] = self.own(self.gradient_of(values).reshape(shape))

    def gradient_of(self, values: np.ndarray) -> np.ndarray:
        """The last step's gradient of ``values``: only its presence and size matter, a scaled copy will do."""
        return values * self.dtype.type(-1e-3)

    def finish(self) -> None:
        """Allocate the flat weight and gradient storages and point every reserved parameter into them."""
        weights = np.zeros(self.flat_size, dtype=self.dtype)
        if self.weights == "zeros":
            gradients = np.zeros(self.flat_size, dtype=self.dtype)
        else:
            regions = [(slot.offset, slot.values) for slot in self.slots] + self._orphans
            for offset, values in regions:
                values = values() if callable(values) else values
                weights[offset : offset + values.size] = values
            gradients = self.gradient_of(weights)
        storage_type = STORAGE_OF_TENSOR[self.tensor_type]
        weight_storage = t7.T7Storage.from_numpy(weights, storage_type)
        gradient_storage = t7.T7Storage.from_numpy(gradients, storage_type)
        for slot in self.slots:
            strides = contiguous_strides(slot.shape)
            weight = t7.T7Tensor(self.tensor_type, slot.shape, strides, slot.offset, weight_storage)
            gradient = t7.T7Tensor(self.tensor_type, slot.shape, strides, slot.offset, gradient_storage)
            for fields in (slot.fields, *slot.copies):
                fields[slot.name], fields[slot.grad_name] = weight, gradient
        self.slots.clear()
        self._orphans.clear()


def _copy_tables(value: Any, copies: dict[int, t7.T7Table]) -> Any:
    """``value`` with new tables (and objects) all the way down; ``copies`` maps each old table's id to its copy."""
    if isinstance(value, t7.T7Object):
        return t7.T7Object(value.typename, _copy_tables(value.fields, copies), version=value.version)
    if isinstance(value, t7.T7Table):
        copy = t7.T7Table((key, _copy_tables(item, copies)) for key, item in value.items())
        copies[id(value)] = copy
        return copy
    return value
