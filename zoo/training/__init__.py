"""Training that reproduces the fb.resnet.torch / liuzhuang13 DenseNet recipe (layer 5).

``train(TrainConfig(...))`` runs or resumes a run in this process; under
torchrun each process is one rank of a DDP job. See :mod:`zoo.training.recipe`
for the defaults and :mod:`zoo.training.engine` for the loop.
"""

from zoo.training.config import TrainConfig
from zoo.training.engine import NonFiniteLossError, TrainingError, TrainingInterrupted, TrainResult, train
from zoo.training.recipe import CIFAR_RECIPE, IMAGENET_RECIPE, Recipe
from zoo.training.schedule import LRSchedule

__all__ = [
    "CIFAR_RECIPE", "IMAGENET_RECIPE", "LRSchedule", "NonFiniteLossError", "Recipe", "TrainConfig", "TrainResult",
    "TrainingError", "TrainingInterrupted", "train",
]
