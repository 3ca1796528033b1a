"""Learning rates equal liuzhuang13/DenseNet train.lua's formulas, evaluated here independently."""

import math

import numpy as np
import pytest

from zoo.training.schedule import LRSchedule, cifar_multistep_lr, cosine_lr, imagenet_multistep_lr


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(1, 0.1), (30, 0.1), (31, 0.01), (60, 0.01), (61, 0.001), (90, 0.001), (91, 0.0001)],
)
def test_imagenet_multistep_steps_every_30_epochs(epoch, expected):
    # Lua: LR * math.pow(0.1, math.floor((epoch - 1) / 30))
    assert imagenet_multistep_lr(0.1, epoch) == pytest.approx(expected, rel=1e-12)
    assert LRSchedule(0.1, "multistep", 90, 5005)(epoch, 17) == imagenet_multistep_lr(0.1, epoch)


@pytest.mark.parametrize(
    ("epoch", "num_epochs", "decays"),
    [
        (1, 300, 0),
        (149, 300, 0),
        (150, 300, 1),
        (224, 300, 1),
        (225, 300, 2),
        (300, 300, 2),
        (2, 5, 0),
        (3, 5, 1),
        (4, 5, 2),
    ],
)
def test_cifar_multistep_divides_at_half_and_three_quarters(epoch, num_epochs, decays):
    # Lua: decay = epoch >= 0.75*nEpochs and 2 or epoch >= 0.5*nEpochs and 1 or 0
    assert cifar_multistep_lr(0.1, epoch, num_epochs) == pytest.approx(0.1 * 0.1**decays, rel=1e-12)
    assert LRSchedule(0.1, "multistep", num_epochs, 782, dataset="cifar10")(epoch) == cifar_multistep_lr(
        0.1, epoch, num_epochs
    )


@pytest.mark.parametrize(("epoch", "iteration"), [(1, 1), (1, 5005), (2, 1), (45, 2500), (90, 5004), (90, 5005)])
def test_cosine_matches_lua_formula(epoch, iteration):
    # Lua: 0.5 * LR * (1 + torch.cos(math.pi * T_cur / T_total)); torch.cos of a number is the default
    # tensor type's (main.lua: torch.FloatTensor): cos((float) angle), stored as float
    base, epochs, batches = 0.1, 90, 5005
    t_total = epochs * batches
    t_cur = ((epoch - 1) % epochs) * batches + iteration
    cosine = np.float32(math.cos(np.float32(math.pi * t_cur / t_total)))
    expected = 0.5 * base * (1 + float(cosine))
    assert cosine_lr(base, epoch, iteration, epochs, batches) == expected
    assert LRSchedule(base, "cosine", epochs, batches)(epoch, iteration) == expected


def test_cosine_endpoints():
    schedule = LRSchedule(0.1, "cosine", 3, 4)
    assert schedule.per_iteration
    assert schedule(3, 4) == 0.0  # reaches 0 at the last iteration: float32(cos(float32(pi))) is -1
    assert schedule(1, 1) < 0.1  # the first iteration already uses T_cur = 1
    assert schedule(2, 2) == pytest.approx(0.05)  # the middle of the run


def test_invalid_schedule_is_refused():
    with pytest.raises(ValueError, match="shape"):
        LRSchedule(0.1, "linear", 3, 4)
    with pytest.raises(ValueError, match="batch"):
        LRSchedule(0.1, "cosine", 3, 0)
