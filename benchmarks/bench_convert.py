"""Benchmark: converting the largest published checkpoint shape (densenet264_k48_cosine, ~557 MB) to safetensors.

Measured in fresh subprocesses that all import the same modules:

* ``convert``  -- ``converters.export.convert_file(src, out)`` (parse, hash, stream the weights out);
* ``baseline`` -- reads the source file once and writes as many bytes as the converted output has, once
  (with the same fsync the atomic writer does): the I/O floor any converter pays;
* ``idle``     -- does nothing after the imports: the interpreter's own memory.

Reports whole-process wall time convert/baseline (target <= 1.5) and peak RSS above idle divided by the
output size (target <= 1.3). Also prints the sizes our writer produces for all eight full-size models next
to the published sizes.

Usage: ``python benchmarks/bench_convert.py [--workdir DIR] [--repeats 3] [--skip-sizes]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
import sys
from converters.lua_layout import build_checkpoint
from zoo import MODEL_CONFIGS
converters.t7.save(build_checkpoint(MODEL_CONFIGS[sys.argv[1]], layout="standard", seed=0), sys.argv[2])
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


def build(name: str, path: Path) -> int:
    """Write a Lua-layout checkpoint of ``name`` (in a child, so this process stays small); its size."""
    run_child("build", name, str(path))
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to put the generated files (default: a temp dir)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--skip-sizes", action="store_true", help="do not generate the other seven models for the size table"
    )
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=options.workdir) as workdir:
        work = Path(workdir)
        if not options.skip_sizes:
            print("published sizes: the first four as listed in MB (10^6 bytes), the 264/232 ones look like MiB (2^20)")
            print(f"{'model':<24} {'ours MB':>9} {'ours MiB':>9} {'published':>10}")
            for name, published in PUBLISHED_MB.items():
                if name == "densenet264_k48_cosine":
                    continue
                size = build(name, work / "size_probe.t7")
                (work / "size_probe.t7").unlink()
                print(f"{name:<24} {size / 1e6:>9.1f} {size / 2**20:>9.1f} {published:>10.1f}")
        source = work / "densenet264_k48_cosine.t7"
        size = build("densenet264_k48_cosine", source)
        print(
            f"{'densenet264_k48_cosine':<24} {size / 1e6:>9.1f} {size / 2**20:>9.1f} "
            f"{PUBLISHED_MB['densenet264_k48_cosine']:>10.1f}"
        )
        output = work / "converted.safetensors"
        run_child("convert", str(source), str(output))  # warm the page cache and check it works
        output_bytes = output.stat().st_size
        print(
            f"\nsource {size / 1e6:.1f} MB -> safetensors {output_bytes / 1e6:.1f} MB; {options.repeats} "
            "repeats, medians"
        )
        times: dict[str, list[float]] = {"idle": [], "baseline": [], "convert": []}
        peaks: dict[str, list[int]] = {"idle": [], "baseline": [], "convert": []}
        for _ in range(options.repeats):
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
        time_ratio = median["convert"] / median["baseline"]
        rss_ratio = (peak["convert"] - peak["idle"]) / output_bytes
        print(
            f"\ntime ratio convert/baseline:            {time_ratio:.2f}  (target <= 1.5) "
            f"{'OK' if time_ratio <= 1.5 else 'MISSED'}"
        )
        print(
            f"RSS above idle / output weights size:    {rss_ratio:.2f}  (target <= 1.3) "
            f"{'OK' if rss_ratio <= 1.3 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
