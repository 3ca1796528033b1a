"""The errors of :mod:`zoo.reproduction`, kept apart from the code (which imports torch) so that the
command line can name them at start-up; each is also importable from :mod:`zoo.reproduction`."""

from __future__ import annotations

__all__ = ["BenchmarkError", "RecordError", "ReproductionError"]


class ReproductionError(Exception):
    """Base class of the errors of benchmarks and tables."""


class BenchmarkError(ReproductionError):
    """A benchmark cannot run as asked (unknown architecture, no CUDA device, a failed measurement process)."""


class RecordError(ReproductionError):
    """A run record (benchmark JSON, training run folder) is malformed, or a runs folder cannot be read."""
