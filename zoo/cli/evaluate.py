"""``densenet-zoo evaluate`` and ``densenet-zoo predict``: thin click commands over ``zoo.evaluation``.

Multi-GPU / multi-node: ``torchrun --nproc-per-node 8 -m zoo.cli evaluate ...``; every
process evaluates its shard, rank 0 prints and writes the record.
Exit status: 0 on success, 1 (with a one-line error) when the model or data cannot be
used, 2 on usage errors.
"""

from __future__ import annotations

import os
import time

import click

from zoo.choices import AMP_MODES, PREPROCESS_KINDS
from zoo.cli.errors import reports_errors


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


class _Progress:
    """Prints ``images done / total`` to stderr at most every few seconds (rank 0 only)."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self.start = time.perf_counter()
        self.last = self.start

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.interval or done == total:
            self.last = now
            rate = done / max(now - self.start, 1e-9)
            click.echo(f"  {done}/{total} images ({rate:.1f} images/s on this process)", err=True)


@click.command("evaluate")
@click.argument("model")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="DIR holding val/<wnid>/*.JPEG, or the class-folder root itself.",
)
@click.option("--ten-crop", is_flag=True, help="Score the sum of the outputs of ten crops (fb.resnet.torch -tenCrop).")
@click.option(
    "--preprocess",
    type=click.Choice(PREPROCESS_KINDS),
    default="torch7",
    show_default=True,
    help="torch7: the faithful fb.resnet.torch pipeline; torchvision: Resize(256)+CenterCrop(224) via PIL.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Crops per forward pass (ten-crop: batch-size/10 images).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Decode processes per rank [default: CPU cores on a GPU, 0 on the CPU].",
)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... [default: cuda when available].")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N images of each class.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the evaluation record (JSON) here.",
)
@click.option(
    "--amp",
    type=click.Choice(AMP_MODES),
    default="off",
    show_default=True,
    help="Autocast precision; off reproduces the float32 numbers.",
)
@click.option("--channels-last/--no-channels-last", default=None, help="NHWC memory format [default: on for CUDA].")
@click.option("--tf32", is_flag=True, help="Allow TF32 on CUDA (faster, not bit-faithful).")
@click.option(
    "--name",
    "model_name",
    default=None,
    help="Registry name to compare with when MODEL is a file the manifest does not list.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@reports_errors
def evaluate_command(
    model: str,
    data_dir: str,
    ten_crop: bool,
    preprocess: str,
    batch_size: int,
    workers: int | None,
    device: str | None,
    limit: int | None,
    json_path: str | None,
    amp: str,
    channels_last: bool | None,
    tf32: bool,
    model_name: str | None,
    quiet: bool,
) -> None:
    """Top-1/top-5 error of a model on an image folder.

    MODEL is a registry name, a .t7 checkpoint, or a converted file.
    """
    from zoo.evaluation import EvaluationOptions, evaluate, load_model

    options = EvaluationOptions(
        batch_size=batch_size,
        workers=workers,
        device=device,
        ten_crop=ten_crop,
        preprocess=preprocess,
        amp=amp,
        channels_last=channels_last,
        limit=limit,
        allow_tf32=tf32,
    )
    loaded = load_model(model, name=model_name)
    result = evaluate(
        loaded.model,
        data_dir,
        options,
        model_name=loaded.name,
        weights_sha256=loaded.weights_sha256,
        progress=None if quiet or not _is_main_process() else _Progress(),
    )
    if not _is_main_process():
        return
    click.echo(result.summary())
    if json_path:
        result.save(json_path)
        click.echo(f"record written to {json_path}")


@click.command("predict")
@click.argument("model")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--preprocess", type=click.Choice(PREPROCESS_KINDS), default="torch7", show_default=True)
@click.option("--ten-crop", is_flag=True, help="Average the scores of ten crops.")
@click.option("--device", default=None, help="cpu, cuda, ... [default: cuda when available].")
@reports_errors
def predict_command(
    model: str, images: tuple[str, ...], top_k: int, preprocess: str, ten_crop: bool, device: str | None
) -> None:
    """Classify images: the top-k ImageNet classes.

    The top-k ImageNet classes of each IMAGE according to MODEL, with probabilities.
    """
    from zoo.evaluation import load_model, predict

    loaded = load_model(model)
    predictions = predict(
        loaded.model, list(images), top_k=top_k, preprocess=preprocess, ten_crop=ten_crop, device=device
    )
    for prediction in predictions:
        click.echo(prediction.path)
        for rank, score in enumerate(prediction.classes, start=1):
            label = f"{score.wnid} {score.name}" if score.name else f"class {score.label}"
            click.echo(f"  {rank}. {score.probability * 100:6.2f}%  {score.label:4d}  {label}")
