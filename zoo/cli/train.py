"""``densenet-zoo train``: the fb.resnet.torch DenseNet recipe on one process or under torchrun.

Single GPU::

    densenet-zoo train --arch densenet121 --data /data/imagenet --amp bf16 --channels-last

Eight GPUs on one node (per-GPU batch = global batch / 8)::

    torchrun --nproc-per-node 8 -m zoo.cli train --arch densenet121 --data /data/imagenet

Several nodes: the same with torchrun's ``--nnodes``/``--rdzv-endpoint`` options.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from zoo.choices import AMP_MODES, DATASETS, LR_SHAPES, SYNTHETIC
from zoo.cli.errors import CommandError, error_message, reports_errors
from zoo.training.errors import NonFiniteLossError, TrainingInterrupted


def _json_object(context: click.Context, parameter: click.Parameter, value: str | None) -> dict | None:
    """--model-config's value parsed: a JSON object, else a usage error naming the option."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, RecursionError) as error:  # RecursionError: nested thousands of levels deep
        raise click.BadParameter(
            f"expected a JSON object such as '{{\"growth_rate\": 32, ...}}', found invalid JSON ({error})"
        ) from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"expected a JSON object of DenseNetConfig fields, found {type(parsed).__name__}")
    return parsed


@click.command("train", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--arch",
    default=None,
    help="Model name: an ImageNet DenseNet (densenet121 ... densenet264_k48_cosine) or a CIFAR one"
    " (densenet_l40_k12 ... wide_densenet_bc_l40_k60; densenet-zoo list)"
    " [recipe: densenet121 ImageNet, densenet_bc_l100_k12 CIFAR].",
)
@click.option(
    "--model-config",
    "model_config",
    default=None,
    callback=_json_object,
    help="A DenseNetConfig as JSON, instead of --arch.",
)
@click.option(
    "--data",
    default=None,
    help=f"Dataset folder (ImageNet train/ + val/, or the CIFAR pickles) or '{SYNTHETIC}' [resume: the run's].",
)
@click.option("--dataset", type=click.Choice(DATASETS), default="imagenet", show_default=True)
@click.option(
    "--out",
    default=None,
    help="Run folder for checkpoints, metrics and weights [default: the --resume folder, else runs/train].",
)
@click.option("--epochs", type=int, default=None, help="Epochs [recipe: 90 ImageNet, 300 CIFAR].")
@click.option(
    "--batch-size", type=int, default=None, help="Global batch over all processes [recipe: 256 ImageNet, 64 CIFAR]."
)
@click.option(
    "--lr", type=float, default=None, help="Base learning rate [0.1 x batch/256 (ImageNet) or batch/64 (CIFAR)]."
)
@click.option(
    "--lr-shape",
    type=click.Choice(LR_SHAPES),
    default=None,
    help="multistep (x0.1 every 30 epochs; CIFAR: at 50%/75%) or cosine per iteration.",
)
@click.option("--momentum", type=float, default=None, help="[0.9]")
@click.option("--weight-decay", type=float, default=None, help="[1e-4, on every parameter]")
@click.option(
    "--amp",
    type=click.Choice(AMP_MODES),
    default="off",
    show_default=True,
    help="Mixed precision: bf16 autocast or fp16 with a grad scaler.",
)
@click.option(
    "--memory-efficient/--no-memory-efficient",
    default=False,
    help="Memory-efficient DenseNet (recomputes in backward).",
)
@click.option("--channels-last/--no-channels-last", default=False)
@click.option("--compile/--no-compile", "compile", default=False, help="torch.compile the network.")
@click.option(
    "--accumulate", type=int, default=1, show_default=True, help="Gradient accumulation steps per optimizer step."
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Decode workers per process [GPU: cores per process - 1, at most 16; CPU: 0].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--num-classes", type=int, default=None, help="Classifier size (fine-tuning replaces the classifier).")
@click.option("--pretrained/--no-pretrained", default=False, help="Start from the registry's published weights.")
@click.option(
    "--init-weights",
    default=None,
    help="Start from a weights file (zoo format, e.g. an earlier run's model.safetensors).",
)
@click.option("--freeze-features/--no-freeze-features", default=False, help="Train only the classifier.")
@click.option("--augment/--no-augment", default=True, help="Training augmentation (CIFAR without it uses dropout 0.2).")
@click.option(
    "--shuffle/--no-shuffle",
    default=True,
    help="Shuffle the training images each epoch; --no-shuffle: file order, the same batches every epoch.",
)
@click.option(
    "--drop-rate",
    type=float,
    default=None,
    help="Dropout after each convolution [CIFAR: 0.2 with --no-augment, else 0].",
)
@click.option(
    "--checkpoint-every", type=int, default=0, show_default=True, help="Also checkpoint every N optimizer steps."
)
@click.option(
    "--stop-after", type=int, default=None, help="Checkpoint and stop after this many optimizer steps in total."
)
@click.option("--resume", default=None, help="Continue the run in this folder exactly where it stopped.")
@click.option("--synthetic-samples", type=int, default=512, show_default=True)
@click.option("--synthetic-classes", type=int, default=10, show_default=True)
@click.option("--image-size", type=int, default=None, help="Training crop (224) / synthetic image side.")
@click.option("--validate/--no-validate", default=True, help="Validate after every epoch.")
@click.option("--log-every", type=int, default=10, show_default=True)
@click.option("--tensorboard/--no-tensorboard", default=False)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
@reports_errors
def train_command(quiet: bool, **options: Any) -> None:
    """Train or fine-tune a DenseNet.

    The recipe of the published models (fb.resnet.torch) is the default; every option can change it.
    """
    from zoo.training import recipe_config, train

    if options["data"] is None and options["resume"] is None:
        raise click.UsageError(f"--data is required (a dataset folder or '{SYNTHETIC}') unless --resume is given")
    try:
        result = train(recipe_config(**options, progress=not quiet), progress_stream=sys.stderr)
    except TrainingInterrupted as interrupted:
        click.echo(str(interrupted), err=True)
        sys.exit(128 + interrupted.signum)
    except NonFiniteLossError as error:
        raise CommandError(str(error), exit_code=3) from error
    except (ValueError, KeyError) as error:  # an option value TrainConfig or the recipe rejects
        raise CommandError(error_message(error)) from error
    if int(os.environ.get("RANK", "0")) == 0:  # one summary per job, from rank 0
        click.echo(json.dumps(result.summary()))


if __name__ == "__main__":  # pragma: no cover - python zoo/cli/train.py
    train_command()
