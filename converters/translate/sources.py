"""Lazy tensor sources: where each parameter and buffer of a translated module will be read from.

A :class:`TensorSource` is a promise of one tensor (shape, target dtype, a
reader over the memory-mapped Lua storage). Translation records one per
PyTorch state-dict name without reading anything; :meth:`TensorSource.materialize`
then allocates the tensor once, copies it out of the file and releases the
file pages it touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from converters.file_pages import drop_file_pages

if TYPE_CHECKING:
    from converters import t7

__all__ = ["NUMPY_DTYPES", "TensorSource"]

#: Floating numpy element types of Torch7 tensors -> the torch dtype that holds them exactly.
NUMPY_DTYPES = {
    np.dtype(np.float16): torch.float16,
    np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64,
}


@dataclass(frozen=True)
class TensorSource:
    """One tensor of a translated module, read from the Lua file only when materialised.

    ``read()`` returns a numpy array of ``shape`` in any floating type (often a
    read-only view into the memory-mapped file); ``dtype`` is the dtype the
    tensor gets; ``lua_path`` names where it comes from
    (``model.modules[1].weight``) for reports and errors; ``lua_tensor`` is the
    Lua tensor it reads (its type and storage elements, for reports and checks
    across tensors; never its payload).
    """

    shape: tuple[int, ...]
    dtype: torch.dtype
    read: Callable[[], np.ndarray]
    lua_path: str
    lua_tensor: t7.T7Tensor | None = None

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * torch.empty((), dtype=self.dtype).element_size()

    def reshape(self, shape: tuple[int, ...]) -> TensorSource:
        """The same elements viewed as ``shape`` (same number of elements; checked by the caller)."""
        read = self.read
        return TensorSource(tuple(shape), self.dtype, lambda: read().reshape(shape), self.lua_path, self.lua_tensor)

    def map(self, function: Callable[[np.ndarray], np.ndarray], note: str) -> TensorSource:
        """A source whose values are ``function(values)`` computed in float64; ``note`` says what it does."""
        read = self.read

        def mapped() -> np.ndarray:
            values = read()
            result = function(np.asarray(values, dtype=np.float64))
            drop_file_pages(values)
            return result

        return TensorSource(self.shape, self.dtype, mapped, f"{self.lua_path} ({note})", self.lua_tensor)

    def materialize(self) -> torch.Tensor:
        """A new tensor with its own memory holding the values (the file pages read are released)."""
        values = self.read()
        if tuple(values.shape) != self.shape:
            raise ValueError(f"{self.lua_path}: read a tensor of shape {values.shape}, expected {self.shape}")
        exact = self.dtype in NUMPY_DTYPES.values()
        tensor = torch.empty(self.shape, dtype=self.dtype if exact else torch.float64)
        np.copyto(tensor.numpy(), values, casting="same_kind")
        drop_file_pages(values)
        return tensor if exact else tensor.to(self.dtype)
