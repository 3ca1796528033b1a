"""``densenet-zoo export-hub``: a folder ready for ``hf upload`` (see :mod:`zoo.hub`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from zoo.cli.errors import reports_errors


@click.command("export-hub")
@click.argument("model")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--repo-id", metavar="ORG/REPO", help="The Hub repository, for the usage snippets of the model card.")
@click.option("--name", help="The registry model a file's weights are (default: from the file's name).")
@click.option(
    "--evaluation",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A `densenet-zoo evaluate --json` record of these weights on the whole validation set.",
)
@click.option("--force", is_flag=True, help="Replace OUT_DIR if it exists and is not empty.")
@reports_errors
def export_hub_command(
    model: str, out_dir: Path, repo_id: str | None, name: str | None, evaluation: Path | None, force: bool
) -> None:
    """Write a Hugging Face Hub repository folder for MODEL.

    MODEL is a registry name (downloaded, verified and converted as `download` does) or a .t7, .safetensors or
    .pth file. OUT_DIR gets model.safetensors, config.json (densenet-zoo's config, and timm's for
    densenet121/169/201/161) and a README.md model card; upload it with `hf upload ORG/REPO OUT_DIR`.
    """
    from zoo.hub import export_hub

    result = export_hub(model, out_dir, name=name, repo_id=repo_id, evaluation=evaluation, force=force)
    for path in result.files:
        click.echo(f"wrote {path}")
    if result.timm_architecture:
        click.echo(f"timm: timm.create_model('hf-hub:{repo_id or 'ORG/REPO'}', pretrained=True)")
    click.echo(f"upload: hf upload {repo_id or 'ORG/REPO'} {out_dir}")
    click.echo("manifest source (fill in the uploaded commit):")
    click.echo(json.dumps(result.manifest_source(repo_id or "ORG/REPO"), indent=2))
