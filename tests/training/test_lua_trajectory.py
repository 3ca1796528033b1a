"""``densenet-zoo train`` against a genuine Lua Torch7 training run, step by step: the proof that the training
code is the Lua recipe (liuzhuang13/DenseNet's ``train.lua`` with ``optim.sgd``), not a look-alike.

The fixture ``torch7/train_trajectory`` (its README says how it was made) holds 20 steps of a DenseNet-BC
(L=16, k=8) on 40 CIFAR-format images, from ``init.t7``, in file order, without augmentation or dropout:
each step's learning rate and loss, ``final.t7`` and the final model's outputs on 16 test images.

Tolerances, and why (measured on this fixture):

* lr 1e-6 relative, loss 1e-4 relative: the learning rates are Lua's exactly, the losses within 9.1e-6
  (float64 arithmetic: 2.4e-5).
* weights and BatchNorm running statistics, 1e-4 relative in L2 over the whole state: measured 2.7e-5 and
  2.5e-5. Elementwise they are not reproducible to 1e-4: 20 steps at LR 0.1 on batches of 8 amplify
  float32 rounding, and our own float32 and float64 runs are 3e-3 apart on the smallest BatchNorm biases.
* test outputs, 1e-3 relative to the largest score: measured 3.9e-4. The floor is rounding: perturbing
  ``init.t7`` by 6e-8 relative (float32's resolution) moves our float64 run's outputs by 1.7e-4 to 4.0e-4.

Each tolerance fails a recipe that is slightly off: weight decay on convolution weights only gives loss
3.2e-4, weights 4.5e-4, outputs 4.4e-3; BatchNorm momentum 0.11 instead of 0.1 gives weights (statistics)
1.3e-2; no Nesterov, dampening 0.9, or the first LR drop one epoch late each give losses above 5e-2.

Cosine (``--lr-shape cosine``) has no Lua fixture: its learning rate at every step is checked against the
formula of ``train.lua``'s ``learningRateCosine``, written out here, and its losses and weights against
:func:`lua_sgd_reference`, a hand-written loop of ``train.lua`` + ``optim.sgd`` that reproduces the Lua
fixture itself (multistep) and then runs with the cosine rates (measured: equal to the last bit).

All runs here use one thread, as the Lua run did: float32 sums depend on how the work is split.
"""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from fixtures import fixture_path

import zoo
from zoo.cli import main

MEAN, STD = (125.3, 123.0, 113.9), (63.0, 62.1, 66.7)
BATCH, EPOCHS, BASE_LR = 8, 4, 0.1


@pytest.fixture(scope="module")
def lua():
    """The fixture: its folder, trajectory.json and the normalised training and test images."""
    folder = fixture_path("torch7", "train_trajectory")
    trajectory = json.loads((folder / "trajectory.json").read_text())

    def images(name, count):
        pixels = np.fromfile(folder / name, dtype=np.uint8).reshape(count, 3, 32, 32).astype(np.float32)
        mean, std = (np.array(values, dtype=np.float32).reshape(3, 1, 1) for values in (MEAN, STD))
        return torch.from_numpy((pixels - mean) / std)  # float32: subtract, then divide

    return {
        "folder": folder,
        "trajectory": trajectory,
        "train_images": images("train_images.u8", trajectory["n_train"]),
        "train_labels": torch.from_numpy(np.fromfile(folder / "train_labels.u8", dtype=np.uint8).astype(np.int64)),
        "test_images": images("test_images.u8", trajectory["n_test"]),
        "test_output": np.fromfile(folder / "final_test_output.f32", dtype="<f4").reshape(trajectory["n_test"], -1),
    }


def train_like_lua(lua, out, *options):
    """The command of the fixture's recipe (CPU, in this process); returns the ``kind: train`` rows by step."""
    folder = lua["folder"]
    arguments = ["train", "--init-weights", str(folder / "init.t7"), "--data", str(folder / "cifar10")]
    arguments += ["--dataset", "cifar10", "--no-augment", "--drop-rate", "0", "--no-shuffle"]
    arguments += ["--batch-size", str(BATCH), "--epochs", str(EPOCHS), "--lr", str(BASE_LR), "--log-every", "1"]
    arguments += ["--out", str(out), "--device", "cpu", "--workers", "0", "--quiet", *options]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as Lua and lua_sgd_reference: float32 sums depend on how work is split in threads
    try:
        result = CliRunner().invoke(main, arguments)
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row for row in rows if row["kind"] == "train"}, [row for row in rows if row["kind"] == "epoch"]


@pytest.fixture(scope="module")
def multistep_run(lua, tmp_path_factory):
    out = tmp_path_factory.mktemp("multistep")
    return out, *train_like_lua(lua, out)


@pytest.fixture(scope="module")
def cosine_run(lua, tmp_path_factory):
    out = tmp_path_factory.mktemp("cosine")
    return out, *train_like_lua(lua, out, "--lr-shape", "cosine")


def relative(ours, reference):
    return abs(ours - reference) / abs(reference)


def l2_relative(ours: dict, reference: dict, keys: list) -> float:
    flat = [torch.cat([tensors[key].double().flatten() for key in keys]) for tensors in (ours, reference)]
    return float((flat[0] - flat[1]).norm() / flat[1].norm())


def lua_sgd_reference(lua, learning_rates: list[float]) -> tuple[list[float], dict]:
    """``train.lua``'s loop with ``optim.sgd`` written out: batches in file order, BatchNorm in training mode,
    mean cross-entropy, then ``optim.sgd``'s operations on every parameter: g = dfdx + wd x; buf = g (first
    step) or 0.9 buf + g; x -= lr (g + 0.9 buf). Convolutions by PyTorch's unfold + GEMM kernel, as Torch7's.
    Returns the loss of every step and the final state dict."""
    model = zoo.load_weights(lua["folder"] / "init.t7").train()
    parameters = list(model.parameters())
    buffers = [None] * len(parameters)
    losses = []
    steps_per_epoch = lua["trajectory"]["n_train"] // BATCH
    onednn, torch.backends.mkldnn.enabled = torch.backends.mkldnn.enabled, False
    try:
        for step, lr in enumerate(learning_rates):
            first = (step % steps_per_epoch) * BATCH
            images = lua["train_images"][first : first + BATCH]
            loss = F.cross_entropy(model(images), lua["train_labels"][first : first + BATCH])
            model.zero_grad()
            loss.backward()
            with torch.no_grad():  # optim.sgd, operation by operation
                for index, parameter in enumerate(parameters):
                    dfdx = parameter.grad.add(parameter, alpha=1e-4)  # dfdx:add(wd, x)
                    if buffers[index] is None:
                        buffers[index] = dfdx.clone()  # state.dfdx = copy of dfdx
                    else:
                        buffers[index].mul_(0.9).add_(dfdx)  # state.dfdx:mul(mom):add(1 - damp, dfdx)
                    dfdx.add_(buffers[index], alpha=0.9)  # nesterov: dfdx:add(mom, state.dfdx)
                    parameter.add_(dfdx, alpha=-lr)  # x:add(-clr, dfdx)
            losses.append(loss.item())
    finally:
        torch.backends.mkldnn.enabled = onednn
    return losses, model.state_dict()


def test_every_step_has_the_learning_rate_and_loss_of_lua(lua, multistep_run):
    _, steps, epochs = multistep_run
    expected = lua["trajectory"]["steps"]
    assert sorted(steps) == [step["global_step"] for step in expected] == list(range(1, 21))
    for step in expected:
        ours = steps[step["global_step"]]
        assert (ours["epoch"], ours["iteration"]) == (step["epoch"], step["step"])
        assert relative(ours["lr"], step["lr"]) <= 1e-6, step
        assert relative(ours["loss"], step["loss"]) <= 1e-4, step
    # the epoch-by-epoch test error of Trainer:test, on the 16 test images
    assert [epoch["val_top1_error"] for epoch in epochs] == lua["trajectory"]["test_top1_err_per_epoch"]


def test_the_final_weights_and_running_statistics_are_lua_final_t7(lua, multistep_run):
    out = multistep_run[0]
    ours, theirs = (
        zoo.load_weights(path).state_dict() for path in (out / "model.safetensors", lua["folder"] / "final.t7")
    )
    assert ours.keys() == theirs.keys()
    floating = [key for key in theirs if theirs[key].is_floating_point()]
    statistics = [key for key in floating if key.endswith(("running_mean", "running_var"))]
    weights = [key for key in floating if key not in statistics]
    assert len(weights) == 47 and len(statistics) == 30
    assert l2_relative(ours, theirs, weights) <= 1e-4
    assert l2_relative(ours, theirs, statistics) <= 1e-4


def test_the_final_model_gives_lua_outputs_on_the_test_images(lua, multistep_run):
    model = zoo.load_weights(multistep_run[0] / "model.safetensors").eval()
    with torch.no_grad():
        scores = model(lua["test_images"]).double().numpy()
    expected = lua["test_output"].astype(np.float64)
    assert np.abs(scores - expected).max() <= 1e-3 * np.abs(expected).max()
    assert (scores.argmax(1) == expected.argmax(1)).all()


def test_the_reference_loop_reproduces_lua(lua):
    """The oracle of the cosine test is the Lua recipe: with the fixture's rates it gives the fixture's losses."""
    expected = lua["trajectory"]["steps"]
    losses, state = lua_sgd_reference(lua, [step["lr"] for step in expected])
    assert max(relative(ours, step["loss"]) for ours, step in zip(losses, expected, strict=True)) <= 1e-4
    final = zoo.load_weights(lua["folder"] / "final.t7").state_dict()
    assert l2_relative(state, final, [key for key in final if key.endswith("weight")]) <= 1e-4


def lua_cosine_rate(epoch: int, iteration: int, steps_per_epoch: int) -> float:
    """``train.lua``: ``0.5 * LR * (1 + torch.cos(math.pi * T_cur / T_total))``, where ``torch.cos`` of a number
    is the default tensor type's C ``cos``; ``main.lua`` makes that ``torch.FloatTensor``: a float argument and
    a float result."""
    total = EPOCHS * steps_per_epoch
    current = ((epoch - 1) % EPOCHS) * steps_per_epoch + iteration
    cosine = np.float32(math.cos(np.float32(math.pi * current / total)))
    return 0.5 * BASE_LR * (1 + float(cosine))


def test_cosine_sets_the_lua_rate_before_every_step(lua, cosine_run):
    _, steps, _ = cosine_run
    per_epoch = lua["trajectory"]["steps_per_epoch"]
    expected = [lua_cosine_rate(epoch, iteration, per_epoch) for epoch in range(1, 5) for iteration in range(1, 6)]
    assert expected[-1] == 0.0 and expected[0] < BASE_LR and len(set(expected)) == 20
    ours = [steps[step]["lr"] for step in sorted(steps)]
    assert all(abs(rate - reference) <= 1e-6 * BASE_LR for rate, reference in zip(ours, expected, strict=True))


def test_cosine_losses_are_the_lua_recipe_with_those_rates(lua, cosine_run):
    out, steps, _ = cosine_run
    losses, state = lua_sgd_reference(lua, [steps[step]["lr"] for step in sorted(steps)])
    ours = [steps[step]["loss"] for step in sorted(steps)]
    assert max(relative(value, reference) for value, reference in zip(ours, losses, strict=True)) <= 1e-4
    trained = zoo.load_weights(out / "model.safetensors").state_dict()
    assert l2_relative(trained, state, [key for key in state if state[key].is_floating_point()]) <= 1e-4
