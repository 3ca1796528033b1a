"""Torch7 tensor and storage class names and their element types.

Every Torch7 file written on Linux/macOS x86_64 stores elements in
little-endian byte order, and ``long`` as 8 bytes, so the dtypes here are
explicit little-endian numpy dtypes. ``torch.Cuda*`` classes (saved from GPU
tensors) are stored exactly like their CPU counterparts; ``torch.CudaTensor``
is the float32 one.
"""

from __future__ import annotations

import numpy as np

# element name -> (numpy dtype, CPU prefix, CUDA prefix)
_ELEMENTS = {
    "Byte": (np.dtype("<u1"), "torch.Byte", "torch.CudaByte"),
    "Char": (np.dtype("<i1"), "torch.Char", "torch.CudaChar"),
    "Short": (np.dtype("<i2"), "torch.Short", "torch.CudaShort"),
    "Int": (np.dtype("<i4"), "torch.Int", "torch.CudaInt"),
    "Long": (np.dtype("<i8"), "torch.Long", "torch.CudaLong"),
    "Float": (np.dtype("<f4"), "torch.Float", "torch.Cuda"),
    "Double": (np.dtype("<f8"), "torch.Double", "torch.CudaDouble"),
    "Half": (np.dtype("<f2"), "torch.Half", "torch.CudaHalf"),
}

#: tensor class name -> element dtype, e.g. ``"torch.CudaTensor" -> float32``
TENSOR_DTYPES: dict[str, np.dtype] = {}
#: storage class name -> element dtype
STORAGE_DTYPES: dict[str, np.dtype] = {}
#: tensor class name -> the storage class name its storage must have
STORAGE_OF_TENSOR: dict[str, str] = {}
#: numpy dtype -> default (CPU) tensor / storage class names
_CPU_NAMES: dict[np.dtype, tuple[str, str]] = {}

for _dtype, _cpu, _cuda in _ELEMENTS.values():
    for _prefix in (_cpu, _cuda):
        TENSOR_DTYPES[_prefix + "Tensor"] = _dtype
        STORAGE_DTYPES[_prefix + "Storage"] = _dtype
        STORAGE_OF_TENSOR[_prefix + "Tensor"] = _prefix + "Storage"
    _CPU_NAMES[_dtype] = (_cpu + "Tensor", _cpu + "Storage")


def _little_endian(dtype: np.dtype) -> np.dtype:
    return np.dtype(dtype).newbyteorder("<")


def default_typenames(dtype: np.dtype) -> tuple[str, str]:
    """The CPU ``(tensor, storage)`` class names for a numpy dtype, e.g. float32 -> FloatTensor."""
    key = _little_endian(dtype)
    try:
        return _CPU_NAMES[key]
    except KeyError:
        supported = ", ".join(sorted(str(d) for d in _CPU_NAMES))
        raise TypeError(
            f"Torch7 has no tensor type for numpy dtype {np.dtype(dtype)}; use one of {supported}"
        ) from None


def element_dtype(typename: str) -> np.dtype:
    """The element dtype of a tensor or storage class name (``KeyError`` if it is neither)."""
    dtype = TENSOR_DTYPES.get(typename)
    return dtype if dtype is not None else STORAGE_DTYPES[typename]
