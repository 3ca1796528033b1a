"""The published tables beside the measured ones: ``build_table("cifar" | "wide" | "memory", records)``.

Every measured cell sits next to its published value with their difference (measured minus
published); a cell without a record says "not run". Errors come from training runs (the mean when
a cell has several; a note says when a run is not the published recipe: fewer than 300 epochs, or
another dropout), times and memory from benchmark records (the latest of each architecture and
mode). Time and memory measured on other hardware than the published TITAN X differ in absolute
terms; the ratio columns (memory relative to DenseNet-BC (L=100, k=12), or to the plain model) are
what compares across hardware, and are given only between records of the same device and settings.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from zoo.choices import CIFAR_CELLS, TABLES
from zoo.reproduction.published import (
    CIFAR_TABLE,
    MEMORY_ARCH,
    MEMORY_TABLE,
    SOURCE,
    WIDE_TABLE,
    memory_counterpart,
)
from zoo.reproduction.records import Records, TrainRun

__all__ = ["TABLES", "Comparison", "Table", "build_table"]


@dataclass(frozen=True)
class Comparison:
    """A published value, the measured one (None: not run) and a note on how it was measured."""

    published: float | None
    measured: float | None
    digits: int = 2
    note: str = ""

    @property
    def difference(self) -> float | None:
        if self.published is None or self.measured is None:
            return None
        return self.measured - self.published

    def text(self) -> str:
        """``published / measured (+difference) [note]``; "-" for an unpublished value, "not run" for no record."""
        published = "-" if self.published is None else f"{self.published:.{self.digits}f}"
        if self.measured is None:
            return f"{published} / not run"
        difference = "" if self.difference is None else f" ({self.difference:+.{self.digits}f})"
        note = f" [{self.note}]" if self.note else ""
        return f"{published} / {self.measured:.{self.digits}f}{difference}{note}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "measured": self.measured,
            "difference": self.difference,
            "note": self.note,
        }


@dataclass
class Table:
    """One reproduced table: rows of labelled cells (a :class:`Comparison`, or plain text), and notes."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, dict[str, Comparison | str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        header = ["model", *self.columns]
        lines = [f"### {self.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for label, cells in self.rows:
            texts = [cell.text() if isinstance(cell, Comparison) else cell for cell in cells.values()]
            lines.append("| " + " | ".join([label, *texts]) + " |")
        lines += ["", "Cells: published / measured (measured - published).", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.name,
            "title": self.title,
            "source": SOURCE,
            "columns": list(self.columns),
            "rows": [
                {
                    "model": label,
                    "cells": {
                        column: cell.to_dict() if isinstance(cell, Comparison) else cell
                        for column, cell in cells.items()
                    },
                }
                for label, cells in self.rows
            ],
            "notes": list(self.notes),
        }


def build_table(name: str, records: Records) -> Table:
    """The table ``name`` (one of :data:`TABLES`) with the measured cells that ``records`` give."""
    builders: dict[str, Callable[[Records], Table]] = {"cifar": _cifar, "wide": _wide, "memory": _memory}
    if name not in builders:
        raise ValueError(f"unknown table {name!r}; expected one of {TABLES}")
    table = builders[name](records)
    table.notes += records.skipped
    return table


def _title(arch: str) -> str:
    from zoo.models.densenet import CIFAR_MODELS

    return CIFAR_MODELS[arch].title


def _parameters(arch: str, published: str) -> str:
    from zoo.factory import get_config
    from zoo.models.densenet import num_parameters

    return f"{published} / {num_parameters(get_config(arch)):,}"


def _error(runs: Sequence[TrainRun], arch: str, cell: str, published: float | None) -> Comparison:
    """The mean test error of ``arch``'s runs in ``cell``; the note says how many, and which runs are unfinished
    (epochs done / planned) or not the published recipe (the table's notes list how they differ)."""
    matching = [run for run in runs if run.arch == arch and run.cell == cell]
    if not matching:
        return Comparison(published, None)
    notes = [f"n={len(matching)}"] if len(matching) > 1 else []
    notes += [f"unfinished {run.epochs_done}/{run.epochs} epochs" for run in matching if not run.finished]
    if any(run.recipe_deviations for run in matching):
        notes.append("not the published recipe")
    return Comparison(published, statistics.fmean(run.test_error for run in matching), note=", ".join(notes))


def _deviation_notes(runs: Sequence[TrainRun]) -> list[str]:
    """One note per run that is not the published recipe: its cell, folder and settings that differ."""
    return [
        f"{run.arch} {run.cell} ({run.path}): " + "; ".join(run.recipe_deviations)
        for run in runs
        if run.recipe_deviations
    ]


def _cifar(records: Records) -> Table:
    columns = tuple(CIFAR_CELLS.values())
    table = Table("cifar", "Results on CIFAR (test error %)", ("params", *columns))
    for row in CIFAR_TABLE:
        cells: dict[str, Comparison | str] = {"params": _parameters(row.arch, row.params)}
        cells.update({cell: _error(records.runs, row.arch, cell, row.error(cell)) for cell in columns})
        table.rows.append((_title(row.arch), cells))
    table.notes.append(
        'The "+" columns use standard augmentation, the others none and dropout 0.2; 300 epochs each. '
        "Parameters: published / counted (10 classes)."
    )
    table.notes += _deviation_notes([run for run in records.runs if any(run.arch == row.arch for row in CIFAR_TABLE)])
    return table


def _latest(benchmarks: Sequence[dict[str, Any]], arch: str, mode: str) -> dict[str, Any] | None:
    candidates = [record for record in benchmarks if record["arch"] == arch and record["memory_efficient"] == mode]
    return max(candidates, key=lambda record: record["created"], default=None)


def _setting(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["device"], record["device_name"], record["batch_size"], record["image_size"], record["threads"])


def _describe(record: dict[str, Any]) -> str:
    memory = "CUDA max_memory_allocated" if record["device"] == "cuda" else "peak RSS above idle (CPU)"
    return (
        f"{record['device']} ({record['device_name']}), batch {record['batch_size']}, "
        f"{record['image_size']}x{record['image_size']}, {record['threads']} threads; memory: {memory}"
    )


def _time_memory(
    record: dict[str, Any] | None, seconds: float | None, megabytes: float | None
) -> dict[str, Comparison]:
    return {
        "s/iteration": Comparison(seconds, None if record is None else record["seconds_per_iteration"], digits=3),
        "memory (MB)": Comparison(megabytes, None if record is None else record["peak_memory_mib"], digits=0),
    }


def _ratio(record: dict[str, Any] | None, reference: dict[str, Any] | None, published: float | None) -> Comparison:
    """Memory relative to ``reference``, given only when both were measured the same way."""
    if record is None or reference is None or _setting(record) != _setting(reference):
        return Comparison(published, None, digits=3)
    return Comparison(published, record["peak_memory_mib"] / reference["peak_memory_mib"], digits=3)


def _benchmark_notes(used: Sequence[dict[str, Any] | None]) -> list[str]:
    settings = {_setting(record): record for record in used if record is not None}
    return [f"Measured on {_describe(record)}." for record in settings.values()]


def _wide(records: Records) -> Table:
    columns = ("params", "C10+", "C100+", "s/iteration", "memory (MB)", "memory vs DenseNet-BC (L=100, k=12)")
    table = Table("wide", "Wide-DenseNet-BC (time and memory per training iteration, batch 64)", columns)
    reference_row = WIDE_TABLE[0]
    reference = _latest(records.benchmarks, reference_row.arch, "off")
    used = []
    for row in WIDE_TABLE:
        record = _latest(records.benchmarks, row.arch, "off")
        used.append(record)
        cells: dict[str, Comparison | str] = {
            "params": _parameters(row.arch, row.params),
            "C10+": _error(records.runs, row.arch, "C10+", row.c10_plus),
            "C100+": _error(records.runs, row.arch, "C100+", row.c100_plus),
            **_time_memory(record, row.seconds, row.megabytes),
            columns[-1]: _ratio(record, reference, row.megabytes / reference_row.megabytes),
        }
        table.rows.append((_title(row.arch), cells))
    table.notes += _benchmark_notes(used)
    table.notes.append("Published: one TITAN X, no memory sharing (optMemory 0).")
    wide = {row.arch for row in WIDE_TABLE}
    table.notes += _deviation_notes([run for run in records.runs if run.arch in wide and run.cell.endswith("+")])
    return table


def _memory(records: Records) -> Table:
    columns = ("our mode", "memory (MB)", "s/iteration", "memory vs plain")
    title = f"Memory-efficient implementation ({_title(MEMORY_ARCH)}, CIFAR-10, batch 64)"
    table = Table("memory", title, columns)
    plain_row = memory_counterpart("off")
    plain = _latest(records.benchmarks, MEMORY_ARCH, "off")
    used = []
    for row in MEMORY_TABLE:
        record = None if row.mode is None else _latest(records.benchmarks, MEMORY_ARCH, row.mode)
        used.append(record)
        published_ratio = row.megabytes / plain_row.megabytes
        cells: dict[str, Comparison | str] = {
            "our mode": row.mode or "- (no counterpart)",
            "memory (MB)": Comparison(row.megabytes, None if record is None else record["peak_memory_mib"], digits=0),
            "s/iteration": Comparison(row.seconds, None if record is None else record["seconds_per_iteration"], 3),
            "memory vs plain": _ratio(record, plain, published_ratio),
        }
        table.rows.append((f"optMemory {row.level}: {row.description}", cells))
    for mode in ("balanced", "full"):  # beyond optMemory 4: no published level
        record = _latest(records.benchmarks, MEMORY_ARCH, mode)
        used.append(record)
        cells = {"our mode": mode, **_time_memory(record, None, None), "memory vs plain": _ratio(record, plain, None)}
        cells = {column: cells[column] for column in columns}
        table.rows.append((f"- ({mode}: also recomputes 1x1 bottleneck convolutions)", cells))
    table.notes += _benchmark_notes(used)
    table.notes.append(
        "Ratios: memory relative to the plain model (published: relative to optMemory 2, the plain model's "
        "counterpart; see docs/reproduction.md for which mode corresponds to which level and why)."
    )
    return table
