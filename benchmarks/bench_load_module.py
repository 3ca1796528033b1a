"""Benchmark: ``converters.load_module`` of a ResNet-50 ``.t7`` (25.6M parameters) vs ``torchfile.load`` of the file.

Builds, with ``converters.t7`` objects and ``t7.save``, fb.resnet.torch's ImageNet ResNet-50 (models/resnet.lua,
bottleneck blocks {3, 4, 6, 3}, shortcut B) as its ``checkpoints.save`` writes it: ``cudnn.SpatialConvolution``
without bias, ``cudnn.SpatialBatchNormalization``, ``cudnn.ReLU``, ``nn.SpatialMaxPooling``, ``nn.ConcatTable``,
``nn.CAddTable``, ``nn.Identity``, ``cudnn.SpatialAveragePooling``, ``nn.View``, ``nn.Linear``; every weight and
bias a view into one flat FloatStorage (``getParameters``), every gradient a view into a second one, BatchNorm
running statistics in their own storages, empty ``output``/``gradInput`` tensors. Then it measures, each in a
fresh process that imports the same modules, with the file in the page cache:

* ``load_module`` -- ``converters.load_module(path)``: a ready ``torch.nn.Module`` (weights read once from the
  memory-mapped file, gradients never);
* ``torchfile``   -- ``torchfile.load(path)``: Lua tables of numpy arrays (weights and gradients);
* ``idle``        -- the imports alone: the interpreter's own memory.

Targets (best of the repeats; baseline: torchfile.load of the same file in the same run, and the size of the
weights: every parameter and buffer of the loaded module):
  time   load_module / torchfile.load <= 0.5
  memory peak RSS of load_module above idle / weights' size <= 1.3

Run: ``python benchmarks/bench_load_module.py [--repeats 3] [--check] [--smoke]``
(``--smoke``: ResNet-50's layout at 1/16 of its widths, one repeat.)
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

#: fb.resnet.torch's bottleneck counts of ResNet-50 per stage, and the stage widths.
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))
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


class ResNetBuilder:
    """fb.resnet.torch's ImageNet ResNet (bottleneck, shortcut B) as a Lua module tree; widths divided by
    ``shrink``. Parameters are gathered first and become views into flat storages in :meth:`finish`."""

    def __init__(self, shrink: int = 1, seed: int = 0) -> None:
        import numpy as np

        self.np = np
        self.shrink = shrink
        self.rng = np.random.default_rng(seed)
        self.slots: list[tuple[dict, str, tuple[int, ...]]] = []

    def module(self, typename: str, **fields):
        from converters import t7

        empty = t7.T7Tensor("torch.FloatTensor", (), (), 0, None)
        table = {"train": True, "_type": "torch.FloatTensor", "output": empty, "gradInput": empty, **fields}
        return t7.T7Object(typename, t7.T7Table(table))

    def container(self, typename: str, *children):
        from converters import t7

        return self.module(typename, modules=t7.T7Table({index + 1: child for index, child in enumerate(children)}))

    def with_parameters(self, lua_module, **shapes: tuple[int, ...]):
        """``lua_module`` with slots for the named parameters (and their gradients), filled in :meth:`finish`."""
        for name, shape in shapes.items():
            self.slots.append((lua_module.fields, name, shape))
        return lua_module

    def conv(self, n_in: int, n_out: int, kernel: int, stride: int, pad: int):
        fields = dict(nInputPlane=n_in, nOutputPlane=n_out, kW=kernel, kH=kernel, dW=stride, dH=stride)
        conv = self.module("cudnn.SpatialConvolution", **fields, padW=pad, padH=pad, groups=1)
        return self.with_parameters(conv, weight=(n_out, n_in, kernel, kernel))

    def batch_norm(self, channels: int):
        from converters import t7

        statistics = {
            "running_mean": t7.T7Tensor.from_numpy(self.rng.normal(0, 0.1, channels).astype("float32")),
            "running_var": t7.T7Tensor.from_numpy(self.rng.uniform(0.5, 2, channels).astype("float32")),
        }
        norm = self.module("cudnn.SpatialBatchNormalization", eps=1e-5, momentum=0.1, affine=True, **statistics)
        return self.with_parameters(norm, weight=(channels,), bias=(channels,))

    def relu(self):
        return self.module("cudnn.ReLU", inplace=True, threshold=0, val=0)

    def bottleneck(self, n_in: int, width: int, stride: int):
        n_out = width * 4
        residual = self.container(
            "nn.Sequential",
            *(self.conv(n_in, width, 1, 1, 0), self.batch_norm(width), self.relu()),
            *(self.conv(width, width, 3, stride, 1), self.batch_norm(width), self.relu()),
            *(self.conv(width, n_out, 1, 1, 0), self.batch_norm(n_out)),
        )
        if n_in == n_out:
            shortcut = self.module("nn.Identity")
        else:
            shortcut = self.container("nn.Sequential", self.conv(n_in, n_out, 1, stride, 0), self.batch_norm(n_out))
        return self.container(
            "nn.Sequential",
            self.container("nn.ConcatTable", residual, shortcut),
            self.module("nn.CAddTable", inplace=True),
            self.relu(),
        )

    def build(self):
        from converters import t7

        stem = 64 // self.shrink
        layers = [self.conv(3, stem, 7, 2, 3), self.batch_norm(stem), self.relu()]
        layers.append(self.module("nn.SpatialMaxPooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1, ceil_mode=False))
        channels = stem
        for width, count, stride in STAGES:
            width //= self.shrink
            blocks = [self.bottleneck(channels, width, stride)]
            blocks += [self.bottleneck(width * 4, width, 1) for _ in range(count - 1)]
            layers.append(self.container("nn.Sequential", *blocks))
            channels = width * 4
        pool = dict(kW=7, kH=7, dW=1, dH=1, padW=0, padH=0, ceil_mode=False, count_include_pad=True)
        size = t7.T7Storage.from_numpy(self.np.array([channels], dtype="int64"), "torch.LongStorage")
        layers += [
            self.module("cudnn.SpatialAveragePooling", **pool),
            self.module("nn.View", size=size, numInputDims=3),
            self.with_parameters(self.module("nn.Linear"), weight=(1000, channels), bias=(1000,)),
        ]
        root = self.container("nn.Sequential", *layers)
        self.finish()
        return root

    def finish(self) -> None:
        """Two flat storages, as ``getParameters`` leaves them: the weights, and the last step's gradients."""
        from converters import t7
        from converters.t7.objects import contiguous_strides

        total = sum(int(self.np.prod(shape)) for _, _, shape in self.slots)
        weights = self.rng.standard_normal(total, dtype="float32") * self.np.float32(0.02)
        storages = {
            "": t7.T7Storage.from_numpy(weights, "torch.FloatStorage"),
            "grad": t7.T7Storage.from_numpy(weights * self.np.float32(-1e-3), "torch.FloatStorage"),
        }
        offset = 0
        for fields, name, shape in self.slots:
            for prefix, storage in storages.items():
                key = f"grad{name[0].upper()}{name[1:]}" if prefix else name
                fields[key] = t7.T7Tensor("torch.FloatTensor", shape, contiguous_strides(shape), offset, storage)
            offset += int(self.np.prod(shape))


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


def generate(path: Path, shrink: int) -> None:
    from converters import t7

    start = time.perf_counter()
    root = ResNetBuilder(shrink).build()
    t7.save(root, path)
    print(f"ResNet-50 (widths / {shrink}): {path.stat().st_size / 1e6:.1f} MB, built and written in "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (the best is reported)")
    parser.add_argument("--generate", type=Path, default=None, help=argparse_suppress())
    options = parser.parse_args()
    shrink = 16 if options.smoke else 1
    if options.generate is not None:
        generate(options.generate, shrink)
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
