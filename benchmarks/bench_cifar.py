"""A CIFAR training step of DenseNet-BC (L=100, k=12): zoo against the simplest PyTorch DenseNet, in one run.

Variants, the same architecture (769,162 parameters, checked), the same batch (64 random 32x32 images by default)
and the same SGD step (Nesterov momentum 0.9, weight decay 1e-4):

* ``naive``  the DenseNet written the simplest way in plain PyTorch: every layer concatenates all previous
             feature maps with ``torch.cat`` and runs BN-ReLU-Conv1x1-BN-ReLU-Conv3x3 on them: the baseline;
* ``zoo``    ``zoo.create_model("densenet_bc_l100_k12")``, the plain model;
* ``zoo_me`` the same with ``memory_efficient=True`` (mode "balanced").

Measurements:

1. images/s of a training step (zero_grad, forward, cross-entropy, backward, SGD step), naive and zoo
   interleaved round by round (alternating order), from the median over rounds of the paired time ratio
   (so that load that changes slowly cancels), and each variant's fastest round;
2. peak memory of a training step through ``densenet-zoo benchmark``'s own measurement
   (``zoo.reproduction.run_benchmark``: a fresh Python process per variant, one step; CUDA
   ``max_memory_allocated``; CPU: the growth of the resident-set high-water mark, VmHWM, over the
   process's idle size after its imports, so it counts activations, gradients, optimizer state and the
   allocator's and oneDNN's scratch space alike).

Targets (issue 11), each against a baseline of the same run:
  training images/s   zoo / naive      >= 1.0 (median of paired rounds)
  peak step memory    zoo_me / zoo     <= 0.5

Example: ``python benchmarks/bench_cifar.py --repeats 5 [--check]``; ``--smoke``: batch 2, one round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from common import Target, argument_parser, print_ratio, report
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARCH = "densenet_bc_l100_k12"


class NaiveDenseNet(nn.Module):
    """DenseNet-BC for CIFAR as a textbook writes it: a list of feature maps, ``torch.cat`` before every layer."""

    def __init__(self, growth: int, layers: tuple[int, ...], stem: int, bn_size: int, compression: float) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, stem, 3, padding=1, bias=False)
        self.blocks, self.transitions = nn.ModuleList(), nn.ModuleList()
        channels = stem
        for index, count in enumerate(layers):
            block = nn.ModuleList()
            for layer in range(count):
                width = channels + layer * growth
                block.append(
                    nn.Sequential(
                        nn.BatchNorm2d(width),
                        nn.ReLU(),
                        nn.Conv2d(width, bn_size * growth, 1, bias=False),
                        nn.BatchNorm2d(bn_size * growth),
                        nn.ReLU(),
                        nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False),
                    )
                )
            self.blocks.append(block)
            channels += count * growth
            if index < len(layers) - 1:
                reduced = int(channels * compression)
                self.transitions.append(
                    nn.Sequential(
                        nn.BatchNorm2d(channels),
                        nn.ReLU(),
                        nn.Conv2d(channels, reduced, 1, bias=False),
                        nn.AvgPool2d(2),
                    )
                )
                channels = reduced
        self.head = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(channels, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.stem(images)
        for index, block in enumerate(self.blocks):
            maps = [features]
            for layer in block:
                maps.append(layer(torch.cat(maps, 1)))
            features = torch.cat(maps, 1)
            if index < len(self.transitions):
                features = self.transitions[index](features)
        return self.classifier(self.head(features))


def build_models() -> dict[str, nn.Module]:
    from zoo import create_model, get_config

    config = get_config(ARCH)
    torch.manual_seed(0)
    models = {
        "naive": NaiveDenseNet(
            config.growth_rate, config.block_config, config.num_init_features, config.bn_size, config.compression
        ),
        "zoo": create_model(ARCH),
    }
    counts = {name: sum(parameter.numel() for parameter in model.parameters()) for name, model in models.items()}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"the two models are not the same architecture: parameters {counts}")
    return models


def step_times(models: dict[str, nn.Module], args: argparse.Namespace) -> dict[str, list[float]]:
    """Per model, the seconds of each timed training step, the models interleaved round by round."""
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(args.batch_size, 3, 32, 32, generator=generator).to(args.device)
    labels = torch.randint(0, 10, (args.batch_size,), generator=generator).to(args.device)
    steps = {}
    for name, model in models.items():
        model.to(args.device).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)

        def step(model: nn.Module = model, optimizer: torch.optim.Optimizer = optimizer) -> float:
            synchronize(args.device)
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
            synchronize(args.device)
            return time.perf_counter() - start

        steps[name] = step
        for _ in range(args.warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in models}
    for round_index in range(args.repeats):
        order = list(models) if round_index % 2 == 0 else list(reversed(models))
        for name in order:
            times[name].append(steps[name]())
    return times


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peak_memory_mib(mode: str, args: argparse.Namespace) -> float:
    from zoo.reproduction import BenchmarkOptions, run_benchmark

    options = BenchmarkOptions(
        ARCH, batch_size=args.batch_size, memory_efficient=mode, device=args.device, iterations=1, warmup=0,
        threads=args.threads,
    )  # fmt: skip
    return run_benchmark(options)["peak_memory_mib"]


def parse_arguments() -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per model")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    if args.smoke:
        args.batch_size, args.repeats, args.warmup = 2, 1, 0
    return args


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    print(f"{ARCH}, batch {args.batch_size}, 32x32, {args.device}, threads {args.threads}, torch {torch.__version__}")
    times = step_times(build_models(), args)
    paired = statistics.median(naive / ours for ours, naive in zip(times["zoo"], times["naive"], strict=True))
    print(f"\n(1) training step over {args.repeats} interleaved rounds after {args.warmup} warm-up ({load})")
    for name, seconds in times.items():
        median, fastest = statistics.median(seconds), min(seconds)
        print(
            f"  {name:6s} median {median * 1000:8.1f} ms ({args.batch_size / median:7.1f} images/s), "
            f"fastest {fastest * 1000:8.1f} ms ({args.batch_size / fastest:7.1f} images/s)"
        )
    print_ratio("images/s zoo / naive (fastest rounds)", min(times["naive"]) / min(times["zoo"]), "naive")
    print("\n(2) peak memory of one training step, a fresh process each (zoo.reproduction.run_benchmark)")
    peaks = {mode: peak_memory_mib(mode, args) for mode in ("off", "balanced")}
    for mode, peak in peaks.items():
        print(f"  zoo memory_efficient={mode:8s} {peak:9.1f} MiB")
    naive_median = f"naive median {statistics.median(times['naive']) * 1000:.1f} ms"
    targets = [
        Target("images/s zoo / naive (median of paired rounds)", paired, ">=", 1.0, naive_median),
        Target(
            "peak step memory zoo_me / zoo", peaks["balanced"] / peaks["off"], "<=", 0.5, f"zoo {peaks['off']:.1f} MiB"
        ),
    ]
    sys.exit(report(targets, args))


if __name__ == "__main__":
    main()
