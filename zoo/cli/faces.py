"""``densenet-zoo embed``: OpenFace face embeddings over :mod:`zoo.faces`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from zoo.cli.errors import reports_errors


def _shortest(value: float) -> str:
    """A float32 value with the fewest digits that read back as the same float32."""
    import numpy as np

    return str(np.float32(value))


@click.command("embed")
@click.argument("model")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (a row per image) instead of text.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... [default: cuda when available].")
@reports_errors
def embed_command(model: str, images: tuple[Path, ...], as_json: bool, device: str | None) -> None:
    """Face embeddings of aligned face images (OpenFace).

    The embedding of each IMAGE (one row each), as OpenFace's openface_server.lua computes it. MODEL is a
    registry name (nn4.small2.v1) or a .t7 file. Each image is stretched to 96x96 (bilinear); faces are not
    detected or aligned here: give 96x96 crops aligned as OpenFace's align-dlib.py makes them. Text output:
    the image path, a tab, then the numbers separated by commas.
    """
    from zoo.faces import embed_batch, load_face_model

    network = load_face_model(model)
    embeddings = embed_batch(network, list(images), device=device)
    rows = [[_shortest(value) for value in row.tolist()] for row in embeddings]
    if as_json:
        document = {
            "model": model,
            "dimension": embeddings.shape[1],
            "embeddings": [
                {"image": str(path), "embedding": [float(value) for value in row]}
                for path, row in zip(images, rows, strict=True)
            ],
        }
        click.echo(json.dumps(document))
        return
    for path, row in zip(images, rows, strict=True):
        click.echo(f"{path}\t{','.join(row)}")
