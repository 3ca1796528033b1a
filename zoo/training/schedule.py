"""Learning-rate schedules of liuzhuang13/DenseNet's ``train.lua`` (1-based epochs and iterations).

* ``multistep`` (ImageNet): ``LR * 0.1 ** floor((epoch - 1) / 30)``, set once per epoch.
* ``multistep`` (CIFAR): ``LR`` divided by 10 from the epoch ``>= 0.5 * nEpochs`` and again from
  the epoch ``>= 0.75 * nEpochs`` (the comparison is Lua's, on the 1-based epoch).
* ``cosine``: ``0.5 * LR * (1 + torch.cos(pi * T_cur / T_total))`` with ``T_total = nEpochs * nBatches``
  and ``T_cur = ((epoch - 1) % nEpochs) * nBatches + iter``, set before every iteration, so the
  first iteration already uses ``T_cur = 1`` and the last reaches 0. ``torch.cos`` of a Lua number
  runs the default tensor type's C function, and ``main.lua`` sets that type to ``torch.FloatTensor``:
  the angle is rounded to float32, its cosine computed in double and rounded to float32; the rest of
  the expression is Lua (double) arithmetic.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from zoo.choices import LR_SHAPES

__all__ = ["LR_SHAPES", "LRSchedule", "cifar_multistep_lr", "cosine_lr", "imagenet_multistep_lr"]


def imagenet_multistep_lr(base_lr: float, epoch: int, step_epochs: int = 30) -> float:
    """``LR * 0.1^floor((epoch - 1) / 30)`` for a 1-based ``epoch``."""
    return base_lr * math.pow(0.1, (epoch - 1) // step_epochs)


def cifar_multistep_lr(base_lr: float, epoch: int, num_epochs: int) -> float:
    """``LR`` / 10 from 50% and / 100 from 75% of ``num_epochs`` (1-based ``epoch``)."""
    if epoch >= 0.75 * num_epochs:
        decay = 2
    elif epoch >= 0.5 * num_epochs:
        decay = 1
    else:
        decay = 0
    return base_lr * math.pow(0.1, decay)


def _float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (C's ``(float)`` conversion)."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def cosine_lr(base_lr: float, epoch: int, iteration: int, num_epochs: int, num_batches: int) -> float:
    """``0.5 * LR * (1 + cos(pi * T_cur / T_total))`` for a 1-based ``epoch`` and ``iteration``, with the
    cosine of Lua's ``torch.cos`` under ``torch.FloatTensor`` (angle and result rounded to float32)."""
    total = num_epochs * num_batches
    current = ((epoch - 1) % num_epochs) * num_batches + iteration
    return 0.5 * base_lr * (1 + _float32(math.cos(_float32(math.pi * current / total))))


@dataclass(frozen=True)
class LRSchedule:
    """The learning rate of a run at any (epoch, iteration), both 1-based.

    ``dataset`` chooses the multistep variant: ``"imagenet"`` steps every 30
    epochs, the CIFAR datasets at 50% and 75% of ``num_epochs``.
    """

    base_lr: float
    shape: str
    num_epochs: int
    num_batches: int
    dataset: str = "imagenet"

    def __post_init__(self) -> None:
        if self.shape not in LR_SHAPES:
            raise ValueError(f"unknown learning-rate shape {self.shape!r}; expected one of {LR_SHAPES}")
        if self.num_epochs < 1 or self.num_batches < 1:
            raise ValueError(
                f"a schedule needs at least one epoch and one batch per epoch, got {self.num_epochs} epochs"
                f" of {self.num_batches} batches; check the dataset size and the batch size"
            )

    @property
    def per_iteration(self) -> bool:
        """True when the rate changes every iteration (cosine), not once per epoch."""
        return self.shape == "cosine"

    def __call__(self, epoch: int, iteration: int = 1) -> float:
        if self.shape == "cosine":
            return cosine_lr(self.base_lr, epoch, iteration, self.num_epochs, self.num_batches)
        if self.dataset.startswith("cifar"):
            return cifar_multistep_lr(self.base_lr, epoch, self.num_epochs)
        return imagenet_multistep_lr(self.base_lr, epoch)
