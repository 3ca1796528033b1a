"""``densenet-zoo benchmark`` and ``densenet-zoo table``: thin click commands over :mod:`zoo.reproduction`.

Exit status: 0 on success, 1 (with a one-line ``error:``) when the benchmark cannot run or a record
cannot be read, 2 on usage errors.
"""

from __future__ import annotations

import json
from typing import Any

import click

from zoo.choices import BENCHMARK_DEVICES, BENCHMARK_MODES, TABLES
from zoo.cli.errors import reports_errors


@click.command("benchmark")
@click.option("--arch", required=True, help="Architecture name (densenet_bc_l100_k12, wide_densenet_bc_l40_k48, ...).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--image-size", type=click.IntRange(1, 1024), default=32, show_default=True)
@click.option(
    "--memory-efficient",
    type=click.Choice(BENCHMARK_MODES),
    default="off",
    show_default=True,
    help="Plain model, or a memory-efficient mode (norm ~ Lua -optMemory 4).",
)
@click.option("--device", type=click.Choice(BENCHMARK_DEVICES), default="auto", show_default=True)
@click.option("--iterations", type=click.IntRange(1, 100_000), default=20, show_default=True, help="Timed iterations.")
@click.option("--warmup", type=click.IntRange(0, 10_000), default=5, show_default=True, help="Untimed iterations.")
@click.option("--num-classes", type=click.IntRange(1, 1_000_000), default=10, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads [torch's default].")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON record here (atomically).")
@reports_errors
def benchmark_command(out: str | None, **settings: Any) -> None:
    """Time one training iteration and measure its peak memory.

    Forward, backward and SGD step on one random batch, in a fresh process:
    the median seconds per iteration after warm-up, and peak memory (CUDA:
    max_memory_allocated; CPU: peak RSS above the idle process). Prints the
    published TITAN X figures beside the measurement; --out writes the
    record that `densenet-zoo table wide|memory` reads.
    """
    from zoo.reproduction.benchmark import BenchmarkOptions, run_benchmark, write_record
    from zoo.reproduction.published import published_time_memory

    options = BenchmarkOptions(**settings)
    record = run_benchmark(options)
    click.echo(
        f"{options.arch}, batch {options.batch_size}, {options.image_size}x{options.image_size}, memory_efficient "
        f"{options.memory_efficient}, {record['device']} ({record['device_name']}, {record['threads']} threads)"
    )
    memory = "max_memory_allocated" if record["device"] == "cuda" else "peak RSS above idle"
    click.echo(
        f"  measured: {record['seconds_per_iteration']:.4f} s/iteration (median of {options.iterations}), "
        f"{record['images_per_second']:.1f} images/s, {record['peak_memory_mib']:.0f} MiB ({memory})"
    )
    for label, seconds, megabytes in published_time_memory(options.arch, options.memory_efficient):
        click.echo(f"  published ({label}, TITAN X, batch 64): {seconds:.3f} s/iteration, {megabytes:.0f} MB")
    if out is not None:
        click.echo(f"  record: {write_record(record, out)}")


@click.command("table")
@click.argument("name", type=click.Choice(TABLES))
@click.argument("runs_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of markdown.")
@reports_errors
def table_command(name: str, runs_dir: str, as_json: bool) -> None:
    """Print a published table beside the one measured from RUNS_DIR.

    NAME is cifar (test errors), wide (Wide-DenseNet time and memory) or
    memory (the -optMemory table). RUNS_DIR holds densenet-zoo train run
    folders and densenet-zoo benchmark --out records, at any depth. Each
    cell reads published / measured (difference), or "not run".
    """
    from zoo.reproduction.records import read_records
    from zoo.reproduction.tables import build_table

    table = build_table(name, read_records(runs_dir))
    click.echo(json.dumps(table.to_dict(), indent=2) if as_json else table.to_markdown(), nl=as_json)
