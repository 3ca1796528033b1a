"""What a conversion produces: the lazily read output tensors, the report, the state dict.

:class:`ConversionPlan` is what :func:`converters.densenet.plan_conversion`
infers from a checkpoint without reading its weights; ``converters.export``
streams its entries into a file and :meth:`ConversionPlan.materialize` turns
them into a state dict (the :class:`Conversion` that ``convert`` returns).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from converters.file_pages import drop_file_pages
from zoo.models.densenet import DenseNetConfig

__all__ = ["Conversion", "ConversionPlan", "ConversionReport", "TensorEntry"]


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the output state dict, read from the checkpoint on demand.

    ``read()`` returns a numpy array of ``shape`` (any floating dtype for a
    floating ``dtype``; possibly a read-only view into the file).
    """

    key: str
    shape: tuple[int, ...]
    dtype: str  # "float32" or "int64" for a DenseNet; a general module's tensors may be "float16" or "float64"
    read: Callable[[], np.ndarray]

    @property
    def nbytes(self) -> int:
        """Size of the output tensor in bytes."""
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


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
        """A JSON-ready dict with sorted counters (what ``densenet-zoo inspect --json`` prints as ``report``)."""
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
        """Size of all output tensors in bytes (what a progress bar counts up to)."""
        return sum(entry.nbytes for entry in self.entries)

    @property
    def num_parameters(self) -> int:
        """Learnable parameters (weights and biases; not BatchNorm statistics)."""
        return sum(int(np.prod(entry.shape)) for entry in self.entries if entry.key.endswith((".weight", ".bias")))

    def materialize(
        self, progress: Callable[[int, int], None] | None = None
    ) -> collections.OrderedDict[str, torch.Tensor]:
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
