"""Benchmark: converting the largest published checkpoint shape (densenet264_k48_cosine, ~557 MB) to safetensors.

Measured in fresh subprocesses that all import the same modules:

* ``convert``  -- ``converters.export.convert_file(src, out)`` (parse, hash, stream the weights out);
* ``baseline`` -- reads the source file once and writes as many bytes as the converted output has, once
  (with the same fsync the atomic writer does): the I/O floor any converter pays;
* ``idle``     -- does nothing after the imports: the interpreter's own memory.

Also prints the sizes our writer produces for all eight full-size models next to the published sizes.

Targets (medians of the repeats):
  whole-process wall time convert / baseline <= 1.5
  peak RSS of convert above idle / output size <= 1.3 (the output size is the baseline: converting must not
  hold much more than the weights it writes)

Usage: ``python benchmarks/bench_convert.py [--workdir DIR] [--repeats 3] [--skip-sizes] [--check] [--smoke]``
(``--smoke``: the tiny DenseNet of ``common.smoke_config``, one repeat, no size table.)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Target, argument_parser, report, smoke_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

PUBLISHED_MB = {
    "densenet121": 64.5,
    "densenet169": 114.4,
    "densenet201": 161.8,
    "densenet161": 230.8,
    "densenet264": 256,
    "densenet232": 426,
    "densenet264_cosine": 256,
    "densenet264_k48_cosine": 557,
}

IMPORTS = "import numpy, torch, safetensors, converters.t7, converters.densenet, converters.export\n"
# ru_maxrss of a forked child includes the parent's pages from before exec; VmHWM of the new image does not.
REPORT_PEAK = """
import atexit
def _report_peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                print("PEAK_RSS_KB", int(line.split()[1]), flush=True)
atexit.register(_report_peak)
"""

CHILDREN = {
    "idle": IMPORTS + REPORT_PEAK,
    "baseline": IMPORTS
    + REPORT_PEAK
    + """
import os, sys
source, output, output_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
chunk = 1 << 24
with open(source, "rb") as handle:
    while handle.read(chunk):
        pass
block = bytes(chunk)
with open(output, "wb") as handle:
    remaining = output_bytes
    while remaining > 0:
        handle.write(block[: min(chunk, remaining)])
        remaining -= chunk
    handle.flush()
    os.fsync(handle.fileno())
""",
    "convert": IMPORTS
    + REPORT_PEAK
    + """
import sys
converters.export.convert_file(sys.argv[1], sys.argv[2], force=True)
""",
    "build": IMPORTS
    + """
import json, sys
from converters.synthetic.densenet import densenet_checkpoint
from zoo import DenseNetConfig
config = DenseNetConfig.from_dict(json.loads(sys.argv[1]))
converters.t7.save(densenet_checkpoint(config, layout="standard", seed=0), sys.argv[2])
""",
}


def run_child(kind: str, *args: str) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one fresh child process."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILDREN[kind], *args], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{kind} child failed with exit status {result.returncode}")
    peaks = [int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("PEAK_RSS_KB")]
    return elapsed, (peaks[-1] * 1024 if peaks else 0)


def build(config, path: Path) -> int:
    """Write a synthetic Lua checkpoint of ``config`` (in a child, so this process stays small); its size."""
    run_child("build", json.dumps(config.to_dict()), str(path))
    return path.stat().st_size


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to put the generated files (default: a temp dir)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--skip-sizes", action="store_true", help="do not generate the other seven models for the size table"
    )
    options = parser.parse_args()
    from zoo.models.densenet import MODEL_CONFIGS

    repeats = 1 if options.smoke else options.repeats
    with tempfile.TemporaryDirectory(dir=options.workdir) as workdir:
        work = Path(workdir)
        if not (options.skip_sizes or options.smoke):
            print_sizes(work, MODEL_CONFIGS)
        name = "smoke" if options.smoke else "densenet264_k48_cosine"
        source = work / f"{name}.t7"
        size = build(smoke_config() if options.smoke else MODEL_CONFIGS[name], source)
        print(f"{name:<24} {size / 1e6:>9.1f} {size / 2**20:>9.1f} {PUBLISHED_MB.get(name, float('nan')):>10.1f}")
        output = work / "converted.safetensors"
        run_child("convert", str(source), str(output))  # warm the page cache and check it works
        output_bytes = output.stat().st_size
        print(f"\nsource {size / 1e6:.1f} MB -> safetensors {output_bytes / 1e6:.1f} MB; {repeats} repeats, medians")
        times: dict[str, list[float]] = {"idle": [], "baseline": [], "convert": []}
        peaks: dict[str, list[int]] = {"idle": [], "baseline": [], "convert": []}
        for _ in range(repeats):
            for kind, args in (
                ("idle", ()),
                ("baseline", (str(source), str(work / "baseline.bin"), str(output_bytes))),
                ("convert", (str(source), str(output))),
            ):
                elapsed, peak = run_child(kind, *args)
                times[kind].append(elapsed)
                peaks[kind].append(peak)
    median = {kind: statistics.median(values) for kind, values in times.items()}
    peak = {kind: statistics.median(values) for kind, values in peaks.items()}
    for kind in ("idle", "baseline", "convert"):
        print(f"{kind:<9} wall {median[kind]:6.2f} s   peak RSS {peak[kind] / 1e6:8.1f} MB")
    targets = [
        Target(
            "time convert / read-once-write-once baseline",
            median["convert"] / median["baseline"],
            "<=",
            1.5,
            f"baseline process {median['baseline']:.2f} s",
        ),
        Target(
            "RSS of convert above idle / output size",
            (peak["convert"] - peak["idle"]) / output_bytes,
            "<=",
            1.3,
            f"output {output_bytes / 1e6:.1f} MB, idle RSS {peak['idle'] / 1e6:.1f} MB",
        ),
    ]
    sys.exit(report(targets, options))


def print_sizes(work: Path, configs: dict) -> None:
    """The size of our writer's checkpoint for each published model next to the published size."""
    print("published sizes: the first four as listed in MB (10^6 bytes), the 264/232 ones look like MiB (2^20)")
    print(f"{'model':<24} {'ours MB':>9} {'ours MiB':>9} {'published':>10}")
    for name, published in PUBLISHED_MB.items():
        if name == "densenet264_k48_cosine":
            continue
        size = build(configs[name], work / "size_probe.t7")
        (work / "size_probe.t7").unlink()
        print(f"{name:<24} {size / 1e6:>9.1f} {size / 2**20:>9.1f} {published:>10.1f}")


if __name__ == "__main__":
    main()
