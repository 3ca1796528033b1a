"""``densenet-zoo convert`` and ``densenet-zoo inspect``: Lua Torch7 checkpoints to PyTorch.

``convert`` writes a recognised DenseNet as torchvision-named weights
(``.safetensors``, ``.pth``), and any other model as a directory holding a
standalone ``model.py`` and its ``model.safetensors`` (``--format module``), or
as a checked ONNX file (``--format onnx``). ``inspect`` describes any model.

Exit status: 0 on success, 1 (with a one-line error) when the checkpoint is
malformed or cannot be converted as asked or the output exists, 2 on usage errors.
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
    """One line naming the inferred architecture: the paper's family name (DenseNet-B for bottleneck layers,
    -C for compression) and the config's fields."""
    family = "DenseNet-" + ("B" if config.bottleneck else "") + ("C" if config.compression < 1 else "")
    blocks = "-".join(str(n) for n in config.block_config)
    bottleneck = f"bn_size={config.bn_size}" if config.bottleneck else "bottleneck=none"
    return (
        f"{family.rstrip('-')} growth_rate={config.growth_rate} blocks={blocks} "
        f"init_features={config.num_init_features} {bottleneck} compression={config.compression:g} "
        f"drop_rate={config.drop_rate:g} classes={config.num_classes} stem={config.stem}"
    )


def _summary_lines(plan: Any) -> list[str]:
    from zoo.factory import describe_matches

    report = plan.report
    names = describe_matches(plan.config)
    lines = [
        f"architecture: {_describe_config(plan.config)}",
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


#: Output formats of ``convert``: the DenseNet's torchvision-named weights, or any model's export.
DENSENET_FORMATS = ("safetensors", "pth")
MODULE_FORMATS = ("module", "onnx")
_SUFFIX_FORMATS = {".safetensors": "safetensors", ".pth": "pth", ".pt": "pth", ".onnx": "onnx"}
_DTYPES = ("float16", "float32", "float64")


def _input_shape(context: click.Context, parameter: click.Parameter, values: tuple[str, ...]) -> list[tuple[int, ...]]:
    """``--input-shape 1,3,224,224`` (repeatable) as tuples of positive sizes."""
    shapes = []
    for value in values:
        try:
            shape = tuple(int(size) for size in value.replace("x", ",").split(","))
        except ValueError:
            shape = ()
        if not shape or min(shape) < 1:
            raise click.BadParameter(f"expected positive sizes separated by commas such as 1,3,224,224, got {value!r}")
        shapes.append(shape)
    return shapes


@click.command("convert")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file (safetensors, pth, onnx) or directory (module). Default: SOURCE's name in the current "
    "directory, with .safetensors/.pth/.onnx, or as a directory.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice([*DENSENET_FORMATS, *MODULE_FORMATS]),
    default=None,
    help="safetensors/pth: a DenseNet's torchvision-named weights; module: OUTPUT/model.py + model.safetensors "
    "for any model; onnx: an ONNX file checked with onnxruntime (needs densenet-zoo[onnx]). Default: from the "
    "output's suffix, else safetensors for a DenseNet and module for anything else.",
)
@click.option(
    "--input-shape",
    "input_shapes",
    multiple=True,
    callback=_input_shape,
    help="onnx: the example input's shape, e.g. 1,3,224,224 (repeat for each tensor of a table input); "
    "inferred when the first layer makes it obvious.",
)
@click.option(
    "--dtype",
    type=click.Choice(_DTYPES),
    default=None,
    help="module/onnx: convert every tensor to this dtype (default: module keeps Lua's, onnx uses float32).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output (a directory only if it holds an export).")
@click.option("--parents", is_flag=True, help="Create the output's missing parent directories.")
@reports_errors
def convert_command(
    source: Path,
    output: Path | None,
    output_format: str | None,
    input_shapes: list[tuple[int, ...]],
    dtype: str | None,
    force: bool,
    parents: bool,
) -> None:
    """Convert a Torch7 checkpoint into PyTorch or ONNX.

    SOURCE is a Lua Torch7 checkpoint (.t7). A DenseNet becomes torchvision-named
    weights (.safetensors with the architecture in its metadata, or a .pth state
    dict); any other model OUTPUT/model.py + OUTPUT/model.safetensors, which load
    with torch alone (import model; net = model.load()).
    """
    from converters import t7
    from converters.densenet import plan_conversion
    from converters.errors import ConversionError

    fmt = output_format or (_SUFFIX_FORMATS.get(output.suffix.lower()) if output else None)
    if fmt in DENSENET_FORMATS and (input_shapes or dtype):
        raise click.UsageError("--input-shape and --dtype apply to --format module and onnx")
    if fmt == "module" and input_shapes:
        raise click.UsageError("--input-shape applies to --format onnx")
    if fmt in MODULE_FORMATS:
        _export(source, output, fmt, input_shapes, dtype, force, parents)
        return
    root = t7.ensure_loaded(source)
    try:
        plan = plan_conversion(root)
    except ConversionError as error:
        if fmt in DENSENET_FORMATS:
            raise ConversionError(f"{error}; --format module or onnx converts any Torch7 model") from error
        click.echo(
            f"{source.name} is not a DenseNet with torchvision names ({error}); exporting it as a module", err=True
        )
        _export(source, output, "module", input_shapes, dtype, force, parents)
        return
    _write_densenet(source, plan, output, fmt, force, parents)


def _write_densenet(source: Path, plan: Any, output: Path | None, fmt: str | None, force: bool, parents: bool) -> None:
    """Today's DenseNet conversion: torchvision-named weights streamed into .safetensors or .pth."""
    from converters.export import check_output, output_target, save_plan, source_metadata

    target, fmt = output_target(source, output, fmt)
    check_output(target, force, parents)
    click.echo(f"reading {source} ({os.path.getsize(source) / 1e6:.1f} MB)", err=True)
    for line in _summary_lines(plan):
        click.echo(line)
    with _progress_bar(plan.nbytes) as bar:
        update = None if bar is None else lambda done, total: bar.update(done - bar.pos)
        written = save_plan(plan, target, format=fmt, metadata=source_metadata(source), force=force, progress=update)
    click.echo(f"wrote {written} ({os.path.getsize(written) / 1e6:.1f} MB, {fmt})")


def _export(
    source: Path,
    output: Path | None,
    fmt: str,
    input_shapes: list[tuple[int, ...]],
    dtype_name: str | None,
    force: bool,
    parents: bool,
) -> None:
    """Any model: a model.py + model.safetensors directory, or a checked ONNX file."""
    import torch

    dtype = None if dtype_name is None else getattr(torch, dtype_name)
    if fmt == "onnx":
        from converters.onnx_export import export_onnx

        target = output or Path.cwd() / f"{source.stem}.onnx"
        result = export_onnx(
            source,
            target,
            input_shapes=input_shapes or None,
            dtype=dtype or torch.float32,
            force=force,
            parents=parents,
        )
        shapes = ", ".join("x".join(str(size) for size in shape) for shape in result.input_shapes)
        click.echo(
            f"onnxruntime reproduces the PyTorch output on a {shapes} input: max difference "
            f"{result.max_difference:.2g} of the largest value (exporter: {result.exporter})"
        )
        click.echo(f"wrote {result.path} ({result.num_bytes / 1e6:.1f} MB, onnx)")
        return
    from converters.module_export import export_module

    directory = output or Path.cwd() / source.stem
    result = export_module(source, directory, dtype=dtype, force=force, parents=parents)
    report = result.report
    click.echo(f"model:        {report.lua_classes.get('', '?')}, {sum(report.module_counts.values())} modules")
    click.echo(f"parameters:   {report.num_parameters:,}")
    click.echo(
        f"wrote {result.model_file} and {result.weights_file.name} ({result.num_bytes / 1e6:.1f} MB); "
        f"load with: import model; net = model.load()"
    )


@click.command("inspect")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
@reports_errors
def inspect_command(source: Path, as_json: bool) -> None:
    """Show what a Torch7 checkpoint holds, without converting.

    For any model: the Lua class histogram, the parameter count, every module's
    Lua path and PyTorch name and class, and the classes without a translator
    (with their Lua paths). For a DenseNet also the inferred architecture.
    """
    from converters import t7
    from converters.densenet import plan_conversion
    from converters.errors import ConversionError
    from converters.inspection import inspect_module

    root = t7.ensure_loaded(source)
    try:
        plan = plan_conversion(root)
    except ConversionError:
        plan = None
    if plan is None:
        inspection = inspect_module(root)
    else:
        try:
            inspection = inspect_module(root)
        except ConversionError:  # the DenseNet mapping reads less than the general translation
            inspection = None
    if as_json:
        document = {"source": str(source), "kind": "module" if plan is None else "densenet"}
        if plan is not None:
            document.update(_densenet_document(plan))
        document["module"] = None if inspection is None else inspection.to_dict()
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return
    if plan is not None:
        _echo_densenet(plan)
        if inspection is not None:
            click.echo(f"as any model: {_support_line(inspection)}")
        return
    _echo_module(inspection)


def _densenet_document(plan: Any) -> dict[str, Any]:
    from zoo.factory import matching_models

    return {
        "config": plan.config.to_dict(),
        "matches": matching_models(plan.config),
        "parameters": plan.num_parameters,
        "output_bytes": plan.nbytes,
        "report": plan.report.to_dict(),
    }


def _echo_densenet(plan: Any) -> None:
    report = plan.report
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


def _support_line(inspection: Any) -> str:
    if inspection.supported:
        return "every Lua class has a translator (load_module, convert --format module|onnx)"
    return f"{len(inspection.report.unsupported)} Lua class(es) without a translator (listed below)"


def _echo_module(inspection: Any) -> None:
    """The text form of ``inspect`` for any model."""
    report = inspection.report
    tensors = ", ".join(f"{dtype} x{count}" for dtype, count in sorted(inspection.tensor_dtypes.items()))
    click.echo(f"model:        {inspection.root_class}, {len(inspection.rows)} modules")
    click.echo(
        f"parameters:   {report.num_parameters:,} ({report.num_bytes / 1e6:.1f} MB of tensors: {tensors or 'none'})"
    )
    click.echo(f"supported:    {'yes, ' if inspection.supported else 'no, '}{_support_line(inspection)}")
    click.echo("Lua classes:")
    for name, count in sorted(report.module_counts.items()):
        click.echo(f"  {name:<36} {count:>5}")
    click.echo("modules (PyTorch name, Lua path, Lua class -> PyTorch class):")
    name_width = max(len(row.name or "(root)") for row in inspection.rows)
    path_width = max(len(row.lua_path) for row in inspection.rows)
    for row in inspection.rows:
        torch_class = row.torch_class or (
            "(no translator)" if row.lua_class in report.unsupported else "(inside a module without translator)"
        )
        click.echo(
            f"  {row.name or '(root)':<{name_width}}  {row.lua_path:<{path_width}}  {row.lua_class} -> {torch_class}"
        )
    if report.unsupported:
        click.echo("unsupported (add translators with converters.register_module):")
        for name, paths in report.unsupported.items():
            click.echo(f"  {name} at {', '.join(paths)}")
    for note in report.notes:
        click.echo(f"note: {note}")
