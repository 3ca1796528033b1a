"""The records a runs folder holds: training runs' ``result.json`` and benchmark records.

``read_records(RUNS_DIR)`` walks the folder at any depth and reads:

* every ``result.json``: the record a ``densenet-zoo train`` run writes (:mod:`zoo.training.record`,
  format ``densenet-zoo/train-result/1``). A run fills the CIFAR table's cell its record names (``cell``,
  ``arch``) with its ``top1_error``; a run that cannot fill a cell (not CIFAR data, a custom architecture,
  no epoch done yet) is skipped, and :attr:`Records.skipped` says why. An unfinished run still fills its
  cell, and the table says so (its ``epochs_done`` / ``epochs``).
* every other ``*.json`` whose object has the benchmark format (``densenet-zoo benchmark --out``,
  :mod:`zoo.reproduction.benchmark`); other JSON files are not records and are left alone.

Files come from anywhere: each is size-checked before it is read (and read no further than that size),
only parsed as JSON, symbolic links (files and folders) are not followed but skipped with the reason,
and a file that says it is a record but is malformed (not JSON, too large, a field missing or of the wrong
type) is a :class:`RecordError` naming the file and the field, so no table is built on a half-read folder.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.choices import CIFAR_CELLS
from zoo.reproduction.benchmark import BENCHMARK_FORMAT
from zoo.reproduction.errors import RecordError

__all__ = ["MAX_RECORD_BYTES", "Records", "TrainRun", "read_records"]

#: A record is a few kilobytes (a benchmark's per-iteration times, a run's settings); larger files are no records.
MAX_RECORD_BYTES = 1 << 20

_NUMBER = (int, float)
#: Benchmark fields the tables use, and their types.
_BENCHMARK_FIELDS: dict[str, type | tuple[type, ...]] = {
    "arch": str,
    "batch_size": int,
    "image_size": int,
    "memory_efficient": str,
    "device": str,
    "device_name": str,
    "threads": int,
    "seconds_per_iteration": _NUMBER,
    "peak_memory_mib": _NUMBER,
    "created": str,
}
#: Training record fields the tables use, and their types (None allowed where the record may hold null).
_RUN_FIELDS: dict[str, tuple[type, ...]] = {
    "dataset": (str,),
    "cell": (str, type(None)),
    "arch": (str, type(None)),
    "top1_error": (*_NUMBER, type(None)),
    "epochs": (int,),
    "epochs_done": (int,),
    "finished": (bool,),
    "published_recipe": (bool,),
    "recipe_deviations": (list,),
    "drop_rate": _NUMBER,
}


@dataclass(frozen=True)
class TrainRun:
    """One CIFAR training run that fills a cell: its architecture, cell, test error (%) and how it was trained."""

    path: str
    arch: str
    cell: str
    test_error: float
    epochs_done: int
    epochs: int
    finished: bool
    recipe_deviations: tuple[str, ...]


@dataclass
class Records:
    """What :func:`read_records` found; ``skipped`` says which files fill no cell and why."""

    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    runs: list[TrainRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_records(runs_dir: str | os.PathLike[str]) -> Records:
    """Every training run and benchmark record under ``runs_dir`` (see the module's docstring)."""
    from zoo.training.record import RECORD_NAME

    root = Path(runs_dir)
    if root.is_symlink() or not root.is_dir():
        raise RecordError(f"expected a folder of run records at {root}, found no folder (links are not followed)")
    records = Records()
    for folder, directories, files in os.walk(root, onerror=_raise_walk_error):
        here = Path(folder)
        directories.sort()
        for name in [name for name in directories if (here / name).is_symlink()]:
            records.skipped.append(f"{here / name}: a symbolic link, not followed")
        for name in sorted(files):
            path = here / name
            if name == RECORD_NAME:
                _add_run(path, records)
            elif name.endswith(".json"):
                _add_benchmark(path, records)
    return records


def _raise_walk_error(error: OSError) -> None:
    raise RecordError(f"cannot read the runs folder {error.filename}: {error.strerror}") from None


def _load_json(path: Path, claimed: bool, records: Records) -> Any:
    """The JSON value in ``path``; None (with the reason in ``records.skipped``) for a link or, unless the file is
    ``claimed`` to be a record by its name, for one too large or not JSON. A claimed file is read or refused."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        if path.is_symlink():
            records.skipped.append(f"{path}: a symbolic link, not followed")
            return None
        raise RecordError(f"cannot read {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            records.skipped.append(f"{path}: not a regular file")
            return None
        content = stream.read(MAX_RECORD_BYTES + 1)
    problem = None
    if len(content) > MAX_RECORD_BYTES:
        problem = f"larger than any record ({MAX_RECORD_BYTES:,} bytes)"
    else:
        try:
            return json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            problem = f"not JSON ({type(error).__name__}: {str(error)[:100]})"
    if claimed:
        raise RecordError(f"{path} is {problem}; a training run's record must be JSON: train again or remove it")
    records.skipped.append(f"{path}: {problem}, not a record")
    return None


def _field_problems(document: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    """``name (found type)`` for every field of ``fields`` that ``document`` lacks or holds with another type."""
    problems = []
    for name, kinds in fields.items():
        value = document.get(name, ...)
        wrong_bool = isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))
        if value is ... or not isinstance(value, kinds) or wrong_bool:
            problems.append(f"{name} ({'missing' if value is ... else type(value).__name__})")
        elif isinstance(value, _NUMBER) and not isinstance(value, bool) and not (math.isfinite(value) and value >= 0):
            problems.append(f"{name} ({value})")
    return problems


def _add_benchmark(path: Path, records: Records) -> None:
    document = _load_json(path, claimed=False, records=records)
    if not isinstance(document, dict) or document.get("format") != BENCHMARK_FORMAT:
        return  # another JSON file (an evaluation record, a configuration): not ours to judge
    problems = _field_problems(document, _BENCHMARK_FIELDS)
    if problems:
        raise RecordError(
            f"{path} is a benchmark record with missing or malformed fields: {', '.join(problems[:5])}; "
            "measure again with densenet-zoo benchmark --out FILE"
        )
    records.benchmarks.append(document)


def _add_run(path: Path, records: Records) -> None:
    from zoo.factory import list_models
    from zoo.training.record import RECORD_FORMAT

    document = _load_json(path, claimed=True, records=records)
    if document is None:
        return
    if not isinstance(document, dict) or document.get("format") != RECORD_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise RecordError(f"{path} is no training record: expected format {RECORD_FORMAT!r}, found {found!r}")
    problems = _field_problems(document, _RUN_FIELDS)
    deviations = document.get("recipe_deviations")
    if isinstance(deviations, list) and not all(isinstance(line, str) for line in deviations):
        problems.append("recipe_deviations (not a list of strings)")
    if problems:
        raise RecordError(
            f"{path} is a training record with missing or malformed fields: {', '.join(problems[:5])}; "
            "train again (densenet-zoo train) or remove it"
        )
    reason = None
    if document["cell"] not in CIFAR_CELLS.values():
        reason = f"not a CIFAR cell (dataset {document['dataset']}, cell {document['cell']})"
    elif document["arch"] not in list_models("cifar"):
        reason = f"not a published CIFAR architecture (arch {document['arch']})"
    elif document["top1_error"] is None or document["epochs_done"] < 1:
        reason = f"no epoch done yet (0/{document['epochs']} epochs)"
    if reason is not None:
        records.skipped.append(f"{path.parent}: {reason}")
        return
    records.runs.append(
        TrainRun(
            path=str(path.parent),
            arch=document["arch"],
            cell=document["cell"],
            test_error=float(document["top1_error"]),
            epochs_done=document["epochs_done"],
            epochs=document["epochs"],
            finished=document["finished"],
            recipe_deviations=tuple(deviations),
        )
    )
