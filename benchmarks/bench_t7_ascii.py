"""Benchmark: reading Torch7 ascii files (``torch.save(path, object, 'ascii')``) with ``converters.t7.load``.

Measures, best of ``--repeat`` runs with the files in the page cache:

  (a) the largest genuine ascii fixture (OpenCV's ``historical/net_conv_net.txt``)
      vs the same tree saved in binary, and vs its genuine binary twin
      (``net_conv_net.dat``: the same net re-saved by OpenCV without its buffers);
  (b) synthetic ``--megabytes`` MB ascii files of random doubles (``%.17g``) and
      floats (``%.9g``), written by ``converters.t7.save(..., mode='ascii')``:
      MB/s and elements/s of the numpy line parser;
  (c) the same doubles (a tenth of them) spread one per line, which forces the
      per-token scan, to show what the vectorised path saves;
  (d) a whole genuine model (the CIFAR DenseNet-40 fixture, 8.7 MB, float32)
      written as ascii by ``t7.save(..., mode='ascii')`` vs its binary original.

Target (baseline: the per-token scan of (c) in the same run):
  time one line (numpy) / one per line (per-token scan) <= 0.5: the vectorised path must pay for itself

Run: ``.venv/bin/python benchmarks/bench_t7_ascii.py [--megabytes 50] [--repeat 3] [--check] [--smoke]``
(``DENSENET_ZOO_FIXTURES`` locates the fixtures, default ``../shared/fixtures``; ``--smoke``: 0.05 MB, one run.)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import Target, argument_parser, print_ratio, report

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from converters import t7  # noqa: E402


def best_load_seconds(path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        root = t7.load(path)
        for node in t7.iter_tree(root):  # binary storages are lazy: touch every element like ascii parsing does
            if isinstance(node, t7.T7Storage):
                node.numpy().sum()
        times.append(time.perf_counter() - start)
    return min(times)


def print_rate(label: str, path: Path, seconds: float, elements: int | None = None) -> None:
    size = path.stat().st_size / 1e6
    rate = f"{size / seconds:7.1f} MB/s" + (f", {elements / seconds / 1e6:6.2f} M elements/s" if elements else "")
    print(f"{label:<52} {size:8.2f} MB {seconds * 1000:9.1f} ms  {rate}")


def genuine(repeat: int, directory: Path) -> None:
    root = Path(os.environ.get("DENSENET_ZOO_FIXTURES", PROJECT_ROOT.parent / "shared" / "fixtures"))
    ascii_path = root / "opencv_torch" / "historical" / "net_conv_net.txt"
    twin = root / "opencv_torch" / "net_conv_net.dat"
    resaved = directory / "net_conv_net.resaved.t7"
    t7.save(t7.load(ascii_path), resaved)
    ascii_s = best_load_seconds(ascii_path, repeat)
    print_rate("(a) largest genuine ascii fixture", ascii_path, ascii_s)
    binary_s = best_load_seconds(resaved, repeat)
    print_rate("    the same tree in binary", resaved, binary_s)
    print_rate("    its genuine binary twin (no buffers)", twin, best_load_seconds(twin, repeat))
    print_ratio("time ascii / binary of the same tree", ascii_s / binary_s, f"binary {binary_s * 1000:.1f} ms")

    model = root / "torch7" / "cifar" / "cifar10_densenet_L40_k12.t7"
    as_ascii = directory / "cifar10_densenet_L40_k12.ascii.t7"
    t7.save(t7.load(model), as_ascii, mode="ascii")
    ascii_s = best_load_seconds(as_ascii, repeat)
    print_rate("(d) a whole model (CIFAR DenseNet-40) saved as ascii", as_ascii, ascii_s)
    binary_s = best_load_seconds(model, repeat)
    print_rate("    the genuine binary file", model, binary_s)
    print_ratio("time whole model ascii / binary", ascii_s / binary_s, f"binary {binary_s * 1000:.1f} ms")


def synthetic(megabytes: float, repeat: int, directory: Path) -> Target:
    rng = np.random.default_rng(0)
    for dtype, chars in ((np.float64, 21), (np.float32, 13.5)):  # mean "%.17g"/"%.9g" width of N(0, 1), a space
        count = int(megabytes * 1e6 / chars)
        values = rng.standard_normal(count).astype(dtype)
        path = directory / f"synthetic_{np.dtype(dtype).name}.ascii.t7"
        t7.save(t7.T7Tensor.from_numpy(values), path, mode="ascii")
        seconds = best_load_seconds(path, repeat)
        assert np.array_equal(t7.load(path).numpy(), values)
        print_rate(f"(b) synthetic {np.dtype(dtype).name} tensor, one line", path, seconds, count)

    count = int(megabytes * 1e6 / 21 / 10)
    values = rng.standard_normal(count)
    text = t7.dumps(t7.T7Tensor.from_numpy(values), mode="ascii")
    header, elements = text.rstrip(b"\n").rsplit(b"\n", 1)
    seconds = {}
    for label, body in (
        ("one line (numpy)", elements),
        ("one per line (per-token scan)", elements.replace(b" ", b"\n")),
    ):
        path = directory / "spread.ascii.t7"
        path.write_bytes(header + b"\n" + body + b"\n")
        seconds[label] = best_load_seconds(path, repeat)
        print_rate(f"(c) {count} doubles, {label}", path, seconds[label], count)
    scan = seconds["one per line (per-token scan)"]
    ratio = seconds["one line (numpy)"] / scan
    return Target("time one line (numpy) / per-token scan", ratio, "<=", 0.5, f"per-token scan {scan * 1000:.1f} ms")


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--megabytes", type=float, default=50, help="size of each synthetic ascii file")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the best is reported)")
    args = parser.parse_args()
    megabytes, repeat = (0.05, 1) if args.smoke else (args.megabytes, args.repeat)
    with tempfile.TemporaryDirectory(prefix="bench_t7_ascii_") as name:
        directory = Path(name)
        genuine(repeat, directory)
        target = synthetic(megabytes, repeat, directory)
    sys.exit(report([target], args))


if __name__ == "__main__":
    main()
