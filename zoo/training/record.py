"""The run record ``OUT/result.json``: what a run trained, under which recipe, and its test error.

Written atomically by rank 0 after every epoch (``finished`` false) and once more at the end (``finished``
true), so a table can be built from a folder of runs while they train. One JSON object; the fields a
table needs:

* the cell: ``dataset`` (``cifar10``, ``cifar100``, ``imagenet``, ``synthetic``), ``augment``, ``cell``
  (``C10``, ``C10+``, ``C100``, ``C100+`` for CIFAR data, else null), ``drop_rate``, ``arch`` (the named
  architecture the trained network equals, or null for a custom one), ``params``, ``epochs`` (planned)
  and ``epochs_done``;
* the result: ``top1_error`` / ``top5_error``, the error (%) on the test split (CIFAR's 10,000 test images;
  ImageNet's validation images) of the weights after the last epoch done, and ``best_top1_error``, the
  lowest of the epochs; ``evaluated_on`` says which split;
* the recipe: ``published_recipe`` (true when every setting is the published one: for CIFAR batch 64, 300
  epochs, LR 0.1 multistep, Nesterov 0.9, weight decay 1e-4, dropout 0.2 exactly without augmentation, shuffled,
  64 images per BatchNorm batch, float32) and ``recipe_deviations``, one line per setting that differs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from torch import nn

from densenet_zoo_util.atomic import write_text_atomic
from zoo.choices import CIFAR_CELLS, SYNTHETIC
from zoo.models.densenet import DenseNetConfig
from zoo.training.config import TrainConfig
from zoo.training.recipe import cifar_drop_rate, recipe_for

RECORD_NAME = "result.json"
RECORD_FORMAT = "densenet-zoo/train-result/1"

__all__ = ["RECORD_FORMAT", "RECORD_NAME", "arch_name", "recipe_deviations", "run_record", "write_record"]


def arch_name(config: TrainConfig, model_config: DenseNetConfig) -> str | None:
    """The named architecture the trained network equals (dropout and class count aside), by its canonical
    name (``densenet_bc_l100_k12``, not the older alias ``densenet_bc_100_12_cifar``), or None for a custom one."""
    from zoo.factory import get_config, list_models

    names = [*list_models("cifar"), *list_models("densenet")]
    if config.model_config is None and not config.init_weights and config.arch in names:
        return config.arch
    for name in names:
        published = get_config(name)
        if published.replace(drop_rate=model_config.drop_rate, num_classes=model_config.num_classes) == model_config:
            return name
    return None


def recipe_deviations(config: TrainConfig, model_config: DenseNetConfig, world_size: int) -> list[str]:
    """One line per setting of the (resolved) ``config`` that differs from the published recipe of its data."""
    if config.dataset_kind == SYNTHETIC:
        return ["data: generated (synthetic), not a published dataset"]
    recipe = recipe_for(config.dataset)
    cifar = config.dataset.startswith("cifar")
    published = {
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "lr": recipe.base_lr,
        "lr_shape": recipe.lr_shape,
        "momentum": recipe.momentum,
        "weight_decay": recipe.weight_decay,
        "nesterov": recipe.nesterov,
        "drop_rate": cifar_drop_rate(config.augment) if cifar else 0.0,
        "augment": config.augment if cifar else True,
        "shuffle": True,
        "amp": "off",
    }
    ran = {**{name: getattr(config, name) for name in published}, "drop_rate": model_config.drop_rate}
    lines = [f"{name} {ran[name]} (published {value})" for name, value in published.items() if ran[name] != value]
    batch_norm_batch = config.batch_size // (world_size * config.accumulate)
    if config.batch_size == recipe.batch_size != batch_norm_batch:  # the batch split over processes or steps
        lines.append(f"{batch_norm_batch} images per BatchNorm batch (published {recipe.batch_size}: one GPU)")
    return lines


def run_record(
    config: TrainConfig,
    model: nn.Module,
    history: list[dict[str, Any]],
    finished: bool,
    global_step: int,
    world_size: int,
) -> dict[str, Any]:
    """The record of a run whose resolved settings are ``config``, whose network is ``model`` (a ``DenseNet``)
    and whose epoch records so far are ``history`` (``kind: epoch`` rows of ``metrics.jsonl``)."""
    model_config: DenseNetConfig = model.config
    last = history[-1] if history else {}
    deviations = recipe_deviations(config, model_config, world_size)
    cifar = config.dataset_kind in ("cifar10", "cifar100")
    errors = [epoch["val_top1_error"] for epoch in history if "val_top1_error" in epoch]
    return {
        "format": RECORD_FORMAT,
        "finished": finished,
        "dataset": config.dataset_kind,
        "augment": config.augment,
        "cell": CIFAR_CELLS.get((config.dataset_kind, config.augment)),
        "arch": arch_name(config, model_config),
        "model_config": model_config.to_dict(),
        "params": sum(parameter.numel() for parameter in model.parameters()),
        "num_classes": model_config.num_classes,
        "drop_rate": model_config.drop_rate,
        "epochs": config.epochs,
        "epochs_done": int(last.get("epoch", 0)),
        "global_step": global_step,
        "evaluated_on": "test" if cifar else ("synthetic" if config.dataset_kind == SYNTHETIC else "val"),
        "top1_error": last.get("val_top1_error"),
        "top5_error": last.get("val_top5_error"),
        "best_top1_error": min((error for error in errors if not math.isnan(error)), default=None),
        "train_loss": last.get("loss"),
        "published_recipe": not deviations,
        "recipe_deviations": deviations,
        "settings": {
            name: getattr(config, name)
            for name in ("batch_size", "lr", "lr_shape", "momentum", "weight_decay", "nesterov", "shuffle", "seed")
        }
        | {"amp": config.amp, "accumulate": config.accumulate, "world_size": world_size},
        "weights": "model.safetensors" if finished else None,
    }


def write_record(out: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` to ``out/result.json`` atomically (a reader sees the old or the new record, whole)."""
    return write_text_atomic(Path(out) / RECORD_NAME, json.dumps(record, indent=1, sort_keys=True) + "\n")
