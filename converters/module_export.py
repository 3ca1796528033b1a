"""Export any translated Torch7 model as a directory: ``model.py`` (standalone PyTorch) + ``model.safetensors``.

:func:`export_module` translates a checkpoint (lazily: nothing is read),
writes the source of :func:`converters.codegen.model_source`, checks that it
rebuilds the translated module, and streams the weights from the memory-mapped
``.t7`` into ``model.safetensors`` one tensor at a time with the project's
safetensors writer. The tensors keep their state-dict names, so
``model.load()`` in a fresh interpreter (torch only) gives the module
``converters.load_module`` gives.

The directory appears whole or not at all (``densenet_zoo_util.atomic.atomic_directory``:
both files are written into a hidden directory next to it, renamed into place
only when everything succeeded). An existing directory is replaced only with
``force=True``, and only when it holds nothing but an earlier export's files
(an empty one needs no ``force``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from converters.codegen import SourceInfo, check_model_source, model_source
from converters.export import Progress, source_metadata, write_safetensors
from converters.plan import TensorEntry
from converters.translate import Translation, TranslationReport, translate
from densenet_zoo_util.atomic import atomic_directory, check_directory_target, write_text_atomic

__all__ = ["EXPORT_FILES", "ModuleExport", "check_directory", "export_module", "write_module_directory"]

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
    check_directory(directory, force, parents)
    if parents:
        directory.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(directory, force=force) as building:
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

    It may be absent or empty, or (with ``force``) a directory holding only an
    earlier export's files, never a file or a directory with files of yours;
    its parent must exist unless ``parents``.
    """
    if os.path.lexists(target) and (target.is_symlink() or not target.is_dir()):
        raise FileExistsError(f"{target} exists and is not a directory; name a new directory for the export")
    if target.is_dir():
        foreign = sorted(entry.name for entry in target.iterdir() if entry.name not in EXPORT_FILES)
        if foreign:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise FileExistsError(
                f"{target} holds files that an export did not write ({shown}); --force replaces only an earlier "
                "export (model.py, model.safetensors), so name a new directory"
            )
    if target.parent.is_dir():
        check_directory_target(target, force=force)  # an earlier export is replaced only with force
    elif target.parent.exists():
        raise NotADirectoryError(f"cannot write {target}: {target.parent} is not a directory")
    elif not parents:
        raise FileNotFoundError(
            f"cannot write {target}: the directory {target.parent} does not exist; "
            "create it or pass parents=True (CLI: --parents)"
        )
