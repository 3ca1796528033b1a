"""The optimizer of fb.resnet.torch: SGD, momentum 0.9, Nesterov, dampening 0, weight decay on everything.

Lua flattened all parameters into one vector (``model:getParameters()``), so
weight decay reached BatchNorm weights and biases and the classifier bias too.
Here every trainable parameter sits in one group with the same decay.

``torch.optim.SGD`` with ``nesterov=True, dampening=0`` performs the same update
as Lua's ``optim.sgd`` (torch/optim ``sgd.lua``), in the same order::

    g   = grad + wd * x                      -- (2) dfdx:add(wd, x)
    buf = g                  on the first step -- (3) state.dfdx = copy(dfdx)
    buf = mom * buf + (1 - damp) * g  later    --     state.dfdx:mul(mom):add(1-damp, dfdx)
    g   = g + mom * buf                        --     nesterov: dfdx:add(mom, state.dfdx)
    x   = x - lr * g                           -- (5) x:add(-clr, dfdx)

``tests/training/test_optim.py`` checks this against a hand-written Lua update,
so no custom optimizer is needed. (``learningRateDecay`` is 0 in the recipe.)
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def build_optimizer(
    parameters: Iterable[nn.Parameter],
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    nesterov: bool = True,
) -> torch.optim.SGD:
    """SGD over every parameter that requires grad, with one shared weight decay."""
    trainable = [parameter for parameter in parameters if parameter.requires_grad]
    if not trainable:
        raise ValueError("no trainable parameters: every parameter is frozen; unfreeze some or drop --freeze-features")
    return torch.optim.SGD(
        trainable,
        lr=lr,
        momentum=momentum,
        dampening=0.0,
        weight_decay=weight_decay,
        nesterov=nesterov and momentum > 0,
    )


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group (Lua: ``optimState.learningRate = lr``)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
