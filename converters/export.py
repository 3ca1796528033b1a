"""Write and read converted DenseNet weights (``.safetensors`` or ``.pth``).

* ``.safetensors`` (default) carries the metadata: ``config`` (the
  ``DenseNetConfig`` as JSON), ``converter_version``, and ``source_sha256``
  when the weights came from a file. The writer streams: one tensor at a time
  goes from the checkpoint (or memory) to the output, so converting a large
  checkpoint never holds a second copy of the weights.
* ``.pth`` is a plain state dict (``torch.load(path, weights_only=True)``
  works); it has no room for metadata, so :func:`read_saved_weights` infers the
  config from the tensor shapes (everything but ``drop_rate``, which does not
  change evaluation, is recoverable; it is reported as 0).

Every write goes to a temporary file in the destination directory and is
renamed into place; an existing file is only replaced with ``force=True``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from converters import t7
from converters.densenet import CONVERTER_VERSION, infer_compression, plan_conversion
from converters.errors import ConversionError
from converters.file_pages import drop_file_pages
from converters.plan import ConversionPlan, TensorEntry
from converters.views import view_backing_problem
from densenet_zoo_util.atomic import atomic_output
from densenet_zoo_util.hashing import file_sha256
from zoo.models.densenet import DenseNetConfig, state_dict_mismatch, state_dict_shapes

__all__ = [
    "FORMATS",
    "check_output",
    "check_state_dict",
    "config_from_state_dict",
    "convert_file",
    "load_torch_state_dict",
    "read_metadata",
    "read_saved_weights",
    "save_plan",
    "save_weights",
    "source_metadata",
    "write_safetensors",
]

FORMATS = ("safetensors", "pth")
_SAFETENSORS_DTYPES = {
    "float16": ("F16", "<f2"),
    "float32": ("F32", "<f4"),
    "float64": ("F64", "<f8"),
    "int64": ("I64", "<i8"),
}
_CHUNK_ELEMENTS = 1 << 22  # conversion chunk for non-float32 sources (16 MiB of output)

Progress = Callable[[int, int], None]


def resolve_format(path: str | os.PathLike[str], format: str | None) -> str:
    """``format`` if given, else from the suffix (``.pth``/``.pt`` -> pth, anything else -> safetensors)."""
    if format is None:
        return "pth" if Path(path).suffix.lower() in (".pth", ".pt") else "safetensors"
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    return format


def output_target(
    source: str | os.PathLike[str], path: str | os.PathLike[str] | None, format: str | None
) -> tuple[Path, str]:
    """Where a conversion of ``source`` goes and in which format.

    With no ``path``: ``source``'s name with ``.safetensors`` (or ``.pth``) in the
    current directory; the format defaults to safetensors, or follows ``path``'s suffix.
    """
    if path is None:
        fmt = resolve_format(".safetensors", format)
        return Path.cwd() / (Path(source).stem + (".pth" if fmt == "pth" else ".safetensors")), fmt
    return Path(path), resolve_format(path, format)


def _metadata(config: DenseNetConfig, extra: Mapping[str, Any] | None) -> dict[str, str]:
    metadata = {"format": "pt", "config": config.to_json(), "converter_version": CONVERTER_VERSION}
    for key, value in (extra or {}).items():
        metadata[str(key)] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return metadata


def _write_array(output: BinaryIO, array: np.ndarray, little_endian: str) -> None:
    if array.dtype == np.dtype(little_endian) and array.flags.c_contiguous and array.ndim > 0:
        output.write(memoryview(array.reshape(-1)).cast("B"))
        return
    flat = np.asarray(array).reshape(-1)
    for start in range(0, max(flat.size, 1), _CHUNK_ELEMENTS):
        chunk = np.ascontiguousarray(flat[start : start + _CHUNK_ELEMENTS], dtype=little_endian)
        output.write(chunk.tobytes() if chunk.ndim == 0 else memoryview(chunk).cast("B"))


def _write_safetensors(
    output: BinaryIO, entries: list[TensorEntry], metadata: dict[str, str], progress: Progress | None
) -> None:
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for entry in entries:
        if entry.key in header:
            raise ValueError(f"duplicate tensor name {entry.key!r}")
        header[entry.key] = {
            "dtype": _SAFETENSORS_DTYPES[entry.dtype][0],
            "shape": list(entry.shape),
            "data_offsets": [offset, offset + entry.nbytes],
        }
        offset += entry.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    output.write(struct.pack("<Q", len(encoded)))
    output.write(encoded)
    done = 0
    for entry in entries:
        source = entry.read()
        if tuple(source.shape) != tuple(entry.shape):
            raise ValueError(f"{entry.key}: expected shape {entry.shape}, got {tuple(source.shape)}")
        _write_array(output, source, _SAFETENSORS_DTYPES[entry.dtype][1])
        drop_file_pages(source)
        done += entry.nbytes
        if progress is not None:
            progress(done, offset)


def write_safetensors(
    path: str | os.PathLike[str],
    entries: list[TensorEntry],
    metadata: Mapping[str, str],
    force: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Stream ``entries`` (read one at a time) into a ``.safetensors`` file written atomically; return the path."""
    target = Path(path)
    with atomic_output(target, force=force) as output:
        _write_safetensors(output, entries, dict(metadata), progress)
    return target


def _entries_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> list[TensorEntry]:
    entries = []
    for key, tensor in state_dict.items():
        tensor = tensor.detach().cpu()
        if tensor.dtype == torch.int64:
            dtype = "int64"
        elif tensor.is_floating_point():
            dtype = "float32"
        else:
            raise ValueError(f"{key}: expected a floating or int64 tensor, found {tensor.dtype}")
        entries.append(
            TensorEntry(key, tuple(tensor.shape), dtype, (lambda tensor=tensor: tensor.contiguous().numpy()))
        )
    return entries


def save_weights(
    state_dict: Mapping[str, torch.Tensor],
    config: DenseNetConfig,
    path: str | os.PathLike[str],
    format: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    force: bool = False,
) -> Path:
    """Write ``state_dict`` atomically as ``.safetensors`` (with config metadata) or ``.pth``; return the path."""
    fmt = resolve_format(path, format)
    target = Path(path)
    with atomic_output(target, force=force) as output:
        if fmt == "pth":
            torch.save({key: tensor.detach().cpu().contiguous() for key, tensor in state_dict.items()}, output)
        else:
            _write_safetensors(output, _entries_from_state_dict(state_dict), _metadata(config, metadata), None)
    return target


def save_plan(
    plan: ConversionPlan,
    path: str | os.PathLike[str],
    format: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Write a :class:`ConversionPlan` straight from the checkpoint to ``path`` (streaming for safetensors)."""
    fmt = resolve_format(path, format)
    if fmt == "pth":
        return save_weights(plan.materialize(progress), plan.config, path, format="pth", force=force)
    return write_safetensors(path, plan.entries, _metadata(plan.config, metadata), force, progress)


def check_output(target: Path, force: bool = False, parents: bool = False) -> None:
    """Fail before a (long) conversion when ``target`` cannot be written as asked.

    An existing ``target`` needs ``force``; a missing directory is created (when
    the file is written) only with ``parents``, never silently.
    """
    if target.exists() and not force:
        raise FileExistsError(f"{target} already exists; pass force=True (CLI: --force) to overwrite it")
    if parents or target.parent.is_dir():
        return
    if target.parent.exists():
        raise NotADirectoryError(f"cannot write {target}: {target.parent} is not a directory")
    raise FileNotFoundError(
        f"cannot write {target}: the directory {target.parent} does not exist; "
        "create it or pass parents=True (CLI: --parents)"
    )


def convert_file(
    source: str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
    format: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    parents: bool = False,
) -> tuple[Path, ConversionPlan]:
    """Convert the checkpoint ``source`` into ``path`` without holding the weights in memory twice.

    ``path=None`` writes next to the current directory (see :func:`output_target`);
    ``parents=True`` creates missing directories of ``path``. The safetensors
    metadata records the source's sha256. Returns the written path and the plan
    (config and report).
    """
    target, format = output_target(source, path, format)
    check_output(target, force, parents)
    plan = plan_conversion(t7.ensure_loaded(source))
    return save_plan(
        plan, target, format=format, metadata=source_metadata(source), force=force, progress=progress
    ), plan


def source_metadata(source: str | os.PathLike[str]) -> dict[str, str]:
    """The safetensors metadata naming the checkpoint the weights came from: its sha256 and file name.

    Recorded so a converted file can be traced back to (and checked against) the original ``.t7``.
    """
    return {"source_sha256": file_sha256(source), "source_name": Path(source).name}


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``__metadata__`` of a ``.safetensors`` file ({} for ``.pth``); ConversionError for other files."""
    if _is_torch_file(path):
        return {}
    return _read_safetensors(path, tensors=False)[1]


def _is_torch_file(path: str | os.PathLike[str]) -> bool:
    """True for a ``torch.save`` file (a zip, or the legacy pickle format); False for anything else.

    A safetensors file starts with an 8-byte header length and then ``{``; a pickle starts with ``\\x80``.
    """
    with open(path, "rb") as source:
        start = source.read(9)
    return start.startswith(b"PK\x03\x04") or (start.startswith(b"\x80") and start[8:9] != b"{")


def read_saved_weights(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], DenseNetConfig]:
    """``(state_dict, config)`` from a file :func:`save_weights` wrote (the format is detected from the content).

    The config comes from the safetensors metadata; for ``.pth`` files (and
    safetensors without metadata) it is inferred from the tensor shapes. Either
    way it is checked against the tensors really in the file (names, shapes,
    kinds) before it is returned, so nothing is built from a config the file
    does not back. Anything else raises :class:`ConversionError`.
    """
    if _is_torch_file(path):
        state_dict = load_torch_state_dict(path)
        config = config_from_state_dict(state_dict)
    else:
        state_dict, metadata = _read_safetensors(path, tensors=True)
        if "config" in metadata:
            config = _metadata_config(metadata["config"], path)
        else:
            config = config_from_state_dict(state_dict)
    check_state_dict(state_dict, config, str(path))
    return state_dict, config


def _read_safetensors(path: str | os.PathLike[str], tensors: bool) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (when ``tensors``) and the metadata of a safetensors file, which validates its own header."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(os.fspath(path), framework="pt") as weights:  # one open for tensors and metadata
            metadata = weights.metadata() or {}
            keys = weights.keys() if tensors else []
            return {key: weights.get_tensor(key) for key in keys}, dict(metadata)
    except (SafetensorError, OSError) as error:
        raise ConversionError(
            f"{path} is neither a safetensors file nor a torch.save file ({error}); "
            "expected weights written by densenet-zoo convert, zoo's save_weights or torch.save"
        ) from error


def _metadata_config(text: str, path: str | os.PathLike[str]) -> DenseNetConfig:
    """The ``DenseNetConfig`` a safetensors file's ``config`` metadata (JSON) declares."""
    try:
        return DenseNetConfig.from_dict(json.loads(text))
    except (ValueError, RecursionError) as error:  # json.JSONDecodeError is a ValueError
        raise ConversionError(
            f"{path}: the 'config' metadata is not a valid DenseNetConfig ({str(error)[:300]}); "
            "convert the original checkpoint again, or remove the metadata to infer the config from the tensors"
        ) from None


def load_torch_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save`` file: a state dict, or a dict holding one under ``"state_dict"``.

    Loaded with ``weights_only=True``, so nothing in the file is executed; every
    value must be a plain (strided, CPU) tensor backed by its own storage
    elements, so a few bytes cannot declare a huge tensor. Raises
    :class:`ConversionError` for anything else.
    """
    with open(path, "rb"):  # a missing or unreadable file is the OSError it is; after this, errors are the content's
        pass
    try:
        loaded = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # its text advises weights_only=False, which would run the file's code
        refused = re.search(r"unsupported (?:global: )?GLOBAL ([\w.]+)", str(error), re.IGNORECASE)
        reason = f" (it needs {refused.group(1)})" if refused else ""
        raise ConversionError(
            f"{path} is not a plain tensor state dict{reason}, and loading it would run code from the file, so it "
            "cannot be loaded safely. Re-save the weights as a state dict (torch.save(model.state_dict(), path)) "
            "where they come from, or convert the original .t7 checkpoint"
        ) from None
    except Exception as error:  # whatever torch's zip and pickle readers raise for malformed bytes (OSError too)
        detail = (str(error).strip().splitlines() or [""])[0][:300]
        raise ConversionError(
            f"{path} cannot be read as a torch.save file ({type(error).__name__}: {detail}); "
            "it is truncated, corrupt or not a PyTorch file"
        ) from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise ConversionError(f"expected a state dict (a dict of tensors) in {path}, found {type(loaded).__name__}")
    for key, tensor in loaded.items():
        problem = _tensor_problem(key, tensor)
        if problem is not None:
            raise ConversionError(f"{path}: expected a state dict of plain tensors, found {problem}")
    return dict(loaded)


def _tensor_problem(key: Any, tensor: Any) -> str | None:
    """What makes ``key: tensor`` something other than a named, plain tensor backed by its own storage."""
    if not isinstance(key, str):
        return f"the key {key!r:.60} (keys are parameter names)"
    if not isinstance(tensor, torch.Tensor):
        return f"{key!r}: {type(tensor).__name__}"
    if tensor.layout != torch.strided or tensor.is_nested or tensor.is_quantized or tensor.device.type != "cpu":
        return f"{key!r}: a {tensor.layout} {tensor.dtype} tensor on {tensor.device} (expected a dense CPU tensor)"
    if tensor.numel() == 0:
        return None
    storage_elements = tensor.untyped_storage().nbytes() // tensor.element_size()
    problem = view_backing_problem(tensor.shape, tensor.stride(), tensor.storage_offset(), storage_elements)
    return None if problem is None else f"{key!r}: a view that {problem}"


def check_state_dict(state_dict: Mapping[str, torch.Tensor], config: DenseNetConfig, where: str) -> None:
    """Refuse tensors that are not exactly ``DenseNet(config)``'s state dict (names, shapes, kinds).

    Missing ``num_batches_tracked`` counters are allowed (old files lack them).
    Raises :class:`ConversionError` saying what the config declares and what the file holds.
    """
    problem = state_dict_mismatch(config, state_dict)
    if problem is not None:
        declared = state_dict_shapes(config)
        raise ConversionError(
            f"{where}: the tensors do not fit the architecture {config.to_dict()}, which has {len(declared)} tensors "
            f"of {sum(math.prod(shape) for shape in declared.values()):,} values; the file holds {len(state_dict)} "
            f"of {sum(tensor.numel() for tensor in state_dict.values()):,}: {problem}"
        )


_LAYER_KEY = re.compile(r"features\.denseblock(\d{1,6})\.denselayer(\d{1,6})\.conv1\.weight")


def config_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> DenseNetConfig:
    """Infer a ``DenseNetConfig`` from torchvision-named DenseNet tensors (``drop_rate`` cannot be seen: 0).

    Dense layers with a ``conv2`` are bottleneck layers (DenseNet-BC); without one, ``conv1`` is the
    layer's 3x3 convolution (``bottleneck=False``, ``bn_size`` left at its default).
    Only a few tensors are looked at; :func:`check_state_dict` checks all of them against the result.
    Raises :class:`ConversionError` when the tensors are not a DenseNet this project builds,
    e.g. transition widths that no single compression factor explains.
    """
    conv0 = _weight_shape(state_dict, "features.conv0.weight", 4)
    classifier = _weight_shape(state_dict, "classifier.weight", 2)
    layers: dict[int, int] = {}
    bottleneck = False
    growth_rate = width = 0
    for key in state_dict:
        match = _LAYER_KEY.fullmatch(key)
        if match:
            block, layer = int(match.group(1)), int(match.group(2))
            layers[block] = max(layers.get(block, 0), layer)
            conv1 = _weight_shape(state_dict, key, 4)
            conv2_key = key.replace(".conv1.", ".conv2.")
            bottleneck = conv2_key in state_dict
            growth_rate, width = _weight_shape(state_dict, conv2_key, 4)[:2] if bottleneck else (conv1[0], 0)
    if not layers:
        raise ConversionError("expected features.denseblock*.denselayer*.conv1.weight tensors, found none")
    transitions = []
    for block in sorted(layers)[:-1]:
        key = f"features.transition{block}.conv.weight"
        if key not in state_dict:
            raise ConversionError(
                f"expected {key} (a DenseNet with {len(layers)} dense blocks has a transition after each but "
                "the last), found none"
            )
        out_channels, in_channels = _weight_shape(state_dict, key, 4)[:2]
        transitions.append((in_channels, out_channels, key))
    try:
        return DenseNetConfig(
            growth_rate=growth_rate,
            block_config=tuple(layers[block] for block in sorted(layers)),
            num_init_features=conv0[0],
            bn_size=width // growth_rate if bottleneck else DenseNetConfig.bn_size,
            compression=infer_compression(transitions),
            num_classes=classifier[0],
            stem="imagenet" if conv0[-1] == 7 else "cifar",
            bottleneck=bottleneck,
        )
    except ValueError as error:
        raise ConversionError(f"the tensors do not describe a DenseNet this project builds: {error}") from None


def _weight_shape(state_dict: Mapping[str, torch.Tensor], key: str, ndim: int) -> tuple[int, ...]:
    """The shape of ``state_dict[key]``, which must have ``ndim`` dimensions of positive sizes."""
    if key not in state_dict:
        raise ConversionError(f"expected torchvision DenseNet keys, missing {key!r}")
    shape = tuple(int(extent) for extent in state_dict[key].shape)
    if len(shape) != ndim or min(shape) < 1:
        raise ConversionError(f"expected {key} with {ndim} dimensions of positive sizes, found shape {shape}")
    return shape
