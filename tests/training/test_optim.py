"""One optimizer step equals torch/optim sgd.lua with fb.resnet.torch's settings, written out here."""

import torch
from torch import nn

from zoo.training.optim import build_optimizer, set_lr


def lua_sgd(x, dfdx, state, lr, wd, mom, damp, nesterov):
    """optim.sgd (torch/optim sgd.lua) on a flat parameter vector; mutates x, dfdx and state like Lua."""
    if wd != 0:
        dfdx.add_(x, alpha=wd)  # dfdx:add(wd, x)
    if mom != 0:
        if "dfdx" not in state:
            state["dfdx"] = dfdx.clone()  # torch.Tensor():resizeAs(dfdx):copy(dfdx)
        else:
            state["dfdx"].mul_(mom).add_(dfdx, alpha=1 - damp)  # state.dfdx:mul(mom):add(1-damp, dfdx)
        if nesterov:
            dfdx.add_(state["dfdx"], alpha=mom)  # dfdx:add(mom, state.dfdx)
        else:
            dfdx = state["dfdx"]
    clr = lr / (1 + state.get("evalCounter", 0) * 0.0)  # learningRateDecay = 0
    x.add_(dfdx, alpha=-clr)  # x:add(-clr, dfdx)
    state["evalCounter"] = state.get("evalCounter", 0) + 1


def test_sgd_steps_equal_lua_optim_sgd_on_every_parameter():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    with torch.no_grad():  # non-trivial BN parameters and biases, so their weight decay shows
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
        model[4].bias.uniform_(-0.5, 0.5)
    flat = torch.cat([parameter.detach().reshape(-1) for parameter in model.parameters()]).clone()
    initial = flat.clone()
    optimizer = build_optimizer(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    state = {}
    inputs = torch.randn(6, 3, 6, 6)
    targets = torch.randint(0, 5, (6,))
    for step, lr in enumerate([0.1, 0.1, 0.05]):  # the LR changes between steps, as with cosine
        set_lr(optimizer, lr)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), targets).backward()
        gradient = torch.cat([parameter.grad.reshape(-1) for parameter in model.parameters()]).clone()
        optimizer.step()
        lua_sgd(flat, gradient, state, lr=lr, wd=1e-4, mom=0.9, damp=0.0, nesterov=True)
        updated = torch.cat([parameter.detach().reshape(-1) for parameter in model.parameters()])
        assert torch.equal(updated, flat), f"step {step}: max difference {(updated - flat).abs().max()}"
    assert (flat - initial).abs().min() > 0  # every parameter moved, BN and biases included


def test_weight_decay_reaches_bn_and_biases():
    layer = nn.BatchNorm1d(3)
    with torch.no_grad():
        layer.bias.fill_(1.0)
    optimizer = build_optimizer(layer.parameters(), lr=1.0, momentum=0.9, weight_decay=0.5)
    for parameter in layer.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    # zero gradient: only decay acts; first step buf = g = wd*x, update = g + mom*buf = 1.9*wd*x
    torch.testing.assert_close(layer.bias.detach(), torch.full((3,), 1.0 - 1.9 * 0.5))
    torch.testing.assert_close(layer.weight.detach(), torch.full((3,), 1.0 - 1.9 * 0.5))


def test_frozen_parameters_are_left_out():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[0].requires_grad_(False)
    optimizer = build_optimizer(model.parameters(), lr=0.1)
    assert sum(len(group["params"]) for group in optimizer.param_groups) == 2
