"""``densenet-zoo figure``: the paper's figures over :mod:`zoo.figures`."""

from __future__ import annotations

from pathlib import Path

import click

from zoo.cli.errors import reports_errors


@click.group("figure")
def figure_group() -> None:
    """Draw a figure of the DenseNet paper.

    Needs matplotlib: pip install 'densenet-zoo[plot]'.
    """


@figure_group.command("imagenet")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The figure file (.png, .pdf or .svg).",
)
@click.option(
    "--records",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A folder of `densenet-zoo evaluate --json` records: their measured errors join the published ones.",
)
@click.option("--dpi", type=click.IntRange(min=10, max=1200), default=150, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@reports_errors
def imagenet_figure_command(output: Path, records: Path | None, dpi: int, force: bool) -> None:
    """Figure 3: ImageNet top-1 error vs parameters and vs multiply-adds, DenseNets and ResNets.

    Parameters and multiply-adds (224x224) are counted from the networks; errors are the published
    single-crop ones, plus those measured in RECORDS (whole validation set, 1 crop, torch7 preprocessing).
    """
    from zoo.figures import draw_imagenet_figure, imagenet_points, read_measured_errors, require_matplotlib

    require_matplotlib()
    measured, skipped = read_measured_errors(records) if records else ({}, {})
    for name, reason in skipped.items():
        click.echo(f"skipped {name}: {reason}", err=True)
    points = imagenet_points(measured)
    written = draw_imagenet_figure(points, output, dpi=dpi, force=force)
    click.echo(f"{'model':<12} {'params':>11} {'GMACs':>7} {'published':>9}  measured")
    for point in points:
        values = ", ".join(f"{m.top1_error:.2f} ({m.record})" for m in point.measured) or "-"
        size = f"{point.parameters:>11,} {point.multiply_adds / 1e9:>7.3f}"
        click.echo(f"{point.name:<12} {size} {point.top1_error:>9.2f}  {values}")
    click.echo(f"wrote {written}")
