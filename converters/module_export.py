"""Export any translated Torch7 model as a directory: ``model.py`` (standalone PyTorch) + ``model.safetensors``.

:func:`export_module` translates a checkpoint (lazily: nothing is read),
writes the source of :func:`converters.codegen.model_source`, checks that it
rebuilds the translated module, and streams the weights from the memory-mapped
``.t7`` into ``model.safetensors`` one tensor at a time with the project's
safetensors writer. The tensors keep their state-dict names, so
``model.load()`` in a fresh interpreter (torch only) gives the module
``converters.load_module`` gives.

The directory appears whole or not at all: both files are written into a
hidden temporary directory next to it, which is renamed into place only when
everything succeeded. An existing directory is replaced only with
``force=True``, and only when it holds nothing but an earlier export's files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from converters.codegen import SourceInfo, check_model_source, model_source
from converters.export import Progress, check_output, source_metadata, write_safetensors
from converters.plan import TensorEntry
from converters.translate import Translation, TranslationReport, translate
from densenet_zoo_util.atomic import write_text_atomic

__all__ = ["EXPORT_FILES", "ModuleExport", "atomic_directory", "export_module", "write_module_directory"]

MODEL_FILE = "model.py"
WEIGHTS_FILE = "model.safetensors"
#: What an export directory holds (Python's bytecode cache appears once model.py has been imported).
EXPORT_FILES = frozenset({MODEL_FILE, WEIGHTS_FILE, "__pycache__"})


@dataclass
class ModuleExport:
    """What :func:`export_module` wrote: the directory, its two files, and the translation's report."""

    directory: Path
    model_file: Path
    weights_file: Path
    report: TranslationReport
    num_bytes: int


def export_module(
    source: Any,
    directory: str | os.PathLike[str],
    *,
    dtype: torch.dtype | None = None,
    force: bool = False,
    parents: bool = False,
    progress: Progress | None = None,
) -> ModuleExport:
    """Write ``directory/model.py`` and ``directory/model.safetensors`` for the Torch7 model ``source``.

    ``source`` is a ``.t7`` path or a parsed ``converters.t7`` object;
    ``dtype`` converts every tensor (default: each keeps its Lua dtype).
    ``force`` replaces an earlier export in ``directory``; ``parents`` creates
    missing parent directories. Raises ``UnsupportedModuleError`` (every Lua
    class without a translator), ``ConversionError`` (a field or tensor Lua
    could not have used, or a module class model.py cannot build),
    ``FileExistsError``/``FileNotFoundError`` for the directory.
    """
    target = Path(directory)
    check_directory(target, force, parents)
    metadata, info = {"format": "pt"}, SourceInfo()
    if isinstance(source, (str, os.PathLike)):
        metadata.update(source_metadata(source))
        info = SourceInfo(name=Path(source).name, sha256=metadata["source_sha256"])
    translation = translate(source, dtype)
    return write_module_directory(translation, target, info, metadata, force, parents, progress)


def write_module_directory(
    translation: Translation,
    directory: Path,
    info: SourceInfo | None = None,
    metadata: dict[str, str] | None = None,
    force: bool = False,
    parents: bool = False,
    progress: Progress | None = None,
) -> ModuleExport:
    """Write ``translation`` as ``directory/model.py`` + ``model.safetensors`` (atomically, see the module docstring).

    ``metadata`` goes into the safetensors header (strings).
    """
    info = info or SourceInfo()
    source = model_source(translation, info)
    check_model_source(source, translation)
    entries = weight_entries(translation)
    with atomic_directory(directory, force=force, parents=parents) as building:
        write_text_atomic(building / MODEL_FILE, source)
        write_safetensors(building / WEIGHTS_FILE, entries, metadata or {"format": "pt"}, progress=progress)
    return ModuleExport(
        directory=directory,
        model_file=directory / MODEL_FILE,
        weights_file=directory / WEIGHTS_FILE,
        report=translation.report,
        num_bytes=sum(entry.nbytes for entry in entries),
    )


def weight_entries(translation: Translation) -> list[TensorEntry]:
    """One entry per distinct tensor (a module shared in Lua is stored under its first name), the widest
    element types first so that every tensor starts at a multiple of its element size in the file."""
    entries: dict[int, TensorEntry] = {}
    for name, source in translation.sources.items():
        if id(source) not in entries:
            dtype = str(source.dtype).removeprefix("torch.")
            if dtype not in ("float16", "float32", "float64"):
                raise ValueError(f"{name}: model.safetensors holds float16/32/64 tensors, not {dtype}")
            entries[id(source)] = TensorEntry(name, source.shape, dtype, source.read)
    return sorted(entries.values(), key=lambda entry: -np.dtype(entry.dtype).itemsize)


def check_directory(target: Path, force: bool = False, parents: bool = False) -> None:
    """Fail before any work when ``target`` cannot become the export directory.

    It may be absent, or (with ``force``) a directory holding only an earlier
    export's files; its parent must exist unless ``parents``.
    """
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a directory; name a new directory for the export")
    check_output(target, force, parents)
    if target.exists():
        foreign = sorted(entry.name for entry in target.iterdir() if entry.name not in EXPORT_FILES)
        if foreign:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise FileExistsError(
                f"{target} holds files that an export did not write ({shown}); --force replaces only an earlier "
                "export (model.py, model.safetensors), so name a new directory"
            )


@contextlib.contextmanager
def atomic_directory(target: Path, *, force: bool = False, parents: bool = False) -> Iterator[Path]:
    """A new, empty directory that replaces ``target`` only if the ``with`` block succeeds.

    It is created next to ``target`` (hidden, ``.NAME.XXXX.partial``) with the
    permissions ``mkdir`` gives, and removed with everything in it on failure.
    An existing ``target`` (allowed by :func:`check_directory`) is moved aside,
    replaced, then deleted; if the replacement fails it is moved back.
    """
    check_directory(target, force, parents)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.parent / f".{target.name}.{secrets.token_hex(4)}.partial"
    building.mkdir()
    try:
        yield building
        _fsync_directory(building)
        if target.exists():
            _replace_directory(building, target)
        else:
            os.rename(building, target)
        _fsync_directory(target.parent)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _replace_directory(building: Path, target: Path) -> None:
    check_directory(target, force=True)  # it may have changed since the export started
    old = target.parent / f".{target.name}.{secrets.token_hex(4)}.old"
    os.rename(target, old)
    try:
        os.rename(building, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _fsync_directory(path: Path) -> None:
    """Make the directory's entries durable (where the platform allows opening a directory)."""
    with contextlib.suppress(OSError):
        handle = os.open(path, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
