"""Benchmark: parsing a 585 MB (558 MiB) Torch7 checkpoint with ``converters.t7`` vs ``torchfile.load`` vs ``cat``.

Generates, with ``converters.synthetic.densenet.densenet_checkpoint`` and ``converters.t7.save``,
the largest published model (DenseNet-cosine-264, k=48) as fb.resnet.torch saves
it with its gradients: an ``nn.Sequential`` of ``cudnn.*``/``nn.*`` modules whose
weights and biases are views into one flat FloatStorage and whose gradients are
views into a second one, BN running statistics in their own storages, empty
``output``/``gradInput`` tensors everywhere. Then it measures, each in its own
subprocess and with the file in the page cache:

  (a) ``converters.t7.load`` (lazy: the structure is parsed, payloads are not touched),
  (b) plain ``torchfile.load``,
  (c) ``cat FILE > /dev/null``,

reporting the wall time of the load call (and of the whole process) and the
child's peak RSS (``ru_maxrss`` from ``wait4``), plus the ratios a/b.

Targets (baseline: torchfile.load of the same file in the same run):
  time   t7.load / torchfile.load < 0.30
  memory t7.load / torchfile.load peak RSS < 0.10

Run: ``python benchmarks/bench_t7_read.py [--repeat 3] [--keep DIR] [--check] [--smoke]``
(``--smoke``: the tiny DenseNet of ``common.smoke_config``, one run each.)
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

from common import Target, argument_parser, print_ratio, report, smoke_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

# converters.t7 and the checkpoint builder are imported only in the generator process (see
# ``generate``): on Linux a child's ru_maxrss starts from its parent's peak, so the measuring
# process stays a bare interpreter.
MODEL = "densenet264_k48_cosine"

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


def generate(path: Path, smoke: bool) -> None:
    """Build the module tree and write it with ``t7.save`` (run in its own process, see ``main``)."""
    from converters import t7
    from converters.synthetic.densenet import densenet_checkpoint
    from zoo.models.densenet import MODEL_CONFIGS

    start = time.perf_counter()
    root = densenet_checkpoint(smoke_config() if smoke else MODEL_CONFIGS[MODEL])
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    t7.save(root, path)
    save_s = time.perf_counter() - start
    objects = sum(1 for _ in t7.iter_tree(root))
    print(
        f"checkpoint: {path.stat().st_size / 1e6:.1f} MB = {path.stat().st_size / 2**20:.1f} MiB, {objects} "
        "tables/objects/tensors/storages "
        f"(built in {build_s:.2f} s, written by t7.save in {save_s:.2f} s)",
        flush=True,
    )


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the best is reported)")
    parser.add_argument("--keep", type=Path, default=None, help="write the checkpoint into this dir and keep it")
    parser.add_argument("--generate", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate is not None:
        generate(args.generate, args.smoke)
        return
    repeat = 1 if args.smoke else args.repeat

    directory = Path(tempfile.mkdtemp(prefix="bench_t7_", dir=args.keep))
    path = directory / "densenet_checkpoint.t7"
    try:
        # Generated in a child: on Linux a child's ru_maxrss starts from its parent's peak,
        # so this process must stay small for the measurements below to mean anything.
        smoke = ["--smoke"] if args.smoke else []
        subprocess.run([sys.executable, __file__, "--generate", str(path), *smoke], check=True)
        with open(path, "rb") as handle:  # into the page cache
            while handle.read(1 << 24):
                pass

        print(
            f"this process's peak RSS (inherited by each child as a floor): "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB"
        )
        results = {}
        for kind in ("cat", "imports", "t7", "torchfile"):
            runs = [run_child(kind, str(path)) for _ in range(repeat)]
            results[kind] = {key: min(run[key] for run in runs) for key in runs[0]}
            result = results[kind]
            print(
                f"{kind:>10}: load {result['load_s'] * 1000:8.1f} ms   process {result['process_s'] * 1000:8.1f} ms   "
                f"peak RSS {result['peak_rss_mb']:7.1f} MB (VmHWM {result['vm_hwm_mb']:6.1f} MB)"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)

    ours, theirs, cat = results["t7"], results["torchfile"], results["cat"]
    print(f"(interpreter + imports alone: peak RSS {results['imports']['peak_rss_mb']:.1f} MB)\n")
    print_ratio(
        "time t7.load / torchfile.load, whole processes",
        ours["process_s"] / theirs["process_s"],
        f"torchfile process {theirs['process_s'] * 1000:.1f} ms",
    )
    print_ratio(
        "memory t7.load / torchfile.load by VmHWM",
        ours["vm_hwm_mb"] / theirs["vm_hwm_mb"],
        f"torchfile VmHWM {theirs['vm_hwm_mb']:.1f} MB",
    )
    print_ratio("time t7.load / cat of the file", ours["load_s"] / cat["load_s"], f"cat {cat['load_s'] * 1000:.1f} ms")
    targets = [
        Target(
            "time t7.load / torchfile.load",
            ours["load_s"] / theirs["load_s"],
            "<",
            0.30,
            f"torchfile.load {theirs['load_s'] * 1000:.1f} ms",
        ),
        Target(
            "memory t7.load / torchfile.load peak RSS",
            ours["peak_rss_mb"] / theirs["peak_rss_mb"],
            "<",
            0.10,
            f"torchfile.load peak RSS {theirs['peak_rss_mb']:.1f} MB",
        ),
    ]
    sys.exit(report(targets, args))


if __name__ == "__main__":
    main()
