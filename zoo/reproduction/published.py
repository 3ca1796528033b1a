"""The published CIFAR, Wide-DenseNet and memory tables of liuzhuang13/DenseNet: their one home in code.

Numbers as the DenseNet README (``README.md``, "Results on CIFAR" and "Wide-DenseNet") and
``models/README.md`` (the ``-optMemory`` table) print them; error rates in %, times in seconds per
training iteration (batch 64, 32x32, one TITAN X), memory in MB as reported there. ``None`` marks a
cell the paper leaves empty ("-"). Rows name the architectures of :data:`zoo.CIFAR_MODELS`.

This module is plain data (no torch), so the command line can read it at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.choices import CIFAR_CELLS

__all__ = [
    "CIFAR_TABLE",
    "MEMORY_ARCH",
    "MEMORY_TABLE",
    "SOURCE",
    "WIDE_TABLE",
    "CifarRow",
    "MemoryRow",
    "WideRow",
    "memory_counterpart",
    "published_time_memory",
]

SOURCE = "liuzhuang13/DenseNet README.md and models/README.md (TITAN X, batch 64)"


@dataclass(frozen=True)
class CifarRow:
    """One row of "Results on CIFAR": test error (%) per cell, in the order of ``zoo.choices.CIFAR_CELLS``
    (C10, C10+, C100, C100+; None: not published)."""

    arch: str
    params: str
    errors: tuple[float | None, float | None, float | None, float | None]

    def error(self, cell: str) -> float | None:
        return self.errors[list(CIFAR_CELLS.values()).index(cell)]


CIFAR_TABLE = (
    CifarRow("densenet_l40_k12", "1.0M", (7.00, 5.24, 27.55, 24.42)),
    CifarRow("densenet_l100_k12", "7.0M", (5.77, 4.10, 23.79, 20.20)),
    CifarRow("densenet_l100_k24", "27.2M", (5.83, 3.74, 23.42, 19.25)),
    CifarRow("densenet_bc_l100_k12", "0.8M", (5.92, 4.51, 24.15, 22.27)),
    CifarRow("densenet_bc_l250_k24", "15.3M", (5.19, 3.62, 19.64, 17.60)),
    CifarRow("densenet_bc_l190_k40", "25.6M", (None, 3.46, None, 17.18)),
)


@dataclass(frozen=True)
class WideRow:
    """One row of the Wide-DenseNet table (no memory optimisation, i.e. ``-optMemory 0``)."""

    arch: str
    params: str
    c10_plus: float
    c100_plus: float
    seconds: float
    megabytes: float


#: The first row is the reference the README compares the wide models with; its 5452 MB is the
#: optMemory table's level 0 (5453 MB): the Wide-DenseNet figures were taken without memory sharing.
WIDE_TABLE = (
    WideRow("densenet_bc_l100_k12", "0.8M", 4.51, 22.27, 0.156, 5452),
    WideRow("wide_densenet_bc_l40_k36", "1.5M", 4.58, 22.30, 0.130, 4008),
    WideRow("wide_densenet_bc_l40_k48", "2.7M", 3.99, 20.29, 0.165, 5245),
    WideRow("wide_densenet_bc_l40_k60", "4.3M", 4.01, 19.99, 0.223, 6508),
)


@dataclass(frozen=True)
class MemoryRow:
    """One ``-optMemory`` level of DenseNet-BC (L=100, k=12) on CIFAR-10, and our mode that computes the same way.

    ``mode`` is a ``memory_efficient`` value of :class:`zoo.DenseNet` ("off" for the plain model), or None
    where no mode of ours corresponds (see ``docs/reproduction.md``, "Time and memory").
    """

    level: int
    megabytes: float
    seconds: float
    description: str
    mode: str | None


#: The architecture the optMemory table measures.
MEMORY_ARCH = "densenet_bc_l100_k12"

#: Level 0 keeps every module's output and gradient buffer; 1 (optnet) and 2 (shareGradInput) reuse
#: them, which PyTorch's autograd does by construction: the plain model computes as level 2 does
#: (recursive concatenation, every layer's input, BN-ReLU output and bottleneck kept). Level 3 shares the
#: concatenation but keeps each layer's full-width BN output, which no mode of ours keeps. Level 4
#: also recomputes that BN output in backward, as mode "norm" does (shared buffer, BN-ReLU recomputed,
#: the 1x1 bottleneck output kept). "balanced" and "full" also recompute the bottleneck: no Lua level.
MEMORY_TABLE = (
    MemoryRow(0, 5453, 0.153, "Original implementation", None),
    MemoryRow(1, 3746, 0.153, "Original implementation with optnet", None),
    MemoryRow(2, 2969, 0.152, "Original implementation with shareGradInput", "off"),
    MemoryRow(3, 2188, 0.155, "Customized implementation with shareGradInput and sharePrevOutput", None),
    MemoryRow(
        4, 1655, 0.175, "Customized implementation with shareGradInput, sharePrevOutput and shareBNOutput", "norm"
    ),
)


def memory_counterpart(mode: str) -> MemoryRow | None:
    """The optMemory row whose computation ``mode`` ("off", "norm", ...) reproduces, or None."""
    return next((row for row in MEMORY_TABLE if row.mode == mode), None)


def published_time_memory(arch: str, mode: str) -> list[tuple[str, float, float]]:
    """The published (label, seconds per iteration, MB) of ``arch`` trained in ``memory_efficient`` ``mode``.

    The Wide-DenseNet table gives each of its models without memory sharing (``mode`` "off"); the
    optMemory table gives DenseNet-BC (L=100, k=12) at the level ``mode`` computes like. Empty when
    nothing was published for that pair.
    """
    figures = [
        ("Wide-DenseNet table (optMemory 0)", row.seconds, row.megabytes)
        for row in WIDE_TABLE
        if row.arch == arch and mode == "off"
    ]
    counterpart = memory_counterpart(mode)
    if arch == MEMORY_ARCH and counterpart is not None:
        figures.append((f"optMemory {counterpart.level} table", counterpart.seconds, counterpart.megabytes))
    return figures
