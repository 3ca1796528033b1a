"""The published training recipes, as defaults that a run can override.

ImageNet (fb.resnet.torch + liuzhuang13/DenseNet, ``th main.lua -dataset imagenet
-batchSize 256 -nEpochs 90``): SGD with Nesterov momentum 0.9, weight decay 1e-4,
batch 256, LR 0.1, 90 epochs, multistep (x0.1 every 30 epochs) or cosine.

CIFAR (``th main.lua -dataset cifar10 -batchSize 64 -nEpochs 300 -depth 100
-growthRate 12``): DenseNet-BC L=100 k=12, batch 64, LR 0.1, 300 epochs, LR / 10
at 50% and 75% of the epochs; standard augmentation (flip + 4-pixel padded random
crop) and no dropout, or no augmentation and dropout 0.2 after every convolution
but the first (the README's "C10"/"C100" rows). The README's command sets
``-batchSize 64 -nEpochs 300`` over ``opts.lua``'s defaults (batch 32, 164 CIFAR
epochs, ``-dropRate 0``); these defaults follow the README.

Linear scaling: a run with another global batch size ``B`` uses
``lr = base_lr * B / reference_batch`` (Goyal et al. 2017), i.e.
``0.1 * B / 256`` for ImageNet and ``0.1 * B / 64`` for CIFAR, unless ``--lr`` is
given. The global batch is the sum over all processes and accumulation steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.choices import DATASETS, SYNTHETIC
from zoo.models.densenet import CIFAR_CONFIGS, DenseNetConfig


@dataclass(frozen=True)
class Recipe:
    """Defaults of one published recipe; ``arch`` is the network it trains unless the run names another."""

    arch: str
    epochs: int
    batch_size: int
    base_lr: float
    reference_batch: int
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = True
    lr_shape: str = "multistep"

    def scaled_lr(self, global_batch: int) -> float:
        """``base_lr * global_batch / reference_batch`` (linear scaling)."""
        return self.base_lr * global_batch / self.reference_batch


IMAGENET_RECIPE = Recipe(arch="densenet121", epochs=90, batch_size=256, base_lr=0.1, reference_batch=256)
CIFAR_RECIPE = Recipe(arch="densenet_bc_l100_k12", epochs=300, batch_size=64, base_lr=0.1, reference_batch=64)

#: Older training names of named architectures (every name ``zoo.create_model`` knows is trainable too):
#: ``densenet_bc_100_12_cifar`` is DenseNet-BC (L=100, k=12), ``densenet_bc_l100_k12``.
TRAINING_ARCHS: dict[str, DenseNetConfig] = {"densenet_bc_100_12_cifar": CIFAR_CONFIGS["densenet_bc_l100_k12"]}

#: Dropout of the CIFAR runs without data augmentation.
CIFAR_NO_AUGMENT_DROP_RATE = 0.2


def recipe_for(dataset: str) -> Recipe:
    """The recipe of a dataset name (``synthetic`` smoke runs use the ImageNet recipe)."""
    if dataset not in (*DATASETS, SYNTHETIC):
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {(*DATASETS, SYNTHETIC)}")
    return CIFAR_RECIPE if dataset.startswith("cifar") else IMAGENET_RECIPE


def cifar_drop_rate(augment: bool) -> float:
    """0.2 without augmentation, 0 with it (liuzhuang13/DenseNet README)."""
    return 0.0 if augment else CIFAR_NO_AUGMENT_DROP_RATE
