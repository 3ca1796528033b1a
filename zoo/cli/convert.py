"""``densenet-zoo convert`` and ``densenet-zoo inspect``: Lua Torch7 checkpoints to PyTorch weights.

Exit status: 0 on success, 1 (with a one-line error) when the checkpoint is
malformed or not a convertible DenseNet or the output exists, 2 on usage errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from zoo.cli.errors import reports_errors

#: Files above this size get a progress bar while the weights are written.
PROGRESS_THRESHOLD_BYTES = 64 * 1024 * 1024


def _describe_config(config: Any) -> str:
    """One line naming the inferred architecture."""
    blocks = "-".join(str(n) for n in config.block_config)
    return (
        f"growth_rate={config.growth_rate} blocks={blocks} init_features={config.num_init_features} "
        f"bn_size={config.bn_size} compression={config.compression:g} drop_rate={config.drop_rate:g} "
        f"classes={config.num_classes} stem={config.stem}"
    )


def _summary_lines(plan: Any) -> list[str]:
    from zoo.factory import matching_models

    report = plan.report
    names = matching_models(plan.config)
    lines = [
        f"architecture: DenseNet-BC {_describe_config(plan.config)}",
        f"same shape as: {', '.join(names) if names else '(no published model)'}",
        f"parameters:   {plan.num_parameters:,}",
        f"layout:       {report.layout} | batchnorm: {report.batchnorm_format} | tensors: "
        + ", ".join(f"{name} x{count}" for name, count in sorted(report.tensor_types.items())),
    ]
    return lines


def _progress_bar(total_bytes: int) -> contextlib.AbstractContextManager[Any]:
    """A progress bar on stderr for writes of at least PROGRESS_THRESHOLD_BYTES; else a context yielding None."""
    if total_bytes < PROGRESS_THRESHOLD_BYTES:
        return contextlib.nullcontext()
    return click.progressbar(length=total_bytes, label="writing weights", file=sys.stderr)


@click.command("convert")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default: SOURCE's name with .safetensors/.pth in the current directory).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["safetensors", "pth"]),
    default=None,
    help="Output format (default: from the output suffix, else safetensors).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--parents", is_flag=True, help="Create the output file's missing directories.")
@reports_errors
def convert_command(source: Path, output: Path | None, output_format: str | None, force: bool, parents: bool) -> None:
    """Convert a Torch7 checkpoint into PyTorch weights.

    SOURCE is a Lua Torch7 DenseNet checkpoint (.t7); the weights are written as
    .safetensors (with the architecture in its metadata) or as a plain .pth state dict.
    """
    from converters import t7
    from converters.densenet import plan_conversion
    from converters.export import check_output, output_target, save_plan, source_metadata

    target, fmt = output_target(source, output, output_format)
    check_output(target, force, parents)
    click.echo(f"reading {source} ({os.path.getsize(source) / 1e6:.1f} MB)", err=True)
    plan = plan_conversion(t7.ensure_loaded(source))
    for line in _summary_lines(plan):
        click.echo(line)
    with _progress_bar(plan.nbytes) as bar:
        update = None if bar is None else lambda done, total: bar.update(done - bar.pos)
        written = save_plan(plan, target, format=fmt, metadata=source_metadata(source), force=force, progress=update)
    click.echo(f"wrote {written} ({os.path.getsize(written) / 1e6:.1f} MB, {fmt})")


@click.command("inspect")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
@reports_errors
def inspect_command(source: Path, as_json: bool) -> None:
    """Show what a Torch7 checkpoint holds, without converting.

    The module tree summary and the inferred architecture of SOURCE (.t7).
    """
    from converters import t7
    from converters.densenet import plan_conversion
    from zoo.factory import matching_models

    plan = plan_conversion(t7.ensure_loaded(source))
    report = plan.report
    if as_json:
        document = {
            "source": str(source),
            "config": plan.config.to_dict(),
            "matches": matching_models(plan.config),
            "parameters": plan.num_parameters,
            "output_bytes": plan.nbytes,
            "report": report.to_dict(),
        }
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return
    for line in _summary_lines(plan):
        click.echo(line)
    click.echo("modules:")
    for name, count in sorted(report.module_counts.items()):
        click.echo(f"  {name:<36} {count:>5}")
    if report.ignored_fields:
        click.echo(
            "ignored tensor fields (not read): "
            + ", ".join(f"{name} x{count}" for name, count in sorted(report.ignored_fields.items()))
        )
    if report.dropout_modules or report.conv_biases_folded or report.conv_biases_dropped:
        click.echo(
            f"dropout modules: {report.dropout_modules}; conv biases folded into BatchNorm: "
            f"{report.conv_biases_folded}; "
            f"zero conv biases dropped: {report.conv_biases_dropped}"
        )
    for note in report.notes:
        click.echo(f"note: {note}")
