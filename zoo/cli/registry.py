"""``densenet-zoo list | info | download | verify | manifest pin | demo``: the registry on the command line.

A thin click layer: the work happens in :mod:`zoo.registry` and :mod:`zoo.demo`.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator

import click

from zoo.cli.errors import CommandError, reports_errors


@contextlib.contextmanager
def _loud_unverified_sources() -> Iterator[None]:
    """Trust-on-first-use warnings (a source without a published sha256) show as a yellow ``WARNING:`` line."""
    from zoo.registry import UnverifiedSourceWarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, UnverifiedSourceWarning):
            click.secho(f"WARNING: {message}", fg="yellow", err=True)
        else:
            click.echo(warnings.formatwarning(message, category, filename, lineno, line), err=True, nl=False)

    with warnings.catch_warnings():
        warnings.showwarning = show
        warnings.simplefilter("always", UnverifiedSourceWarning)
        yield


def _settings(quiet: bool = False, mirror: str | None = None):
    from zoo.registry import Settings

    return Settings.from_env(progress=not quiet, mirror=mirror)


def _megabytes(value: float | None) -> str:
    return "-" if value is None else f"{value:g} MB"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@reports_errors
def list_command(as_json: bool) -> None:
    """List the models by family, published errors, what is cached.

    Columns: parameters, published single-crop top-1 and top-5 errors,
    published download size, and whether the source is cached (or already
    converted). The CIFAR architectures of the published tables follow, apart:
    they have no pretrained weights (build them with zoo.create_model, train
    them with densenet-zoo train --arch NAME). --json lists the registry's
    models only.
    """
    from zoo.registry.families import FAMILIES
    from zoo.registry.maintenance import list_models_status

    with _loud_unverified_sources():
        rows = list_models_status(settings=_settings())
    if as_json:
        click.echo(json.dumps([row.__dict__ for row in rows], indent=2))
        return
    family = None
    for row in rows:
        if row.family != family:
            if family is not None:
                click.echo()
            family = row.family
            click.echo(FAMILIES[family].title)
            click.echo(f"  {'name':<26} {'params':>8} {'top-1 err':>9} {'top-5 err':>9} {'size':>9}  cached")
        cached = "converted" if row.converted else (row.cached_source or "no")
        click.echo(
            f"  {row.name:<26} {row.num_params / 1e6:7.1f}M {_percent(row.top1_error):>9} "
            f"{_percent(row.top5_error):>9} {_megabytes(row.published_size_mb):>9}  {cached}"
        )
    _list_cifar_architectures()


def _list_cifar_architectures() -> None:
    """The CIFAR architectures: name, the published tables' name, stem width, parameters for 10 and 100 classes."""
    from zoo.models.densenet import CIFAR_MODELS, num_parameters

    click.echo("\nCIFAR DenseNets of the published tables (no pretrained weights; num_classes=100 for CIFAR-100)")
    click.echo(f"  {'name':<26} {'model':<32} {'stem':>4} {'params C10':>11} {'params C100':>11}")
    for name, model in CIFAR_MODELS.items():
        config = model.config
        counts = [num_parameters(config.replace(num_classes=classes)) for classes in (10, 100)]
        click.echo(f"  {name:<26} {model.title:<32} {config.num_init_features:>4} {counts[0]:>11,} {counts[1]:>11,}")


@click.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def info_command(name: str, as_json: bool) -> None:
    """Show what the registry knows about model NAME.

    Architecture, parameter count, published error, and each source with its
    sha256, size, cache path and cache state.
    """
    from zoo.registry.maintenance import model_info

    with _loud_unverified_sources():
        info = model_info(name, settings=_settings())
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['name']}: {info['title']}")
    click.echo(f"  family         {info['family']}")
    architecture = info["config"]
    if info["family"] == "densenet":
        click.echo(f"  architecture   {json.dumps(architecture)}")
    else:
        side = architecture["input_size"]
        click.echo(f"  architecture   {architecture['name']}: {architecture['definition']}")
        click.echo(f"  input, output  {f'{side}x{side} RGB' if side else 'RGB, any size'} -> {architecture['output']}")
        click.echo(f"  fingerprint    {json.dumps(architecture['fingerprint'])}")
    click.echo(f"  parameters     {info['num_params']:,}")
    for key in ("top1_error", "top5_error"):
        if info[key] is not None or info["family"] == "densenet":
            published = "not published" if info[key] is None else f"{info[key]}%"
            source = f" ({info['top1_error_source']})" if info["top1_error_source"] and info[key] is not None else ""
            click.echo(f"  top-{key[3]} error    {published}{source}")
    click.echo(f"  published size {_megabytes(info['published_size_mb'])}")
    if info["family"] == "densenet":
        click.echo(f"  converted      {'yes' if info['converted'] else 'no'}")
    for index, source in enumerate(info["sources"], 1):
        digest = source.get("digest")
        unpinned = f"pinned once the {digest['algorithm']} matches" if digest else "trust on first use"
        sha = source["sha256"] or f"not published ({unpinned})"
        click.echo(f"  source {index}: {source['where']}")
        click.echo(
            f"    file {source['filename']} ({source['format']}), sha256 {sha}, size {source['size'] or 'unknown'}"
        )
        if digest:
            click.echo(f"    {digest['algorithm']} {digest['value']} (published in {digest['published_in']})")
        state = (
            f"cached, sha256 {source['cached_sha256']} (trust: {source['trust']})" if source["cached"] else "not cached"
        )
        click.echo(f"    {source['cache_path']}: {state}")


@click.command("download")
@click.argument("names", nargs=-1)
@click.option("--all", "download_all", is_flag=True, help="Download every model in the manifest.")
@click.option("--mirror", metavar="DIR_OR_URL", help="Look files up here first (like DENSENET_ZOO_MIRROR).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no per-model lines.")
@reports_errors
def download_command(names: tuple[str, ...], download_all: bool, mirror: str | None, quiet: bool) -> None:
    """Download, verify and convert models into the cache.

    NAMES are registry names (see `densenet-zoo list`). Each file is checked
    against the manifest's sha256 (or its publisher's md5/sha1) and size; a
    DenseNet is converted once to .safetensors, another model's network is
    checked to be the published architecture; the path of the file its
    loading reads is printed. The cache is DENSENET_ZOO_HOME (default
    ~/.cache/densenet-zoo); DENSENET_ZOO_OFFLINE=1 and DENSENET_ZOO_STRICT=1 apply.
    """
    from zoo.registry import load_manifest
    from zoo.registry.maintenance import download

    with _loud_unverified_sources():
        manifest = load_manifest()
        if download_all:
            names = tuple(manifest.names())
        if not names:
            raise click.UsageError("name at least one model, or pass --all")
        report = None if quiet else (lambda name, path: click.echo(f"{name}: {path}"))
        download(names, manifest=manifest, settings=_settings(quiet, mirror), on_done=report)


@click.command("verify")
@click.argument("names", nargs=-1)
@reports_errors
def verify_command(names: tuple[str, ...]) -> None:
    """Re-hash cached files against their records.

    Every cached source and converted file of NAMES (default: all models) is
    hashed in full; the exit status is 1 when any of them differs.
    """
    from zoo.registry.maintenance import verify_cache

    with _loud_unverified_sources():
        results = verify_cache(names or None, settings=_settings())
    if not results:
        click.echo("nothing cached to verify")
        return
    for result in results:
        click.echo(f"{'OK  ' if result.ok else 'FAIL'} {result.path}: {result.message}")
    failed = sum(not result.ok for result in results)
    if failed:
        raise CommandError(f"{failed} of {len(results)} cached files failed verification")


@click.group("manifest")
def manifest_group() -> None:
    """Maintain the weights manifest (weights_manifest.json)."""


@manifest_group.command("pin")
@click.argument("name")
@click.option(
    "--source", "filename", metavar="FILENAME", help="Which source to pin (default: the first without a full sha256)."
)
@click.option(
    "--manifest",
    "manifest_file",
    type=click.Path(dir_okay=False),
    help="Manifest to rewrite (default: the one in use).",
)
@click.option("--mirror", metavar="DIR_OR_URL", help="Look the file up here first.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@reports_errors
def pin_command(name: str, filename: str | None, manifest_file: str | None, mirror: str | None, quiet: bool) -> None:
    """Pin a source's sha256 and size in the manifest.

    Downloads NAME's source, checks that it converts to the manifest's
    architecture, and writes its full sha256 and size into the manifest, so
    later downloads are verified and DENSENET_ZOO_STRICT=1 accepts it.
    """
    from zoo.registry.maintenance import pin

    with _loud_unverified_sources():
        result = pin(name, filename=filename, manifest_file=manifest_file, settings=_settings(quiet, mirror))
    click.echo(
        f"pinned {result.name}/{result.filename}: sha256 {result.sha256}, {result.size} bytes -> {result.manifest}"
    )


@click.command("demo")
@click.option("--quiet", "-q", is_flag=True, help="Print only the top-5 result.")
@reports_errors
def demo_command(quiet: bool) -> None:
    """Run the whole chain offline on a generated sample.

    registry -> mirror -> verify -> convert -> load -> classify, on a small
    checkpoint written by this project's Torch7 writer; no network needed.
    """
    from zoo.demo import run_demo

    with _loud_unverified_sources():
        run_demo(echo=(lambda line: None) if quiet else click.echo, result_echo=click.echo)
