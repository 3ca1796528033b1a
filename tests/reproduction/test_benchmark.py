"""densenet-zoo benchmark on the CPU at a tiny size: the record it writes, and the tables that read it.

Timing and memory are never asserted against each other (DESIGN.md); what is checked is that a real
measurement ran (in a fresh process), what the record holds, and that ``table wide|memory`` put it and the
ratios between records of the same setting where they belong.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch
from cli_run import run

from zoo.reproduction import BenchmarkError, BenchmarkOptions, run_benchmark
from zoo.reproduction.benchmark import BENCHMARK_FORMAT

TINY = ("--batch-size", "2", "--iterations", "2", "--warmup", "1", "--device", "cpu", "--threads", "1")


@pytest.fixture(scope="module")
def benchmarks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Records of DenseNet-BC (L=100, k=12), plain and "norm", and Wide-DenseNet-BC (L=40, k=36), plain."""
    folder = tmp_path_factory.mktemp("benchmarks")
    for arch, mode in (
        ("densenet_bc_l100_k12", "off"),
        ("densenet_bc_l100_k12", "norm"),
        ("wide_densenet_bc_l40_k36", "off"),
    ):
        code, stdout, stderr = run(
            "benchmark", "--arch", arch, "--memory-efficient", mode, *TINY, "--out", str(folder / f"{arch}-{mode}.json")
        )
        assert code == 0, stderr
        (folder / f"{arch}-{mode}.txt").write_text(stdout)
    return folder


def record(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


def test_the_record_holds_the_measurement_and_the_command_prints_the_published_figures(benchmarks) -> None:
    plain = record(benchmarks, "densenet_bc_l100_k12-off")
    assert plain["format"] == BENCHMARK_FORMAT and plain["num_parameters"] == 769_162
    assert (plain["arch"], plain["batch_size"], plain["image_size"], plain["memory_efficient"]) == (
        "densenet_bc_l100_k12",
        2,
        32,
        "off",
    )
    assert (plain["device"], plain["threads"], plain["memory_measure"]) == ("cpu", 1, "cpu_peak_rss_above_idle")
    assert len(plain["seconds"]) == 2 and plain["seconds_per_iteration"] == statistics.median(plain["seconds"])
    assert plain["peak_memory_mib"] > 0 and plain["images_per_second"] == 2 / plain["seconds_per_iteration"]
    printed = (benchmarks / "densenet_bc_l100_k12-off.txt").read_text()
    assert "published (Wide-DenseNet table (optMemory 0), TITAN X, batch 64): 0.156 s/iteration, 5452 MB" in printed
    assert "published (optMemory 2 table, TITAN X, batch 64): 0.152 s/iteration, 2969 MB" in printed
    assert f"{plain['peak_memory_mib']:.0f} MiB (peak RSS above idle)" in printed
    norm = (benchmarks / "densenet_bc_l100_k12-norm.txt").read_text()
    assert "optMemory 4 table, TITAN X, batch 64): 0.175 s/iteration, 1655 MB" in norm and "Wide" not in norm


def test_table_memory_and_wide_read_the_records(benchmarks) -> None:
    plain, norm, wide = (
        record(benchmarks, name)
        for name in ("densenet_bc_l100_k12-off", "densenet_bc_l100_k12-norm", "wide_densenet_bc_l40_k36-off")
    )
    code, text, stderr = run("table", "memory", str(benchmarks), "--json")
    assert code == 0, stderr
    rows = {row["model"].split(":")[0]: row["cells"] for row in json.loads(text)["rows"]}
    assert rows["optMemory 2"]["memory (MB)"]["measured"] == plain["peak_memory_mib"]
    assert (
        rows["optMemory 4"]["our mode"] == "norm"
        and rows["optMemory 4"]["s/iteration"]["measured"] == norm["seconds_per_iteration"]
    )
    assert rows["optMemory 4"]["memory vs plain"]["measured"] == norm["peak_memory_mib"] / plain["peak_memory_mib"]
    assert rows["optMemory 4"]["memory vs plain"]["published"] == 1655 / 2969
    assert rows["optMemory 0"]["memory (MB)"]["measured"] is None and rows["optMemory 3"]["our mode"].startswith("-")

    code, markdown, _ = run("table", "wide", str(benchmarks))
    assert code == 0 and "Measured on cpu (" in markdown and "batch 2, 32x32, 1 threads" in markdown
    line = next(line for line in markdown.splitlines() if line.startswith("| Wide-DenseNet-BC (L=40, k=36)"))
    ratio = wide["peak_memory_mib"] / plain["peak_memory_mib"]
    assert f"| 0.735 / {ratio:.3f} ({ratio - 4008 / 5452:+.3f}) |" in line and "4.58 / not run" in line


def test_ratios_are_given_only_between_records_of_the_same_setting(benchmarks, tmp_path) -> None:
    for name in ("densenet_bc_l100_k12-off", "wide_densenet_bc_l40_k36-off"):
        (tmp_path / f"{name}.json").write_text((benchmarks / f"{name}.json").read_text())
    other = record(benchmarks, "wide_densenet_bc_l40_k36-off") | {"batch_size": 64}
    (tmp_path / "wide_densenet_bc_l40_k36-off.json").write_text(json.dumps(other))
    code, text, _ = run("table", "wide", str(tmp_path), "--json")
    cells = json.loads(text)["rows"][1]["cells"]
    assert code == 0 and cells["memory (MB)"]["measured"] == other["peak_memory_mib"]
    assert cells["memory vs DenseNet-BC (L=100, k=12)"]["measured"] is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"peak_memory_mib": "1"}, "peak_memory_mib (str)"),
        ({"threads": None}, "threads (NoneType)"),
        ({"seconds_per_iteration": -1.0}, "seconds_per_iteration (-1.0)"),
    ],
)
def test_a_malformed_benchmark_record_is_one_error_line(benchmarks, tmp_path, changes, message) -> None:
    (tmp_path / "b.json").write_text(json.dumps(record(benchmarks, "densenet_bc_l100_k12-off") | changes))
    code, _, stderr = run("table", "memory", str(tmp_path))
    assert code == 1 and stderr.count("\n") == 1 and "b.json is a benchmark record with missing or malformed" in stderr
    assert message in stderr


def test_the_python_api_measures_in_a_fresh_process() -> None:
    measured = run_benchmark(
        BenchmarkOptions(
            "densenet_l40_k12", batch_size=1, iterations=1, warmup=0, device="cpu", threads=1, num_classes=100
        )
    )
    assert measured["num_parameters"] == 1_060_132 and measured["seconds_per_iteration"] > 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--arch", "densenet_l41_k12"), "densenet_l41_k12"),
        (
            ("--arch", "densenet_l40_k12", "--image-size", "1"),
            "takes images of at least 4 pixels a side (each transition halves them), got --image-size 1",
        ),
    ],
)
def test_a_benchmark_that_cannot_run_is_one_error_line(arguments, message) -> None:
    code, _, stderr = run("benchmark", *arguments, *TINY)
    assert code == 1 and stderr.startswith("error: ") and stderr.count("\n") == 1 and message in stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without a CUDA device")
def test_cuda_without_a_device_is_one_error_line() -> None:
    code, _, stderr = run("benchmark", "--arch", "densenet_l40_k12", "--device", "cuda")
    assert code == 1 and "--device cuda was asked for, but torch finds no CUDA device" in stderr


def test_options_are_checked_before_anything_runs() -> None:
    with pytest.raises(
        BenchmarkError, match="batch_size must be an integer from 1 to 4096, got 0; memory_efficient must be one of"
    ):
        BenchmarkOptions("densenet_l40_k12", batch_size=0, memory_efficient="fast")
