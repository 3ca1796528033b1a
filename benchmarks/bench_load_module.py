"""Benchmark: ``converters.load_module`` of a ResNet-50 ``.t7`` (25.6M parameters) vs ``torchfile.load`` of the file.

Builds, with ``converters.synthetic.resnet.resnet_checkpoint`` and ``t7.save``, fb.resnet.torch's ImageNet
ResNet-50 (models/resnet.lua, bottleneck blocks {3, 4, 6, 3}, shortcut B) as its ``checkpoints.save`` writes it:
``cudnn.SpatialConvolution`` without bias, ``cudnn.SpatialBatchNormalization``, ``cudnn.ReLU``,
``nn.SpatialMaxPooling``, ``nn.ConcatTable``, ``nn.CAddTable``, ``nn.Identity``, ``cudnn.SpatialAveragePooling``,
``nn.View``, ``nn.Linear``; every weight and bias a view into one flat FloatStorage (``getParameters``), every
gradient a view into a second one, BatchNorm running statistics in their own storages, empty
``output``/``gradInput`` tensors. Then it measures, each in a fresh process that imports the same modules, with
the file in the page cache:

* ``load_module`` -- ``converters.load_module(path)``: a ready ``torch.nn.Module`` (weights read once from the
  memory-mapped file, gradients never);
* ``torchfile``   -- ``torchfile.load(path)``: Lua tables of numpy arrays (weights and gradients);
* ``idle``        -- the imports alone: the interpreter's own memory.

Targets (best of the repeats; baseline: torchfile.load of the same file in the same run, and the size of the
weights: every parameter and buffer of the loaded module):
  time   load_module / torchfile.load <= 0.5
  memory peak RSS of load_module above idle / weights' size <= 1.3

Run: ``python benchmarks/bench_load_module.py [--repeats 3] [--check] [--smoke]``
(``--smoke``: fb.resnet.torch's CIFAR ResNet-8, one repeat.)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Target, argument_parser, print_ratio, report

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

PARAMETERS_50 = 25_557_032  # torchvision's resnet50 and fb.resnet.torch's ResNet-50 alike

IMPORTS = "import numpy, torch, torchfile, converters.t7, converters.translate\n"
# ru_maxrss of a forked child includes the parent's pages from before exec; VmHWM of the new image does not.
REPORT = """
import atexit, time
START = time.perf_counter()
def _report():
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print("RESULT", time.perf_counter() - START, peak * 1024, flush=True)
"""
CHILDREN = {
    "idle": IMPORTS + REPORT + "_report()\n",
    "load_module": IMPORTS
    + REPORT
    + """
import sys
module = converters.translate.load_module(sys.argv[1])
_report()
weights = sum(t.numel() * t.element_size() for t in module.state_dict().values())
print("WEIGHTS", weights, sum(p.numel() for p in module.parameters()), flush=True)
""",
    "torchfile": IMPORTS + REPORT + "import sys\nroot = torchfile.load(sys.argv[1])\n_report()\n",
}


def run_child(kind: str, path: Path) -> dict[str, float]:
    """Wall time of the child's work, its peak RSS (bytes), and what it printed."""
    result = subprocess.run(
        [sys.executable, "-c", CHILDREN[kind], str(path)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{kind} child failed with exit status {result.returncode}")
    fields = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    measured = {"seconds": float(fields["RESULT"][0]), "peak": float(fields["RESULT"][1])}
    if "WEIGHTS" in fields:
        measured["weights"], measured["parameters"] = map(float, fields["WEIGHTS"])
    return measured


def generate(path: Path, smoke: bool) -> None:
    from converters import t7
    from converters.synthetic.resnet import resnet_checkpoint

    start = time.perf_counter()
    root = resnet_checkpoint(8, "cifar10") if smoke else resnet_checkpoint(50)
    t7.save(root, path)
    elapsed = time.perf_counter() - start
    name = "CIFAR ResNet-8" if smoke else "ResNet-50"
    print(f"{name}: {path.stat().st_size / 1e6:.1f} MB, built and written in {elapsed:.1f} s")


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (the best is reported)")
    parser.add_argument("--generate", type=Path, default=None, help=argparse_suppress())
    options = parser.parse_args()
    if options.generate is not None:
        generate(options.generate, options.smoke)
        return
    repeats = 1 if options.smoke else options.repeats
    with tempfile.TemporaryDirectory(prefix="bench_load_module_") as workdir:
        path = Path(workdir) / "resnet50.t7"
        # Generated in a child so that this process (whose peak a forked child would inherit) stays small.
        subprocess.run([sys.executable, __file__, "--generate", str(path), *(["--smoke"] * options.smoke)], check=True)
        path.read_bytes()  # into the page cache
        runs: dict[str, list[dict[str, float]]] = {"idle": [], "load_module": [], "torchfile": []}
        for _ in range(repeats):  # interleaved, so that a busy moment of the machine hits every kind alike
            for kind, results in runs.items():
                results.append(run_child(kind, path))
    best = {kind: {key: min(run[key] for run in results) for key in results[0]} for kind, results in runs.items()}
    ours, theirs, idle = best["load_module"], best["torchfile"], best["idle"]
    if not options.smoke and ours["parameters"] != PARAMETERS_50:
        raise SystemExit(f"expected ResNet-50's {PARAMETERS_50:,} parameters, built {ours['parameters']:,.0f}")
    weights = ours["weights"]
    print(f"parameters {ours['parameters']:,.0f}; weights (parameters and buffers) {weights / 1e6:.1f} MB")
    for kind in ("idle", "load_module", "torchfile"):
        print(f"{kind:<12} {best[kind]['seconds'] * 1000:9.1f} ms   peak RSS {best[kind]['peak'] / 1e6:8.1f} MB")
    print_ratio(
        "memory torchfile.load above idle / weights' size",
        (theirs["peak"] - idle["peak"]) / weights,
        f"weights {weights / 1e6:.1f} MB",
    )
    targets = [
        Target(
            "time load_module / torchfile.load",
            ours["seconds"] / theirs["seconds"],
            "<=",
            0.5,
            f"torchfile.load {theirs['seconds'] * 1000:.1f} ms",
        ),
        Target(
            "memory load_module above idle / weights' size",
            (ours["peak"] - idle["peak"]) / weights,
            "<=",
            1.3,
            f"weights {weights / 1e6:.1f} MB, idle RSS {idle['peak'] / 1e6:.1f} MB",
        ),
    ]
    sys.exit(report(targets, options))


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
