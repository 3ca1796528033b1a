"""Time and peak memory of one training iteration, as the Wide-DenseNet and ``-optMemory`` tables measure them.

An iteration is what ``train.lua`` does per mini-batch: forward, cross-entropy, backward and the SGD
step (Nesterov momentum 0.9, weight decay 1e-4: :func:`zoo.training.optim.build_optimizer`), on one
batch of random CIFAR-sized images that is already on the device (no data loading is timed). The
time is the median over ``iterations`` iterations after ``warmup`` ones, each ended by a device
synchronisation. Peak memory:

* CUDA: ``torch.cuda.max_memory_allocated`` over model, gradients, optimizer state and activations
  (what PyTorch's allocator handed out; the published MB were the Lua process's, CUDA context and
  allocator caches included, so compare ratios between models rather than megabytes);
* CPU: the peak resident set size (Linux: VmHWM) above the process's idle baseline, taken after
  ``import torch`` and before the model is built.

Each measurement runs in a fresh Python process (``python -m zoo.reproduction.benchmark``), so that
nothing an earlier measurement or the calling process allocated, cached or paged in counts, and the
idle baseline is that of a process that has imported what it needs and done nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from densenet_zoo_util.atomic import write_text_atomic
from zoo.choices import BENCHMARK_DEVICES, BENCHMARK_MODES
from zoo.reproduction.errors import BenchmarkError

__all__ = ["BENCHMARK_FORMAT", "BenchmarkOptions", "peak_rss_bytes", "run_benchmark", "write_record"]

#: The ``format`` of a benchmark record: the tables tell records apart by it (and by its version).
BENCHMARK_FORMAT = "densenet-zoo/benchmark/1"
#: What a benchmark may ask for: far beyond the published settings (batch 64, 32x32), low enough to refuse typos.
_LIMITS = {"batch_size": 4096, "image_size": 1024, "iterations": 100_000, "warmup": 10_000, "num_classes": 1_000_000}


@dataclass(frozen=True)
class BenchmarkOptions:
    """What to measure: the named architecture ``arch`` (``zoo.list_models("cifar")`` and the ImageNet ones).

    ``threads``: CPU threads of the measuring process (None: torch's default).
    """

    arch: str
    batch_size: int = 64
    image_size: int = 32
    memory_efficient: str = "off"
    device: str = "auto"
    iterations: int = 20
    warmup: int = 5
    num_classes: int = 10
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            low = 0 if name == "warmup" else 1
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= limit:
                problems.append(f"{name} must be an integer from {low} to {limit}, got {value!r}")
        if self.memory_efficient not in BENCHMARK_MODES:
            problems.append(f"memory_efficient must be one of {BENCHMARK_MODES}, got {self.memory_efficient!r}")
        if self.device not in BENCHMARK_DEVICES:
            problems.append(f"device must be one of {BENCHMARK_DEVICES}, got {self.device!r}")
        threads = self.threads
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            problems.append(f"threads must be a positive integer or None, got {self.threads!r}")
        if problems:
            raise BenchmarkError("invalid benchmark: " + "; ".join(problems))


def run_benchmark(options: BenchmarkOptions) -> dict[str, Any]:
    """Measure ``options`` in a fresh process; returns the benchmark record (see :func:`write_record`).

    Raises :class:`BenchmarkError` for an unknown architecture or one too deep for ``image_size``,
    ``device="cuda"`` without a CUDA device, or a measuring process that failed (its error is in the
    message) or died (out of memory).
    """
    from zoo.factory import get_config

    try:
        config = get_config(options.arch)
    except KeyError as error:
        raise BenchmarkError(str(error.args[0])) from None
    if options.image_size < config.smallest_input_size:
        raise BenchmarkError(
            f"{options.arch} takes images of at least {config.smallest_input_size} pixels a side (each transition "
            f"halves them), got --image-size {options.image_size}"
        )
    device = _resolve_device(options.device)
    status, payload = _measure_in_fresh_process(options, device)
    if status != "ok":
        raise BenchmarkError(f"measuring {options.arch} on {device} failed: {payload}")
    return _record(options, device, payload)


def _resolve_device(device: str) -> str:
    import torch

    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise BenchmarkError("--device cuda was asked for, but torch finds no CUDA device; use --device cpu")
    return "cuda" if device == "cuda" or (device == "auto" and cuda) else "cpu"


def _measure_in_fresh_process(options: BenchmarkOptions, device: str) -> tuple[str, Any]:
    """Run :func:`_measure` in a new Python process (``python -m zoo.reproduction.benchmark``, the options as
    JSON on its standard input); its ``("ok", measurement)`` or ``("error", message)``."""
    request = json.dumps({"options": dataclasses.asdict(options), "device": device})
    command = [sys.executable, "-m", __name__]
    try:
        finished = subprocess.run(command, input=request, capture_output=True, text=True, check=False)
    except OSError as error:
        raise BenchmarkError(f"cannot start the measuring process {sys.executable}: {error.strerror}") from None
    lines = finished.stdout.strip().splitlines()
    if finished.returncode != 0 or not lines:
        last = (finished.stderr.strip().splitlines() or ["nothing on stderr"])[-1]
        raise BenchmarkError(
            f"the measuring process ended with exit code {finished.returncode} before reporting ({last[:200]}); "
            f"if it was killed for lack of memory, try a smaller --batch-size than {options.batch_size}"
        )
    status, payload = json.loads(lines[-1])
    return status, payload


def _worker() -> None:
    """The measuring process: reads the request on stdin, prints ``[status, payload]`` as one JSON line."""
    request = json.loads(sys.stdin.read())
    try:
        outcome = ("ok", _measure(BenchmarkOptions(**request["options"]), request["device"]))
    except Exception as error:  # reported to the parent, which raises BenchmarkError with it
        outcome = ("error", f"{type(error).__name__}: {error}")
    print(json.dumps(outcome))


def _measure(options: BenchmarkOptions, device: str) -> dict[str, Any]:
    """Time ``options.iterations`` training iterations in this process and measure its peak memory."""
    import torch
    import torch.nn.functional as F

    from zoo.factory import create_model
    from zoo.training.optim import build_optimizer

    if options.threads is not None:
        torch.set_num_threads(options.threads)
    idle_rss = peak_rss_bytes() if device == "cpu" else 0
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(options.seed)
    mode = options.memory_efficient
    model = create_model(options.arch, num_classes=options.num_classes, memory_efficient=mode != "off" and mode)
    model = model.to(device).train()
    optimizer = build_optimizer(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(options.seed)
    shape = (options.batch_size, 3, options.image_size, options.image_size)
    images = torch.randn(shape, generator=generator).to(device)
    labels = torch.randint(0, options.num_classes, (options.batch_size,), generator=generator).to(device)

    def iteration() -> float:
        _synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        _synchronize(device)
        return time.perf_counter() - start

    for _ in range(options.warmup):
        iteration()
    seconds = [iteration() for _ in range(options.iterations)]
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else peak_rss_bytes() - idle_rss
    return {
        "seconds": seconds,
        "peak_memory_bytes": peak,
        "num_parameters": sum(parameter.numel() for parameter in model.parameters()),
        "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name() if device == "cuda" else _cpu_name(),
        "torch_version": torch.__version__,
    }


def _synchronize(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def peak_rss_bytes() -> int:
    """This process's resident-set high-water mark: Linux's VmHWM, else ``getrusage``'s ``ru_maxrss``.

    VmHWM belongs to the process's own memory map, new at ``exec``; Linux's ``ru_maxrss`` also carries the
    peak of the process it was forked from, so a measuring process started by a large one would report that.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        raise BenchmarkError(
            "CPU peak memory needs /proc/self/status or getrusage, which this platform lacks"
        ) from None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo where there is one, else the platform's word for it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "CPU"


def _record(options: BenchmarkOptions, device: str, measurement: dict[str, Any]) -> dict[str, Any]:
    """The JSON record of one benchmark: the options, where it ran, the times and the peak memory."""
    median = statistics.median(measurement["seconds"])
    return {
        "format": BENCHMARK_FORMAT,
        **dataclasses.asdict(options),
        "device": device,
        "device_name": measurement["device_name"],
        "threads": measurement["threads"],
        "num_parameters": measurement["num_parameters"],
        "seconds_per_iteration": median,
        "images_per_second": options.batch_size / median,
        "seconds": measurement["seconds"],
        "peak_memory_mib": measurement["peak_memory_bytes"] / 2**20,
        "memory_measure": "cuda_max_memory_allocated" if device == "cuda" else "cpu_peak_rss_above_idle",
        "torch_version": measurement["torch_version"],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_record(record: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a record as JSON to ``path`` atomically (a complete file or none); returns the path."""
    return write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    _worker()
