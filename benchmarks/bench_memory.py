"""Memory and speed of the memory-efficient DenseNet against torchvision, in one run.

Variants (all DenseNet-121 by default, same batch, same input):

* ``tv``          torchvision ``densenet121(memory_efficient=False)``: the time baseline
* ``tv_me``       torchvision ``densenet121(memory_efficient=True)``: the memory baseline
* ``zoo``         ``zoo.DenseNet`` plain autograd
* ``zoo_me``      ``zoo.DenseNet(memory_efficient=True)`` (mode "balanced")
* ``zoo_me_norm`` ``zoo.DenseNet(memory_efficient="norm")`` (keeps every bottleneck output)
* ``zoo_me_full`` ``zoo.DenseNet(memory_efficient="full")`` (recomputes every bottleneck conv)

Measurements, per variant:

1. activation memory: the bytes of the tensors autograd keeps for backward at
   the end of the forward pass, seen through ``saved_tensors_hooks`` (custom
   Functions' ``save_for_backward`` goes through them too), counting each
   storage once and leaving out the model's own parameters and buffers;
2. peak memory of one whole training step, each variant in its own fresh
   process (so tensors kept outside autograd would show here): on CPU the
   growth of the resident-set high-water mark (VmHWM, reset just before the
   step) over the resident size before the step, with glibc's mmap threshold
   fixed so that freed tensors leave the resident set; on CUDA
   ``max_memory_allocated`` minus the allocation before the step;
3. step time (zero_grad, forward, cross-entropy, backward, SGD step),
   variants interleaved round by round (alternating order): each variant's
   fastest round (the least disturbed by other load) and the median over the
   rounds of its time divided by ``tv``'s time in the same round (paired, so
   that load that changes slowly cancels); on CPU also the process CPU time.

Targets (issues 6 and 10), each against a baseline of the same run:
  activation memory zoo_me / tv_me <= 0.5
  peak step memory  zoo_me / tv_me <= 0.5 (confirms the first; not with --skip-peak)
  step time         zoo_me / tv    <= 1.1 (fastest rounds, and median of paired rounds; not with --skip-time)

On a CPU shared with other jobs, timings are noisy: with more OpenMP threads
than free cores, every parallel region waits for whichever thread the
scheduler has put aside, and one variant's rounds can differ several-fold.
The load average is printed next to the times; ``--threads 1`` takes the
thread scheduling out of the measurement (and its CPU-time ratio is the
steadiest figure of the computation itself).

Example: ``python benchmarks/bench_memory.py --device cpu --repeats 3 [--check]``;
``--smoke``: the tiny DenseNet of ``common.smoke_config``, batch 2, 32x32, one round, only tv, tv_me and zoo_me;
on a GPU: ``python benchmarks/bench_memory.py --device cuda --amp bf16 --channels-last``
(add ``--batch-size 64 --skip-peak`` for training throughput next to torchvision's).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from common import Target, argument_parser, print_ratio, report, smoke_config, torchvision_densenet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIANTS = ("tv", "tv_me", "zoo", "zoo_me", "zoo_me_norm", "zoo_me_full")


def build_model(variant: str, args: argparse.Namespace) -> torch.nn.Module:
    from zoo import DenseNet, get_config

    config = smoke_config() if args.smoke else get_config(args.arch)
    torch.manual_seed(0)
    if variant.startswith("tv"):
        return torchvision_densenet(config, memory_efficient=variant == "tv_me")
    mode = {"zoo": False, "zoo_me": True, "zoo_me_norm": "norm", "zoo_me_full": "full"}[variant]
    return DenseNet(config, memory_efficient=mode)


class Setup:
    """A model, its optimizer and one fixed batch on the chosen device."""

    def __init__(self, variant: str, args: argparse.Namespace) -> None:
        self.device = torch.device(args.device)
        self.memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
        self.model = build_model(variant, args).to(self.device, memory_format=self.memory_format).train()
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4
        )
        generator = torch.Generator().manual_seed(1)
        images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=generator)
        self.images = images.to(self.device).contiguous(memory_format=self.memory_format)
        self.labels = torch.randint(0, 1000, (args.batch_size,), generator=generator).to(self.device)
        self.amp = args.amp

    def autocast(self):
        if self.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def forward_loss(self) -> torch.Tensor:
        with self.autocast():
            return F.cross_entropy(self.model(self.images), self.labels)

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.forward_loss().backward()
        self.optimizer.step()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def saved_activation_bytes(setup: Setup) -> int:
    """Bytes of distinct storages autograd holds for backward after one forward (not parameters)."""
    own_storages = {
        tensor.untyped_storage().data_ptr() for tensor in [*setup.model.parameters(), *setup.model.buffers()]
    }
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in own_storages:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    setup.optimizer.zero_grad(set_to_none=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = setup.forward_loss()
    total = sum(storages.values())
    loss.backward()  # frees the graph and checks that the kept tensors suffice
    setup.optimizer.zero_grad(set_to_none=True)
    return total


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets VmHWM to the current RSS


def peak_step_bytes(variant: str, args: argparse.Namespace) -> int:
    """Peak extra memory of one training step, measured in this (fresh) process."""
    from zoo.reproduction.benchmark import peak_rss_bytes  # VmHWM: ru_maxrss would carry the parent's peak

    setup = Setup(variant, args)
    if setup.device.type == "cuda":
        setup.synchronize()
        before = torch.cuda.memory_allocated(setup.device)
        torch.cuda.reset_peak_memory_stats(setup.device)
        setup.step()
        setup.synchronize()
        return torch.cuda.max_memory_allocated(setup.device) - before
    reset_peak_rss()
    before = current_rss_bytes()
    if peak_rss_bytes() > before + 2**20:
        print("warning: could not reset VmHWM; the peak includes the set-up", file=sys.stderr)
    setup.step()
    return peak_rss_bytes() - before


def peak_in_subprocess(variant: str, args: argparse.Namespace) -> int:
    command = [sys.executable, __file__, "--peak-worker", variant, *forwarded_arguments(args)]
    # A fixed mmap threshold makes glibc hand freed tensors back to the OS at
    # once, so that the resident size follows the live tensors.
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    result = subprocess.run(command, check=True, capture_output=True, text=True, env=environment)
    return int(json.loads(result.stdout.strip().splitlines()[-1])["peak_bytes"])


def forwarded_arguments(args: argparse.Namespace) -> list[str]:
    forwarded = [
        "--device",
        args.device,
        "--arch",
        args.arch,
        "--batch-size",
        str(args.batch_size),
        "--image-size",
        str(args.image_size),
        "--amp",
        args.amp,
        "--threads",
        str(args.threads),
    ]
    if args.channels_last:
        forwarded.append("--channels-last")
    if args.smoke:
        forwarded.append("--smoke")
    return forwarded


def step_times(variants: list[str], args: argparse.Namespace) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per variant, the wall-clock and process CPU seconds of each timed round."""
    setups = {variant: Setup(variant, args) for variant in variants}
    for setup in setups.values():
        for _ in range(args.warmup):
            setup.step()
        setup.synchronize()
    wall: dict[str, list[float]] = {variant: [] for variant in variants}
    cpu: dict[str, list[float]] = {variant: [] for variant in variants}
    for round_index in range(args.repeats):
        order = variants if round_index % 2 == 0 else list(reversed(variants))
        for variant in order:
            setup = setups[variant]
            setup.synchronize()
            start, start_cpu = time.perf_counter(), time.process_time()
            setup.step()
            setup.synchronize()
            wall[variant].append(time.perf_counter() - start)
            cpu[variant].append(time.process_time() - start_cpu)
    return wall, cpu


def paired_median(samples: dict[str, list[float]], variant: str, baseline: str = "tv") -> float:
    """The median over rounds of ``variant``'s time divided by ``baseline``'s time in the same round."""
    return statistics.median(ours / theirs for ours, theirs in zip(samples[variant], samples[baseline], strict=True))


def load_average() -> str:
    return (
        "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else "no load average"
    )


def megabytes(size: int) -> str:
    return f"{size / 2**20:9.1f} MB"


def parse_arguments() -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--arch", default="densenet121")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--amp", choices=("off", "bf16"), default="off")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--variants", help=f"comma-separated subset of {VARIANTS} (default: all; smoke: the three)")
    parser.add_argument("--skip-time", action="store_true")
    parser.add_argument("--skip-peak", action="store_true")
    parser.add_argument("--peak-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.batch_size, args.image_size, args.repeats, args.warmup = 2, 32, 1, 1
    if args.variants is None:
        args.variants = "tv,tv_me,zoo_me" if args.smoke else ",".join(VARIANTS)
    return args


def time_targets(variants: list[str], args: argparse.Namespace) -> list[Target]:
    """Time the variants (part b), print their times and return the step-time targets."""
    print(
        f"\n(b) training step time over {args.repeats} interleaved rounds after {args.warmup} warm-up "
        f"({load_average()}): fastest round, and median of the per-round ratios to tv"
    )
    samples, cpu_samples = step_times(variants, args)
    fastest = {variant: min(values) for variant, values in samples.items()}
    for variant in variants:
        line = (
            f"  {variant:12s} fastest {fastest[variant] * 1000:8.1f} ms {fastest[variant] / fastest['tv']:5.3f}x tv   "
            f"median {statistics.median(samples[variant]) * 1000:8.1f} ms {paired_median(samples, variant):5.3f}x tv"
        )
        if args.device == "cpu":
            cpu_median = statistics.median(cpu_samples[variant])
            line += f"   CPU median {cpu_median * 1000:8.1f} ms {paired_median(cpu_samples, variant):5.3f}x tv"
        print(f"{line}   {args.batch_size / fastest[variant]:8.1f} images/s")
    print(f"  ({load_average()} after timing)")
    if args.device == "cpu":
        print_ratio("process CPU time zoo_me / tv (paired median)", paired_median(cpu_samples, "zoo_me"), "tv")
    fastest_baseline = f"tv fastest {fastest['tv'] * 1000:.1f} ms"
    median_baseline = f"tv median {statistics.median(samples['tv']) * 1000:.1f} ms"
    return [
        Target(
            "step time zoo_me / tv (fastest rounds)", fastest["zoo_me"] / fastest["tv"], "<=", 1.1, fastest_baseline
        ),
        Target(
            "step time zoo_me / tv (median of paired rounds)",
            paired_median(samples, "zoo_me"),
            "<=",
            1.1,
            median_baseline,
        ),
    ]


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    if args.peak_worker:
        print(json.dumps({"peak_bytes": peak_step_bytes(args.peak_worker, args)}))
        return
    variants = [variant for variant in args.variants.split(",") if variant]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or "tv" not in variants or "tv_me" not in variants or "zoo_me" not in variants:
        raise SystemExit(f"--variants must include tv, tv_me and zoo_me and only {VARIANTS}; got {variants}")
    print(
        f"{'smoke' if args.smoke else args.arch}, batch {args.batch_size}, {args.image_size}x{args.image_size}, "
        f"device {args.device}, "
        f"amp {args.amp}, channels_last {args.channels_last}, torch {torch.__version__}, threads {args.threads}"
    )

    activations = {}
    for variant in variants:
        activations[variant] = saved_activation_bytes(Setup(variant, args))
    print("\n(a) tensors saved for backward at the end of the forward pass (distinct storages, no parameters)")
    for variant in variants:
        ratio = activations[variant] / activations["tv_me"]
        print(f"  {variant:12s} {megabytes(activations[variant])}   {ratio:5.3f}x tv_me")

    if not args.skip_peak:
        where = "torch.cuda.max_memory_allocated" if args.device.startswith("cuda") else "VmHWM growth"
        print(f"\n(a') peak memory of one training step, one fresh process per variant ({where})")
        peaks = {variant: peak_in_subprocess(variant, args) for variant in variants}
        for variant in variants:
            ratio = peaks[variant] / peaks["tv_me"]
            print(f"  {variant:12s} {megabytes(peaks[variant])}   {ratio:5.3f}x tv_me")

    baseline = f"tv_me {megabytes(activations['tv_me']).strip()}"
    targets = [
        Target("activation memory zoo_me / tv_me", activations["zoo_me"] / activations["tv_me"], "<=", 0.5, baseline)
    ]
    if not args.skip_peak:
        baseline = f"tv_me {megabytes(peaks['tv_me']).strip()}"
        targets.append(Target("peak step memory zoo_me / tv_me", peaks["zoo_me"] / peaks["tv_me"], "<=", 0.5, baseline))
    if not args.skip_time:
        targets.extend(time_targets(variants, args))
    sys.exit(report(targets, args))


if __name__ == "__main__":
    main()
