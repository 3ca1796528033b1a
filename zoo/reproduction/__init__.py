"""Reproducing the published CIFAR, Wide-DenseNet and memory tables: benchmarks, run records, tables.

``run_benchmark(BenchmarkOptions("densenet_bc_l100_k12"))`` measures a training iteration's time and
peak memory and returns its record (``write_record`` saves it); ``read_records(RUNS_DIR)`` collects
benchmark records and training runs; ``build_table("cifar" | "wide" | "memory", records)`` sets the
measured cells beside the published ones (:mod:`zoo.reproduction.published`).

Names resolve on first use (PEP 562), so that :mod:`zoo.reproduction.errors` and
:mod:`zoo.reproduction.published` import without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from densenet_zoo_util.lazy import lazy_exports

if TYPE_CHECKING:
    from zoo.reproduction.benchmark import BenchmarkOptions, run_benchmark, write_record
    from zoo.reproduction.errors import BenchmarkError, RecordError, ReproductionError
    from zoo.reproduction.records import Records, TrainRun, read_records
    from zoo.reproduction.tables import TABLES, Table, build_table

_LAZY_EXPORTS = {
    "BenchmarkError": "zoo.reproduction.errors",
    "BenchmarkOptions": "zoo.reproduction.benchmark",
    "RecordError": "zoo.reproduction.errors",
    "Records": "zoo.reproduction.records",
    "ReproductionError": "zoo.reproduction.errors",
    "TABLES": "zoo.reproduction.tables",
    "Table": "zoo.reproduction.tables",
    "TrainRun": "zoo.reproduction.records",
    "build_table": "zoo.reproduction.tables",
    "read_records": "zoo.reproduction.records",
    "run_benchmark": "zoo.reproduction.benchmark",
    "write_record": "zoo.reproduction.benchmark",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)

__all__ = [
    "TABLES",
    "BenchmarkError",
    "BenchmarkOptions",
    "RecordError",
    "Records",
    "ReproductionError",
    "Table",
    "TrainRun",
    "build_table",
    "read_records",
    "run_benchmark",
    "write_record",
]
