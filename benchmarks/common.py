"""What the benchmarks share: targets and their report, the ``--check``/``--smoke`` flags, the models.

A target is a ratio measured against a baseline of the same run, compared with a bound. Every ``bench_*.py``
states its targets in its docstring, prints each ratio in one format (a line starting with ``ratio``) and
ends with :func:`report`, which exits 1 under ``--check`` when a target is missed. ``--smoke`` runs the same
code at a tiny size (:func:`smoke_config`) in seconds, so that a test can keep the scripts working; its
numbers mean nothing, and its targets, like those of a full run, are enforced only with ``--check``.
"""

from __future__ import annotations

import argparse
import operator
import sys
from dataclasses import dataclass
from typing import TextIO

COMPARISONS = {"<": operator.lt, "<=": operator.le, ">=": operator.ge, ">": operator.gt}


@dataclass(frozen=True)
class Target:
    """``measured`` (a ratio to ``baseline``) must satisfy ``measured <comparison> bound``."""

    name: str  # what the ratio divides, e.g. "time t7.load / torchfile.load"
    measured: float
    comparison: str  # a key of COMPARISONS
    bound: float
    baseline: str  # the baseline and its value in this run, e.g. "torchfile.load 111.8 ms"

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"comparison must be one of {sorted(COMPARISONS)}, found {self.comparison!r}")

    def scaled_bound(self, scale: float) -> float:
        """The bound with its allowance multiplied by ``scale`` (< 1 is stricter for both directions)."""
        return self.bound * scale if self.comparison.startswith("<") else self.bound / scale

    def met(self, scale: float = 1.0) -> bool:
        return COMPARISONS[self.comparison](self.measured, self.scaled_bound(scale))


def ratio_line(name: str, measured: float, baseline: str, target: str = "") -> str:
    """The one format every benchmark prints a ratio in."""
    return f"ratio {name:<48} {measured:8.3f}x  {target:<26} (baseline: {baseline})"


def print_ratio(name: str, measured: float, baseline: str) -> None:
    """Print a ratio that has no target (for information)."""
    print(ratio_line(name, measured, baseline))


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A parser showing the benchmark's docstring (its targets) in ``--help``, with the shared flags."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_argument_group("targets")
    group.add_argument(
        "--check", action="store_true", help="exit 1 when a target of the docstring is missed (without it: exit 0)"
    )
    group.add_argument(
        "--smoke",
        action="store_true",
        help="run the same code at a tiny size in seconds; the numbers mean nothing and the targets are "
        "enforced only if --check is given too",
    )
    group.add_argument(
        "--target-scale",
        type=_positive_float,
        default=1.0,
        metavar="S",
        help="multiply every target's allowance by S (upper bounds times S, lower bounds divided by S); "
        "S < 1 is stricter, and 1e-9 makes every target fail (the tests use it)",
    )
    return parser


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, found {text}")
    return value


def report(targets: list[Target], options: argparse.Namespace, stream: TextIO | None = None) -> int:
    """Print every target as met or MISSED (to stdout or ``stream``); the exit status: 1 under ``--check``
    with a target missed, else 0."""
    stream = stream or sys.stdout
    scale = options.target_scale
    print("\ntargets" + (f" (allowances scaled by {scale:g})" if scale != 1.0 else "") + ":", file=stream)
    for target in targets:
        verdict = "met" if target.met(scale) else "MISSED"
        bound = f"target {target.comparison} {target.scaled_bound(scale):.3f}x {verdict}"
        print(ratio_line(target.name, target.measured, target.baseline, bound), file=stream)
    missed = [target for target in targets if not target.met(scale)]
    if options.smoke:
        print("smoke run: tiny sizes, the numbers mean nothing", file=stream)
    if not missed:
        return 0
    if not options.check:
        print(f"{len(missed)} of {len(targets)} targets missed (not enforced without --check)", file=stream)
        return 0
    for target in missed:
        print(
            f"check failed: {target.name} = {target.measured:.3f}x, target {target.comparison} "
            f"{target.scaled_bound(scale):.3f}x (baseline: {target.baseline})",
            file=sys.stderr,
        )
    return 1


def smoke_config():  # -> zoo.DenseNetConfig; imported here so that importing this module stays torch-free
    """The DenseNet of every ``--smoke`` run: the ImageNet stem, four blocks of two layers, k=8 (62k parameters)."""
    from zoo.models.densenet import DenseNetConfig

    return DenseNetConfig(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16)


def torchvision_densenet(config, memory_efficient: bool = False):  # zoo.DenseNetConfig -> torchvision DenseNet
    """torchvision's DenseNet with the architecture of ``config`` (the baseline of the model benchmarks)."""
    import torchvision

    return torchvision.models.DenseNet(
        growth_rate=config.growth_rate,
        block_config=config.block_config,
        num_init_features=config.num_init_features,
        bn_size=config.bn_size,
        num_classes=config.num_classes,
        memory_efficient=memory_efficient,
    )
