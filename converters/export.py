"""Write and read converted DenseNet weights (``.safetensors`` or ``.pth``).

* ``.safetensors`` (default) carries the metadata: ``config`` (the
  ``DenseNetConfig`` as JSON), ``converter_version``, and ``source_sha256``
  when the weights came from a file. The writer streams: one tensor at a time
  goes from the checkpoint (or memory) to the output, so converting a large
  checkpoint never holds a second copy of the weights.
* ``.pth`` is a plain state dict (``torch.load(path, weights_only=True)``
  works); it has no room for metadata, so :func:`load_weights` infers the
  config from the tensor shapes (everything but ``drop_rate``, which does not
  change evaluation, is recoverable; it is reported as 0).

Every write goes to a temporary file in the destination directory and is
renamed into place; an existing file is only replaced with ``force=True``.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from converters.atomic import atomic_output
from converters.densenet import CONVERTER_VERSION, infer_compression, load_checkpoint, plan_conversion
from converters.errors import ConversionError
from converters.file_pages import drop_file_pages
from converters.hashing import file_sha256
from converters.plan import ConversionPlan, TensorEntry
from zoo.models.densenet import DenseNetConfig

__all__ = [
    "FORMATS",
    "check_output",
    "config_from_state_dict",
    "convert_file",
    "file_sha256",
    "load_weights",
    "read_metadata",
    "save_plan",
    "save_weights",
    "source_metadata",
]

FORMATS = ("safetensors", "pth")
_SAFETENSORS_DTYPES = {"float32": ("F32", "<f4"), "int64": ("I64", "<i8")}
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
    target = Path(path)
    with atomic_output(target, force=force) as output:
        _write_safetensors(output, plan.entries, _metadata(plan.config, metadata), progress)
    return target


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
    plan = plan_conversion(load_checkpoint(source))
    return save_plan(
        plan, target, format=format, metadata=source_metadata(source), force=force, progress=progress
    ), plan


def source_metadata(source: str | os.PathLike[str]) -> dict[str, str]:
    """The safetensors metadata naming the checkpoint the weights came from: its sha256 and file name.

    Recorded so a converted file can be traced back to (and checked against) the original ``.t7``.
    """
    return {"source_sha256": file_sha256(source), "source_name": Path(source).name}


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``__metadata__`` of a ``.safetensors`` file ({} for ``.pth``)."""
    if _is_zip(path):
        return {}
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="pt") as weights:
        return dict(weights.metadata() or {})


def _is_zip(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as source:
        return source.read(4) == b"PK\x03\x04"


def load_weights(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], DenseNetConfig]:
    """``(state_dict, config)`` from a file :func:`save_weights` wrote (the format is detected from the content).

    The config comes from the safetensors metadata; for ``.pth`` files (and
    safetensors without metadata) it is inferred from the tensor shapes.
    """
    if _is_zip(path):
        state_dict = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        if not isinstance(state_dict, dict):
            raise ConversionError(f"expected a state dict in {path}, found {type(state_dict).__name__}")
        return dict(state_dict), config_from_state_dict(state_dict)
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(os.fspath(path), framework="pt") as weights:  # one open for tensors and metadata
            metadata = weights.metadata() or {}
            state_dict = {key: weights.get_tensor(key) for key in weights.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except (SafetensorError, OSError) as error:
        raise ConversionError(f"{path} is neither a safetensors file nor a torch zip file: {error}") from error
    if "config" in metadata:
        config = DenseNetConfig.from_dict(json.loads(metadata["config"]))
    else:
        config = config_from_state_dict(state_dict)
    return state_dict, config


_LAYER_KEY = re.compile(r"features\.denseblock(\d+)\.denselayer(\d+)\.conv2\.weight")


def config_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> DenseNetConfig:
    """Infer a ``DenseNetConfig`` from torchvision-named DenseNet tensors (``drop_rate`` cannot be seen: 0).

    Raises :class:`ConversionError` when the tensors are not a DenseNet-BC this project builds,
    e.g. transition widths that no single compression factor explains.
    """
    try:
        conv0 = state_dict["features.conv0.weight"]
        classifier = state_dict["classifier.weight"]
    except KeyError as error:
        raise ConversionError(f"expected torchvision DenseNet keys, missing {error.args[0]!r}") from None
    layers: dict[int, int] = {}
    growth_rate = bottleneck = 0
    for key, tensor in state_dict.items():
        match = _LAYER_KEY.fullmatch(key)
        if match:
            block, layer = int(match.group(1)), int(match.group(2))
            layers[block] = max(layers.get(block, 0), layer)
            growth_rate, bottleneck = int(tensor.shape[0]), int(tensor.shape[1])
    if not layers or growth_rate == 0:
        raise ConversionError("expected features.denseblock*.denselayer*.conv2.weight tensors, found none")
    transitions = []
    for block in sorted(layers)[:-1]:
        key = f"features.transition{block}.conv.weight"
        transition = state_dict.get(key)
        if transition is None:
            raise ConversionError(
                f"expected {key} (a DenseNet with {len(layers)} dense blocks has a transition after each but "
                "the last), found none"
            )
        transitions.append((int(transition.shape[1]), int(transition.shape[0]), key))
    compression = infer_compression(transitions)
    return DenseNetConfig(
        growth_rate=growth_rate,
        block_config=tuple(layers[block] for block in sorted(layers)),
        num_init_features=int(conv0.shape[0]),
        bn_size=bottleneck // growth_rate,
        compression=compression,
        num_classes=int(classifier.shape[0]),
        stem="imagenet" if int(conv0.shape[-1]) == 7 else "cifar",
    )
