"""zoo.figures and ``densenet-zoo figure imagenet``: the points, records written by zoo.evaluation, the drawn PNG."""

from __future__ import annotations

import dataclasses
import functools
import struct
import sys
from pathlib import Path

import pytest
from cli_run import run
from evaluation.evaluation_helpers import evaluation_record

from zoo.figures import (
    FIGURE_SIZE,
    FigureError,
    MeasuredError,
    draw_imagenet_figure,
    imagenet_figure,
    imagenet_points,
    read_measured_errors,
)


def write_record(folder: Path, filename: str, model: str, top1_error: float, **changes) -> Path:
    """An evaluation record as ``densenet-zoo evaluate --json`` writes it (50,000 images, 1 crop, torch7)."""
    return evaluation_record(model=model, top1_error=top1_error, **changes).save(folder / filename)


@pytest.fixture
def records(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    write_record(folder, "densenet121.json", "densenet121", 25.31)
    write_record(folder, "resnet50.json", "resnet50", 23.9)
    write_record(folder, "limited.json", "densenet169", 10.0, images=500, limit=1)
    write_record(folder, "tencrop.json", "densenet201", 21.0, crops=10)
    write_record(folder, "torchvision.json", "densenet264", 22.0, preprocess="torchvision")
    write_record(folder, "other.json", "densenet161", 22.2)
    (folder / "broken.json").write_text("{not json")
    (folder / "notes.json").write_text('{"schema": "something/else"}')
    (folder / "readme.txt").write_text("not a record")
    return folder


@functools.cache
def published_points() -> tuple:
    return tuple(imagenet_points())


def test_points_are_counted_and_published() -> None:
    points = {point.name: point for point in published_points()}
    assert list(points) == [f"densenet{d}" for d in (121, 169, 201, 264)] + [f"resnet{d}" for d in (34, 50, 101, 152)]
    assert (points["densenet121"].parameters, points["densenet121"].multiply_adds) == (7_978_856, 2_834_161_664)
    assert (points["resnet50"].parameters, points["resnet50"].multiply_adds) == (25_557_032, 4_089_184_256)
    # the registry manifest's DenseNet errors; fb.resnet.torch's README for the ResNets
    assert [points[f"densenet{d}"].top1_error for d in (121, 169, 201, 264)] == [25.0, 23.6, 22.5, 22.1]
    assert [points[f"resnet{d}"].top1_error for d in (34, 50, 101, 152)] == [26.73, 24.01, 22.44, 22.16]
    assert all(not point.measured for point in points.values())


def test_records_that_count_and_those_that_do_not(records: Path) -> None:
    measured, skipped = read_measured_errors(records)
    assert measured == {
        "densenet121": [MeasuredError(25.31, "densenet121.json")],
        "resnet50": [MeasuredError(23.9, "resnet50.json")],
    }
    assert set(skipped) == {"limited.json", "tencrop.json", "torchvision.json", "other.json", "broken.json"} | {
        "notes.json"
    }
    assert "whole validation set" in skipped["limited.json"]
    assert "single-crop" in skipped["tencrop.json"] and "single-crop" in skipped["torchvision.json"]
    assert "not in the figure" in skipped["other.json"]
    assert "unreadable" in skipped["broken.json"] and "not an evaluation record" in skipped["notes.json"]
    with pytest.raises(FigureError, match="not a directory"):
        read_measured_errors(records / "densenet121.json")


def test_measured_points_are_drawn(records: Path) -> None:
    measured, _ = read_measured_errors(records)
    points = [dataclasses.replace(point, measured=tuple(measured.get(point.name, ()))) for point in published_points()]
    figure = imagenet_figure(points)
    left, right = figure.axes
    hollow = {
        (round(x, 6), y)
        for axes in (left, right)
        for line in axes.get_lines()
        if line.get_markerfacecolor() == "white"
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
    }
    assert hollow == {(7.978856, 25.31), (2.834162, 25.31), (25.557032, 23.9), (4.089184, 23.9)}
    labels = [text.get_text() for text in left.get_legend().get_texts()]
    kinds = ("published", "measured here")
    assert labels == [f"{family}s ({kind})" for family in ("DenseNet", "ResNet") for kind in kinds]
    published_only = imagenet_figure(list(published_points()))
    assert not any(line.get_markerfacecolor() == "white" for line in published_only.axes[0].get_lines())


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
    return struct.unpack(">II", header[16:24])


def test_draw_writes_a_png_of_the_expected_size(tmp_path: Path) -> None:
    path = draw_imagenet_figure(list(published_points()), tmp_path / "figure.png", dpi=40)
    assert png_size(path) == (round(FIGURE_SIZE[0] * 40), round(FIGURE_SIZE[1] * 40))
    with pytest.raises(FileExistsError):
        draw_imagenet_figure(list(published_points()), path, dpi=40)
    with pytest.raises(FigureError, match=r"\.png, \.pdf, \.svg"):
        draw_imagenet_figure(list(published_points()), tmp_path / "figure.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]


def test_figure_command(records: Path, tmp_path: Path) -> None:
    output = tmp_path / "fig.png"
    code, out, err = run("figure", "imagenet", "-o", str(output), "--records", str(records), "--dpi", "30")
    assert code == 0, err
    assert png_size(output) == (round(FIGURE_SIZE[0] * 30), round(FIGURE_SIZE[1] * 30))
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "25.00  25.31 (densenet121.json)" in rows["densenet121"]
    assert rows["resnet152"].split()[1:4] == ["60,192,808", "11.514", "22.16"]
    assert "skipped tencrop.json: not single-crop" in err
    code, _, err = run("figure", "imagenet", "-o", str(output))
    assert code == 1 and err.startswith("error: ") and "already exists" in err


def test_without_matplotlib_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an environment without matplotlib raises on import
    code, _, err = run("figure", "imagenet", "-o", str(tmp_path / "fig.png"))
    assert code == 1
    assert err == "error: drawing figures needs matplotlib: pip install 'densenet-zoo[plot]'\n"
    assert not (tmp_path / "fig.png").exists()
