"""The named choices of the Python API and of the ``densenet-zoo`` options, each in one place.

The library checks its arguments against these tuples and the command line offers them as
``click.Choice``; the command line imports this module at start-up, so it imports nothing
(no torch).
"""

from __future__ import annotations

__all__ = [
    "AMP_DTYPE_NAMES",
    "AMP_MODES",
    "BENCHMARK_DEVICES",
    "BENCHMARK_MODES",
    "CIFAR_CELLS",
    "DATASETS",
    "LR_SHAPES",
    "MEMORY_EFFICIENT_MODES",
    "PREPROCESS_KINDS",
    "SYNTHETIC",
    "TABLES",
]

#: ``amp`` / ``--amp``: each mixed-precision mode and the name of its ``torch`` autocast dtype (``off``: float32).
AMP_DTYPE_NAMES: dict[str, str | None] = {"off": None, "bf16": "bfloat16", "fp16": "float16"}
AMP_MODES = tuple(AMP_DTYPE_NAMES)

#: ``preprocess`` / ``--preprocess``: fb.resnet.torch's faithful pipeline, or torchvision's standard one.
PREPROCESS_KINDS = ("torch7", "torchvision")

#: ``dataset`` / ``--dataset``: what the training data folder holds.
DATASETS = ("imagenet", "cifar10", "cifar100")
#: The columns of the published CIFAR table, by (dataset, augment): "+" is the standard augmentation (flip and
#: 4-pixel zero-padded random crop); without it the runs use dropout 0.2. Run records name their cell this way.
CIFAR_CELLS = {
    ("cifar10", False): "C10",
    ("cifar10", True): "C10+",
    ("cifar100", False): "C100",
    ("cifar100", True): "C100+",
}
#: ``data`` / ``--data`` value of generated data (smoke runs; it trains with the ImageNet recipe).
SYNTHETIC = "synthetic"

#: ``lr_shape`` / ``--lr-shape``: the learning-rate schedules of liuzhuang13/DenseNet's ``train.lua``.
LR_SHAPES = ("multistep", "cosine")

#: ``DenseNet(memory_efficient=...)``: what backward recomputes besides BatchNorm and ReLU (always recomputed):
#: "norm" keeps every layer's 1x1 bottleneck convolution output (fastest);
#: "full" keeps none and recomputes every bottleneck convolution (least memory);
#: "balanced" (what ``True`` means) recomputes them in the first dense block
#: only, where they are largest (highest resolution) and cheapest to recompute
#: (fewest input channels): most of "full"'s saving for a few % of compute.
MEMORY_EFFICIENT_MODES = ("balanced", "norm", "full")
#: ``--memory-efficient`` of ``densenet-zoo benchmark``: "off" (the plain model) or a mode.
BENCHMARK_MODES = ("off", *MEMORY_EFFICIENT_MODES)

#: ``--device`` of ``densenet-zoo benchmark``: CUDA when there is a device, else the CPU; or either by name.
BENCHMARK_DEVICES = ("auto", "cuda", "cpu")

#: ``densenet-zoo table NAME``: the published tables reproduced from run records.
TABLES = ("cifar", "wide", "memory")
