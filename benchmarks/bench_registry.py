"""Benchmark: the registry's verified downloads and cached loading, against plain baselines in the same run.

All traffic goes to an HTTP server on 127.0.0.1 (the tests' server), so the numbers measure our
overhead, not a network.

* download: ``download_url`` (stream to ``.part``, sha256 while streaming, size check, fsync,
  atomic rename) vs. a plain ``requests`` stream into a file with the same fsync, without and with
  the sha256 that verification needs. Reported: ours / plain and ours / (plain + sha256). Real sources
  (Google Drive, ~10-100 MB/s) are far slower than sha256 (~1 GB/s), so there the ratio is ~1.
* load: ``zoo.load(name)`` for a DenseNet-121-shaped Lua checkpoint (made by ``densenet_checkpoint``):
  cold (download + verify + convert + cache) and warm (cached conversion, cheap re-verify) vs.
  ``zoo.load_weights(local .t7)`` (convert in memory, what one does without the registry).
  Reported: warm / baseline (the cache's gain) and cold / baseline, for information.

Target (medians of the repeats):
  time download_url / (plain requests + sha256) <= 1.3: what we add beyond the unavoidable hash

Usage: ``python benchmarks/bench_registry.py [--megabytes 256] [--repeats 3] [--model densenet121] [--check]``
(``--smoke``: 1 MB, one repeat, the tiny DenseNet of ``common.smoke_config``.)
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import Target, argument_parser, print_ratio, report, smoke_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "tests" / "registry"))


def timed(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_download(server, workdir: Path, megabytes: int, repeats: int) -> Target:
    import requests

    from zoo.registry.download import download_url

    content = os.urandom(megabytes << 20)
    digest = hashlib.sha256(content).hexdigest()
    url = server.add_file("/blob.bin", content)
    target = workdir / "blob.bin"

    def plain() -> None:
        with requests.get(url, stream=True, timeout=(15, 60)) as response, open(target, "wb") as stream:
            for chunk in response.iter_content(1 << 20):
                stream.write(chunk)
            stream.flush()
            os.fsync(stream.fileno())
        target.unlink()

    def plain_hashed() -> None:
        digest_check = hashlib.sha256()
        with requests.get(url, stream=True, timeout=(15, 60)) as response, open(target, "wb") as stream:
            for chunk in response.iter_content(1 << 20):
                stream.write(chunk)
                digest_check.update(chunk)
            stream.flush()
            os.fsync(stream.fileno())
        assert digest_check.hexdigest() == digest
        target.unlink()

    def ours() -> None:
        download_url(url, target, sha256=digest, size=len(content), progress=False)
        target.unlink()

    plain()  # warm up the server and the page cache
    baseline = timed(plain, repeats)
    hashed = timed(plain_hashed, repeats)
    measured = timed(ours, repeats)
    print(
        f"download {megabytes} MB from 127.0.0.1: plain requests {baseline:.3f} s ({megabytes / baseline:.0f} MB/s), "
        f"plain + sha256 {hashed:.3f} s, download_url {measured:.3f} s ({megabytes / measured:.0f} MB/s)"
    )
    print_ratio("time download_url / plain requests", measured / baseline, f"plain requests {baseline:.3f} s")
    name = "time download_url / (plain requests + sha256)"
    return Target(name, measured / hashed, "<=", 1.3, f"plain + sha256 {hashed:.3f} s")


def bench_load(server, workdir: Path, name: str, config, repeats: int) -> None:
    from registry_manifests import url_source, write_manifest

    import zoo
    from converters import t7
    from converters.synthetic.densenet import densenet_checkpoint
    from zoo.registry import register_architecture

    checkpoint = workdir / f"{name}.t7"
    t7.save(densenet_checkpoint(config, seed=0), str(checkpoint))
    content = checkpoint.read_bytes()
    url = server.add_file(f"/{name}.t7", content)
    source = url_source(url, checkpoint.name, hashlib.sha256(content).hexdigest(), len(content))
    register_architecture(name, config)  # a published name with its own config is already known
    os.environ["DENSENET_ZOO_MANIFEST"] = str(write_manifest(workdir / "manifest.json", {name: [source]}, name))

    def baseline() -> None:
        zoo.load_weights(checkpoint)

    counter = iter(range(1000))

    def cold() -> None:
        os.environ["DENSENET_ZOO_HOME"] = str(workdir / f"cache-{next(counter)}")
        zoo.load(name)

    def warm() -> None:
        zoo.load(name)

    baseline()  # imports and page cache
    base = timed(baseline, repeats)
    cold_time = timed(cold, repeats)
    warm_time = timed(warm, repeats)
    size = len(content) / 1e6
    print(
        f"load {name} ({size:.1f} MB .t7): load_weights(.t7) {base:.3f} s, zoo.load cold {cold_time:.3f} s, "
        f"warm {warm_time:.3f} s"
    )
    print_ratio("time zoo.load warm / load_weights(.t7)", warm_time / base, f"load_weights {base:.3f} s")
    print_ratio("time zoo.load cold / load_weights(.t7)", cold_time / base, f"load_weights {base:.3f} s")


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="densenet121")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    from registry_server import LocalServer

    from zoo.models.densenet import MODEL_CONFIGS

    megabytes, repeats = (1, 1) if args.smoke else (args.megabytes, args.repeats)
    name, config = ("smoke", smoke_config()) if args.smoke else (args.model, MODEL_CONFIGS[args.model])
    with tempfile.TemporaryDirectory(dir=args.workdir) as directory, LocalServer() as server:
        workdir = Path(directory)
        target = bench_download(server, workdir, megabytes, repeats)
        bench_load(server, workdir, name, config, repeats)
    sys.exit(report([target], args))


if __name__ == "__main__":
    main()
