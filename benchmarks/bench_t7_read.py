"""Benchmark: parsing a 557 MB Torch7 checkpoint with ``converters.t7`` vs ``torchfile.load`` vs ``cat``.

Generates, with ``converters.t7.save``, a checkpoint shaped like the largest
published model (DenseNet-cosine-264, k=48, saved by fb.resnet.torch with its
gradients): an ``nn.Sequential`` of ``cudnn.*``/``nn.*`` modules whose weights
and biases are views into one flat FloatStorage and whose gradients are views
into a second one, BN running statistics in their own storages, empty
``output``/``gradInput`` tensors everywhere. Then it measures, each in its own
subprocess and with the file in the page cache:

  (a) ``converters.t7.load`` (lazy: the structure is parsed, payloads are not touched),
  (b) plain ``torchfile.load``,
  (c) ``cat FILE > /dev/null``,

reporting the wall time of the load call (and of the whole process) and the
child's peak RSS (``ru_maxrss`` from ``wait4``), plus the ratios a/b. Target:
a/b < 30 % in time and < 10 % in peak memory.

Run: ``.venv/bin/python benchmarks/bench_t7_read.py [--repeat 3] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

# numpy and converters.t7 are imported only in the generator process (see ``generate``):
# on Linux a child's ru_maxrss starts from its parent's peak, so the measuring process
# stays a bare interpreter.
np: Any = None
t7: Any = None

TENSOR = "torch.FloatTensor"
GROWTH = 48
BLOCKS = (6, 12, 64, 48)
INIT_FEATURES = 2 * GROWTH
BATCH = 2


class CheckpointBuilder:
    """A DenseNet-264 (k=48) module tree as ``checkpoints.save`` leaves it (structure is approximate)."""

    def __init__(self) -> None:
        self.parameters: list[tuple[t7.T7Object, str, tuple[int, ...]]] = []
        self.rng = np.random.default_rng(0)

    @staticmethod
    def empty() -> t7.T7Tensor:
        return t7.T7Tensor(TENSOR, (), (), 0, None)

    @staticmethod
    def long_storage(values: list[int]) -> t7.T7Storage:
        return t7.T7Storage.from_numpy(np.asarray(values, dtype=np.int64), "torch.LongStorage")

    def module(self, typename: str, fields: dict, version: int = 1) -> t7.T7Object:
        base = {"_type": TENSOR, "train": True, "output": self.empty(), "gradInput": self.empty()}
        return t7.T7Object(typename, t7.T7Table({**base, **fields}), version=version)

    def parameter(self, lua_module: t7.T7Object, name: str, shape: tuple[int, ...]) -> None:
        self.parameters.append((lua_module, name, shape))

    def conv(self, n_in: int, n_out: int, kernel: int, stride: int, pad: int, size: int) -> t7.T7Object:
        out = (size + 2 * pad - kernel) // stride + 1
        lua_module = self.module(
            "cudnn.SpatialConvolution",
            {
                "autotunerHash": f"-dimA{BATCH},{n_in},{size},{size} -filtA{n_out},{n_in},{kernel},{kernel} "
                f"{BATCH},{n_out},{out},{out} -padA{pad},{pad} -convStrideA{stride},{stride} CUDNN_DATA_FLOAT",
                "pad": t7.T7Table({1: pad, 2: pad}),
                "stride": t7.T7Table({1: stride, 2: stride}),
                "nInputPlane": n_in, "nOutputPlane": n_out, "kW": kernel, "kH": kernel,
                "dW": stride, "dH": stride, "padW": pad, "padH": pad, "groups": 1,
                "input_offset": n_in * size * size, "output_offset": n_out * out * out,
                "weight_offset": n_out * n_in * kernel * kernel,
                "iSize": self.long_storage([BATCH, n_in, size, size]),
                "input_slice": self.empty(), "output_slice": self.empty(),
                "convDescData": t7.T7Table({
                    "padA": t7.T7Table({1: pad, 2: pad}), "filterStrideA": t7.T7Table({1: stride, 2: stride}),
                    "upscaleA": t7.T7Table({1: 1, 2: 1}), "dataType": "CUDNN_DATA_FLOAT",
                }),
            },
        )
        self.parameter(lua_module, "weight", (n_out, n_in, kernel, kernel))
        return lua_module

    def batchnorm(self, channels: int, size: int) -> t7.T7Object:
        lua_module = self.module(
            "cudnn.SpatialBatchNormalization",
            {
                "eps": 1e-5, "momentum": 0.1, "affine": True,
                "running_mean": t7.T7Tensor.from_numpy(self.rng.standard_normal(channels, dtype=np.float32) * 0.1),
                "running_var": t7.T7Tensor.from_numpy(self.rng.uniform(0.5, 1.5, channels).astype(np.float32)),
                "save_mean": self.empty(), "save_std": self.empty(),
                "scaleT": t7.T7Tensor.from_numpy(np.ones(1, dtype=np.float32)),
                "iSize": self.long_storage([BATCH, channels, size, size]),
            },
            version=2,
        )
        self.parameter(lua_module, "weight", (channels,))
        self.parameter(lua_module, "bias", (channels,))
        return lua_module

    def relu(self, numel: int) -> t7.T7Object:
        return self.module("cudnn.ReLU", {"inplace": True, "mode": "CUDNN_ACTIVATION_RELU", "nElem": numel})

    def sequential(self, modules: list[t7.T7Object]) -> t7.T7Object:
        return self.module("nn.Sequential", {"modules": t7.T7Table(enumerate(modules, 1))})

    def avg_pool(self, kernel: int, stride: int, channels: int, size: int) -> t7.T7Object:
        return self.module(
            "cudnn.SpatialAveragePooling",
            {
                "kW": kernel, "kH": kernel, "dW": stride, "dH": stride, "padW": 0, "padH": 0,
                "ceil_mode": False, "count_include_pad": True,
                "mode": "CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING",
                "iSize": self.long_storage([BATCH, channels, size, size]),
            },
        )

    def dense_layer(self, channels: int, size: int) -> t7.T7Object:
        inner = 4 * GROWTH
        branch = self.sequential([
            self.batchnorm(channels, size), self.relu(BATCH * channels * size * size),
            self.conv(channels, inner, 1, 1, 0, size),
            self.batchnorm(inner, size), self.relu(BATCH * inner * size * size),
            self.conv(inner, GROWTH, 3, 1, 1, size),
        ])
        identity = self.module("nn.Identity", {})
        return self.module(
            "nn.Concat",
            {
                "dimension": 2,
                "modules": t7.T7Table({1: identity, 2: branch}),
                "outputSize": self.long_storage([BATCH, channels + GROWTH, size, size]),
            },
        )

    def build(self) -> t7.T7Object:
        size = 224
        modules = [self.conv(3, INIT_FEATURES, 7, 2, 3, size)]
        size = 112
        modules += [self.batchnorm(INIT_FEATURES, size), self.relu(BATCH * INIT_FEATURES * size * size)]
        modules.append(self.module("nn.SpatialMaxPooling", {
            "kW": 3, "kH": 3, "dW": 2, "dH": 2, "padW": 1, "padH": 1, "ceil_mode": False,
            "iwidth": size, "iheight": size, "indices": self.empty(),
        }))
        size = 56
        channels = INIT_FEATURES
        for block_index, layers in enumerate(BLOCKS):
            for _ in range(layers):
                modules.append(self.sequential([self.dense_layer(channels, size)]))
                channels += GROWTH
            if block_index < len(BLOCKS) - 1:
                out = channels // 2
                modules += [self.batchnorm(channels, size), self.relu(BATCH * channels * size * size),
                            self.conv(channels, out, 1, 1, 0, size), self.avg_pool(2, 2, out, size)]
                channels, size = out, size // 2
        modules += [self.batchnorm(channels, size), self.relu(BATCH * channels * size * size),
                    self.avg_pool(size, 1, channels, size)]
        modules.append(self.module("nn.Reshape", {
            "size": self.long_storage([channels]), "nelement": channels, "batchsize": self.long_storage([BATCH, channels]),
        }))
        linear = self.module("nn.Linear", {"addBuffer": self.empty()})
        self.parameter(linear, "weight", (1000, channels))
        self.parameter(linear, "bias", (1000,))
        modules.append(linear)
        root = self.sequential(modules)
        self.attach_flat_storages()
        return root

    def attach_flat_storages(self) -> None:
        """Weights into one flat storage and gradients into another, as ``getParameters`` leaves them."""
        total = sum(int(np.prod(shape)) for _, _, shape in self.parameters)
        weights = t7.T7Storage.from_numpy(self.rng.standard_normal(total, dtype=np.float32) * 0.05)
        grads = t7.T7Storage.from_numpy(self.rng.standard_normal(total, dtype=np.float32) * 1e-4)
        offset = 0
        for lua_module, name, shape in self.parameters:
            strides = t7.objects.contiguous_strides(shape)
            grad_name = "grad" + name[0].upper() + name[1:]
            lua_module[name] = t7.T7Tensor(TENSOR, shape, strides, offset, weights)
            lua_module[grad_name] = t7.T7Tensor(TENSOR, shape, strides, offset, grads)
            offset += int(np.prod(shape))


CHILD = {
    "t7": "from converters import t7\nroot = t7.load(PATH)",
    "torchfile": "import torchfile\nroot = torchfile.load(PATH)",
    "imports": "from converters import t7\nimport torchfile\nroot = None",
}


def run_child(kind: str, path: str) -> dict[str, float]:
    """Wall time and peak RSS of one measurement in a fresh interpreter."""
    if kind == "cat":
        command = ["sh", "-c", 'cat "$0" > /dev/null', path]
        prelude = ""
    else:
        load = CHILD[kind]
        setup, _, call = load.rpartition("\n")
        prelude = (
            f"import sys, time\nsys.path.insert(0, {str(PROJECT_ROOT)!r})\nPATH = {path!r}\n{setup}\n"
            f"start = time.perf_counter()\n{call}\nprint(time.perf_counter() - start)\n"
            "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))\n"
        )
        command = [sys.executable, "-c", prelude]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{kind} child failed with exit code {process.returncode}")
    lines = output.decode().split()
    inner = float(lines[0]) if prelude else wall
    own_peak = float(lines[1]) / 1024 if prelude else float("nan")
    return {"load_s": inner, "process_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "vm_hwm_mb": own_peak}


def generate(path: Path) -> None:
    """Build the module tree and write it with ``t7.save`` (run in its own process, see ``main``)."""
    global np, t7
    import numpy as np
    from converters import t7

    start = time.perf_counter()
    builder = CheckpointBuilder()
    root = builder.build()
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    t7.save(root, path)
    save_s = time.perf_counter() - start
    objects = sum(1 for _ in t7.iter_tree(root))
    print(f"checkpoint: {path.stat().st_size / 1e6:.1f} MB = {path.stat().st_size / 2**20:.1f} MiB, {objects} tables/objects/tensors/storages "
          f"(built in {build_s:.2f} s, written by t7.save in {save_s:.2f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the best is reported)")
    parser.add_argument("--keep", type=Path, default=None, help="write the checkpoint into this dir and keep it")
    parser.add_argument("--generate", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate is not None:
        generate(args.generate)
        return

    directory = Path(tempfile.mkdtemp(prefix="bench_t7_", dir=args.keep))
    path = directory / "densenet264_k48_checkpoint.t7"
    try:
        # Generated in a child: on Linux a child's ru_maxrss starts from its parent's peak,
        # so this process must stay small for the measurements below to mean anything.
        subprocess.run([sys.executable, __file__, "--generate", str(path)], check=True)
        with open(path, "rb") as handle:  # into the page cache
            while handle.read(1 << 24):
                pass

        print(f"this process's peak RSS (inherited by each child as a floor): "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB")
        results = {}
        for kind in ("cat", "imports", "t7", "torchfile"):
            runs = [run_child(kind, str(path)) for _ in range(args.repeat)]
            results[kind] = {key: min(run[key] for run in runs) for key in runs[0]}
            result = results[kind]
            print(f"{kind:>10}: load {result['load_s'] * 1000:8.1f} ms   process {result['process_s'] * 1000:8.1f} ms   "
                  f"peak RSS {result['peak_rss_mb']:7.1f} MB (VmHWM {result['vm_hwm_mb']:6.1f} MB)")

        ours, theirs = results["t7"], results["torchfile"]
        print()
        print(f"time   t7.load / torchfile.load: {ours['load_s'] / theirs['load_s']:.1%} (target < 30%); "
              f"whole processes {ours['process_s'] / theirs['process_s']:.1%}")
        print(f"memory t7.load / torchfile.load peak RSS: {ours['peak_rss_mb'] / theirs['peak_rss_mb']:.1%} "
              f"(target < 10%; interpreter + imports alone: {results['imports']['peak_rss_mb']:.1f} MB); "
              f"by VmHWM {ours['vm_hwm_mb'] / theirs['vm_hwm_mb']:.1%}")
        print(f"t7.load vs cat of the file: {ours['load_s'] / results['cat']['load_s']:.2f}x")
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
