"""Training that reproduces the fb.resnet.torch / liuzhuang13 DenseNet recipe (layer 5).

``train(TrainConfig(...))`` runs or resumes a run in this process; under
torchrun each process is one rank of a DDP job; ``recipe_config(...)`` is the
config of ``densenet-zoo train``'s options. See :mod:`zoo.training.recipe`
for the defaults and :mod:`zoo.training.engine` for the loop.

Names resolve on first use (PEP 562), so that the ``densenet-zoo`` command can
import :mod:`zoo.training.errors` at start-up without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from densenet_zoo_util.lazy import lazy_exports

if TYPE_CHECKING:
    from zoo.training.config import TrainConfig, recipe_config
    from zoo.training.engine import TrainResult, train
    from zoo.training.errors import CheckpointError, DataError, NonFiniteLossError, TrainingError, TrainingInterrupted
    from zoo.training.recipe import CIFAR_RECIPE, IMAGENET_RECIPE, Recipe
    from zoo.training.schedule import LRSchedule

# Public name -> the module that defines it.
_LAZY_EXPORTS = {
    "CIFAR_RECIPE": "zoo.training.recipe",
    "IMAGENET_RECIPE": "zoo.training.recipe",
    "LRSchedule": "zoo.training.schedule",
    "CheckpointError": "zoo.training.errors",
    "DataError": "zoo.training.errors",
    "NonFiniteLossError": "zoo.training.errors",
    "Recipe": "zoo.training.recipe",
    "TrainConfig": "zoo.training.config",
    "TrainResult": "zoo.training.engine",
    "TrainingError": "zoo.training.errors",
    "TrainingInterrupted": "zoo.training.errors",
    "recipe_config": "zoo.training.config",
    "train": "zoo.training.engine",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)

__all__ = [
    "CIFAR_RECIPE",
    "IMAGENET_RECIPE",
    "CheckpointError",
    "DataError",
    "LRSchedule",
    "NonFiniteLossError",
    "Recipe",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "TrainingInterrupted",
    "recipe_config",
    "train",
]
