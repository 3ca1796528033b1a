"""``densenet-zoo stylize``: fast-neural-style's ``fast_neural_style.lua`` over :mod:`zoo.style`."""

from __future__ import annotations

from pathlib import Path

import click

from zoo.cli.errors import reports_errors


@click.command("stylize")
@click.argument("style_model")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The stylized image (.png, .jpg/.jpeg at quality 75, or .ppm).",
)
@click.option(
    "--image-size",
    type=click.IntRange(min=0),
    default=768,
    show_default=True,
    help="Scale the longer side to this first (bilinear, as -image_size); 0 keeps the size.",
)
@click.option(
    "--median-filter",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Median filter window of the result (as -median_filter); 0 turns it off.",
)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... [default: cuda when available].")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@reports_errors
def stylize_command(
    style_model: str, image: Path, output: Path, image_size: int, median_filter: int, device: str | None, force: bool
) -> None:
    """Restyle an image with a fast-neural-style model.

    IMAGE in the style of STYLE_MODEL, as fast_neural_style.lua computes it. STYLE_MODEL is a registry
    name or a fast-neural-style .t7 file (the checkpoint train.lua saves).
    """
    from zoo.style import load_style_model, save_image, stylize

    model = load_style_model(style_model)
    result = stylize(model, image, image_size=image_size, median_filter_size=median_filter, device=device)
    written = save_image(result, output, force=force)
    click.echo(f"wrote {written} ({result.width}x{result.height}, {model.preprocessing} preprocessing)")
