"""densenet-zoo table: the published tables beside the cells measured from real training runs' result.json.

The end-to-end test of issue 11: a CIFAR-10 dataset in the official python-version layout, one published
architecture trained 2 epochs for C10 and C10+ with ``densenet-zoo train`` on the CPU, then ``densenet-zoo table
cifar`` fills those two cells with the runs' test errors and says "not run" for the other 22. The other tests
reuse those genuine records (copied, some edited) to check unfinished, off-recipe, unusable and hostile ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from cli_run import run
from training.cifar_files import write_cifar

from zoo.reproduction import RecordError, build_table, read_records
from zoo.reproduction.published import CIFAR_TABLE

#: The cheapest published architecture to train on a CPU (1.0M parameters, 39 convolutions).
ARCH = "densenet_l40_k12"
ROW = "DenseNet (L=40, k=12)"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder with two genuine 2-epoch runs of ARCH: ``l40-C10+`` and ``l40-C10`` (64 + 16 images)."""
    root = tmp_path_factory.mktemp("e2e")
    write_cifar(root / "data", "cifar10", train_images=64, test_images=16)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # the test machine's cores are shared
    try:
        for name, flag in (("l40-C10+", "--augment"), ("l40-C10", "--no-augment")):
            code, _, stderr = run(
                "train", "--arch", ARCH, "--dataset", "cifar10", "--data", str(root / "data"), flag,
                "--epochs", "2", "--batch-size", "32", "--device", "cpu", "--quiet", "--out", str(root / "runs" / name),
            )  # fmt: skip
            assert code == 0, stderr
    finally:
        torch.set_num_threads(previous)
    return root / "runs"


def result(runs: Path, name: str) -> dict:
    return json.loads((runs / name / "result.json").read_text())


def copy_run(trained: Path, name: str, destination: Path, **changes) -> Path:
    """``destination/name``: the genuine record of run ``name`` with ``changes`` applied."""
    record = result(trained, name) | changes
    (destination / name).mkdir(parents=True)
    (destination / name / "result.json").write_text(json.dumps(record))
    return destination / name


def markdown_row(text: str, label: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_end_to_end_trained_cells_are_filled_and_the_rest_not_run(trained: Path) -> None:
    code, markdown, stderr = run("table", "cifar", str(trained))
    assert code == 0, stderr
    plus, plain = result(trained, "l40-C10+"), result(trained, "l40-C10")
    assert (plus["cell"], plain["cell"], plus["arch"], plain["drop_rate"]) == ("C10+", "C10", ARCH, 0.2)
    params, c10, c10_plus, c100, c100_plus = markdown_row(markdown, ROW)
    assert params == "1.0M / 1,019,722"
    assert c10.startswith(f"7.00 / {plain['top1_error']:.2f} ({plain['top1_error'] - 7.00:+.2f})")
    assert c10_plus.startswith(f"5.24 / {plus['top1_error']:.2f} ({plus['top1_error'] - 5.24:+.2f})")
    assert c100 == "27.55 / not run" and c100_plus == "24.42 / not run"
    assert markdown.count("/ not run") == 4 * len(CIFAR_TABLE) - 2
    assert "- / not run" in markdown_row(markdown, "DenseNet-BC (L=190, k=40)")  # unpublished C10 cell
    assert "epochs 2 (published 300)" in markdown and "batch_size 32 (published 64)" in markdown

    code, text, _ = run("table", "cifar", str(trained), "--json")
    table = json.loads(text)
    row = next(row for row in table["rows"] if row["model"] == ROW)["cells"]
    assert row["C10"]["measured"] == plain["top1_error"] and row["C10+"]["measured"] == plus["top1_error"]
    assert row["C10+"]["difference"] == plus["top1_error"] - 5.24 and row["C100"]["measured"] is None
    assert "not the published recipe" in row["C10"]["note"] and table["columns"] == [
        "params",
        "C10",
        "C10+",
        "C100",
        "C100+",
    ]


def test_an_unfinished_run_fills_its_cell_and_says_how_far_it_got(trained: Path, tmp_path: Path) -> None:
    copy_run(trained, "l40-C10+", tmp_path, finished=False, epochs_done=1, epochs=300)
    cells = build_table("cifar", read_records(tmp_path)).to_dict()["rows"][0]["cells"]
    assert cells["C10+"]["measured"] == result(trained, "l40-C10+")["top1_error"]
    assert "unfinished 1/300 epochs" in cells["C10+"]["note"]


def test_runs_of_one_cell_are_averaged(trained: Path, tmp_path: Path) -> None:
    copy_run(trained, "l40-C10", tmp_path / "a", top1_error=10.0, recipe_deviations=[], published_recipe=True)
    copy_run(trained, "l40-C10", tmp_path / "b", top1_error=5.0, recipe_deviations=[], published_recipe=True)
    cell = build_table("cifar", read_records(tmp_path)).to_dict()["rows"][0]["cells"]["C10"]
    assert (cell["measured"], cell["difference"], cell["note"]) == (7.5, 7.5 - 7.00, "n=2")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"arch": None}, "not a published CIFAR architecture (arch None)"),
        ({"arch": "densenet121"}, "not a published CIFAR architecture (arch densenet121)"),
        ({"cell": None, "dataset": "synthetic"}, "not a CIFAR cell (dataset synthetic, cell None)"),
        ({"top1_error": None, "epochs_done": 0, "finished": False}, "no epoch done yet (0/2 epochs)"),
    ],
)
def test_a_run_that_fills_no_cell_is_skipped_with_the_reason(trained, tmp_path, changes, reason) -> None:
    folder = copy_run(trained, "l40-C10", tmp_path, **changes)
    code, markdown, _ = run("table", "cifar", str(tmp_path))
    assert code == 0 and f"- {folder}: {reason}" in markdown and "/ not run" in markdown_row(markdown, ROW)[1]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"top1_error": "5.0"}, "top1_error (str)"),
        ({"epochs_done": True}, "epochs_done (bool)"),
        ({"epochs": -1}, "epochs (-1)"),
        ({"finished": None}, "finished (NoneType)"),
        ({"recipe_deviations": [1]}, "recipe_deviations (not a list of strings)"),
        ({"format": "densenet-zoo/train-result/9"}, "expected format 'densenet-zoo/train-result/1'"),
    ],
)
def test_a_malformed_training_record_is_one_error_line(trained, tmp_path, changes, message) -> None:
    folder = copy_run(trained, "l40-C10", tmp_path, **changes)
    code, stdout, stderr = run("table", "cifar", str(tmp_path))
    assert code == 1 and stdout == "" and stderr.count("\n") == 1 and stderr.startswith("error: ")
    assert str(folder / "result.json") in stderr and message in stderr


def test_a_record_that_is_not_json_or_too_large_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "result.json").write_text('{"format": "densenet-zoo/train-result/1", "cell"')
    code, _, stderr = run("table", "cifar", str(tmp_path))
    assert code == 1 and stderr.count("\n") == 1 and "result.json is not JSON (JSONDecodeError" in stderr
    (tmp_path / "cut" / "result.json").write_bytes(b" " * (1 << 20) + b"{}")
    code, _, stderr = run("table", "cifar", str(tmp_path))
    assert code == 1 and stderr.count("\n") == 1 and "larger than any record (1,048,576 bytes)" in stderr


def test_links_are_not_followed_and_other_json_files_are_left_alone(trained, tmp_path) -> None:
    runs = tmp_path / "runs"
    copy_run(trained, "l40-C10", tmp_path / "elsewhere")
    (runs / "linked").mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere" / "l40-C10" / "result.json", runs / "linked" / "result.json")
    os.symlink(tmp_path / "elsewhere", runs / "folder-link")
    (runs / "notes.json").write_text("not json")
    (runs / "config.json").write_text('{"lr": 0.1}')
    os.mkfifo(runs / "fifo.json")
    records = read_records(runs)
    assert records.runs == [] and records.benchmarks == []
    assert records.skipped == [
        f"{runs / 'folder-link'}: a symbolic link, not followed",
        f"{runs / 'fifo.json'}: not a regular file",
        f"{runs / 'notes.json'}: not JSON (JSONDecodeError: Expecting value: line 1 column 1 (char 0)), not a record",
        f"{runs / 'linked' / 'result.json'}: a symbolic link, not followed",
    ]
    with pytest.raises(RecordError, match="found no folder"):
        read_records(tmp_path / "runs" / "folder-link")


def test_a_missing_runs_folder_is_one_error_line(tmp_path: Path) -> None:
    code, _, stderr = run("table", "wide", str(tmp_path / "nowhere"))
    assert code == 1 and stderr.startswith("error: expected a folder of run records") and stderr.count("\n") == 1


def test_the_wide_table_takes_its_error_cells_from_runs_of_its_architectures(trained, tmp_path) -> None:
    copy_run(trained, "l40-C10+", tmp_path, arch="wide_densenet_bc_l40_k48", top1_error=4.5)
    cells = build_table("wide", read_records(tmp_path)).to_dict()["rows"][2]["cells"]
    assert cells["C10+"]["measured"] == 4.5 and cells["C10+"]["difference"] == pytest.approx(4.5 - 3.99)
    assert cells["C100+"]["measured"] is None and cells["s/iteration"]["measured"] is None
