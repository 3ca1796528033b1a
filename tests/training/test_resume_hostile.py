"""``train --resume`` with checkpoints that are damaged, crafted or from elsewhere.

Every case ends in a typed project error (CLI: one ``error:`` line, exit 1) or a correct resume; a
failed resume leaves every file of the run folder byte for byte as it was. A fuzz test mutates the
genuine checkpoint's types, shapes, keys, RNG states and position.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import math
import os
import pickle
import random
import shutil
import time

import pytest
import torch
from click.testing import CliRunner

from zoo.cli import main
from zoo.cli.errors import is_user_error
from zoo.models.densenet import DenseNet, DenseNetConfig
from zoo.training.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from zoo.training.config import TrainConfig
from zoo.training.engine import train
from zoo.training.errors import TrainingError

TINY = {"growth_rate": 4, "block_config": [2, 2], "num_init_features": 8, "stem": "cifar"}


def stopped_run(out, **changes):
    """A tiny synthetic run of 2 epochs of 2 steps, stopped with a checkpoint after its first step."""
    settings = dict(
        arch="tiny",
        model_config=TINY,
        data="synthetic",
        out=str(out),
        epochs=2,
        batch_size=16,
        lr=0.05,
        synthetic_samples=32,
        synthetic_val_samples=8,
        synthetic_classes=3,
        image_size=8,
        workers=0,
        stop_after=1,
        progress=False,
    )
    assert train(TrainConfig(**{**settings, **changes})).status == "stopped"
    return load_checkpoint(out)


def resume(folder, stop_after=None):
    return train(
        TrainConfig(data=None, resume=str(folder), out=str(folder), workers=0, progress=False, stop_after=stop_after)
    )


@pytest.fixture(scope="module")
def genuine_run(tmp_path_factory):
    """The folder and checkpoint payload of :func:`stopped_run`."""
    out = tmp_path_factory.mktemp("genuine")
    return out, stopped_run(out)


def folder_state(folder) -> dict[str, str]:
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in sorted(os.listdir(folder))
        if (folder / name).is_file()
    }


def run_folder_with(genuine_run, tmp_path, checkpoint_bytes: bytes):
    folder = tmp_path / "run"
    shutil.copytree(genuine_run[0], folder)
    (folder / CHECKPOINT_NAME).write_bytes(checkpoint_bytes)
    return folder


def saved(payload) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


class RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def other_model_weights():
    config = DenseNetConfig(growth_rate=6, block_config=(2, 2), num_init_features=8, num_classes=3, stem="cifar")
    return DenseNet(config).state_dict()


def replaced(payload, key, value):
    return {**payload, key: value}


def without(mapping, key):
    return {name: value for name, value in mapping.items() if name != key}


def first_weight(payload):
    return next(iter(payload["model"]))


#: What each hostile checkpoint file holds: an object to ``torch.save``, or the file's bytes.
HOSTILE = {
    "an int": lambda payload, marker: 7,
    "a list": lambda payload, marker: [payload["model"], payload["optimizer"]],
    "a config that is a list": lambda payload, marker: replaced(payload, "config", [1, 2]),
    "a config with a string epoch count": lambda payload, marker: replaced(
        payload, "config", {**payload["config"], "epochs": "2"}
    ),
    "a config with a negative batch": lambda payload, marker: replaced(
        payload, "config", {**payload["config"], "batch_size": -16}
    ),
    "a model_config with a string width": lambda payload, marker: replaced(
        payload, "model_config", {**payload["model_config"], "growth_rate": "4"}
    ),
    "a model_config declaring 20000 layers": lambda payload, marker: replaced(
        payload, "model_config", {**payload["model_config"], "block_config": [20000]}
    ),
    "another model's weights": lambda payload, marker: replaced(payload, "model", other_model_weights()),
    "a missing weight": lambda payload, marker: replaced(
        payload, "model", without(payload["model"], first_weight(payload))
    ),
    "a missing batch counter": lambda payload, marker: replaced(
        payload, "model", without(payload["model"], "features.norm5.num_batches_tracked")
    ),
    "a weight of the wrong shape": lambda payload, marker: replaced(
        payload, "model", {**payload["model"], first_weight(payload): payload["model"][first_weight(payload)][:1]}
    ),
    "a weight that is a string": lambda payload, marker: replaced(
        payload, "model", {**payload["model"], first_weight(payload): "w"}
    ),
    "no optimizer": lambda payload, marker: without(payload, "optimizer"),
    "a weight decay other than its config's": lambda payload, marker: replaced(
        payload,
        "optimizer",
        {
            **payload["optimizer"],
            "param_groups": [{**payload["optimizer"]["param_groups"][0], "weight_decay": 2.0**31}],
        },
    ),
    "another format": lambda payload, marker: replaced(payload, "format", "densenet-zoo-train/0"),
    "a truncated file": lambda payload, marker: saved(payload)[: len(saved(payload)) // 2],
    "an empty file": lambda payload, marker: b"",
    "a pickle that runs a command": lambda payload, marker: replaced(payload, "epoch", RunsCommand(marker)),
    "a plain pickle that runs a command": lambda payload, marker: pickle.dumps(RunsCommand(marker)),
}


def hostile_file(case, payload, marker) -> bytes:
    content = HOSTILE[case](payload, marker)
    return content if isinstance(content, bytes) else saved(content)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_checkpoint_is_one_error_line_and_leaves_the_run_untouched(genuine_run, tmp_path, case):
    marker = tmp_path / "command_ran"
    folder = run_folder_with(genuine_run, tmp_path, hostile_file(case, genuine_run[1], marker))
    before = folder_state(folder)
    result = CliRunner().invoke(main, ["train", "--resume", str(folder), "--workers", "0", "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "weights_only=False" not in result.output and "weights_only` set to `False" not in result.output
    assert str(folder) in result.stderr
    assert folder_state(folder) == before and not marker.exists()


def test_the_pickle_cases_are_live_and_are_named(genuine_run, tmp_path):
    marker = tmp_path / "ran"
    folder = run_folder_with(
        genuine_run, tmp_path, hostile_file("a pickle that runs a command", genuine_run[1], marker)
    )
    with pytest.raises(CheckpointError, match=r"other than tensors and plain values \(it names posix\.system\)"):
        load_checkpoint(folder)
    assert not marker.exists()
    torch.load(folder / CHECKPOINT_NAME, weights_only=False)  # what the refusal prevents
    assert marker.exists()


def test_a_checkpoint_of_format_1_is_refused_with_what_to_do(genuine_run, tmp_path):
    """Format 1 kept accuracies (best_top1, epoch totals top1/top5); its numbers would be read as errors."""
    payload = genuine_run[1]
    assert payload["format"] == "densenet-zoo-train/2" and "best_top1_error" in payload
    assert sorted(payload["epoch_totals"]) == ["count", "loss", "top1_correct", "top5_correct"]
    totals = payload["epoch_totals"]
    older = {
        **without(payload, "best_top1_error"),
        "format": "densenet-zoo-train/1",
        "best_top1": None,
        "epoch_totals": {
            "loss": totals["loss"],
            "top1": totals["top1_correct"],
            "top5": totals["top5_correct"],
            "count": totals["count"],
        },
    }
    folder = run_folder_with(genuine_run, tmp_path, saved(older))
    with pytest.raises(CheckpointError, match="written by an earlier densenet-zoo: finish that run with the version"):
        resume(folder)


def test_a_checkpoint_of_a_model_with_other_classes_does_not_fit_the_data(genuine_run, tmp_path):
    payload = genuine_run[1]
    config = DenseNetConfig.from_dict({**TINY, "num_classes": 5})
    other = {**payload, "model_config": config.to_dict(), "model": DenseNet(config).state_dict()}
    folder = run_folder_with(genuine_run, tmp_path, saved(other))
    before = folder_state(folder)
    with pytest.raises(CheckpointError, match="classifier has 5 outputs but the data has 3 classes"):
        resume(folder)
    assert folder_state(folder) == before


# ----------------------------------------------------------------------------- fuzz

MUTANTS = [None, -1, 0, 1, 2**31, 2**63, 1.5, math.nan, math.inf, "x", [], {}, True, (1, 2)]


def key_paths(value, prefix=(), depth=0):
    """Every (path) into nested dicts and lists of a checkpoint, tensors as leaves (lists sampled)."""
    yield prefix
    if depth > 5:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from key_paths(item, (*prefix, key), depth + 1)
    elif isinstance(value, list):
        for index in sorted({0, len(value) - 1, len(value) // 2} & set(range(len(value)))):
            yield from key_paths(value[index], (*prefix, index), depth + 1)


def get(value, path):
    for key in path:
        value = value[key]
    return value


def mutate(payload, rng: random.Random):
    """A deep copy of ``payload`` with one mutation; returns (mutated, description)."""
    mutated = copy.deepcopy(payload)
    paths = [path for path in key_paths(mutated) if path]
    path = rng.choice(paths)
    parent, key = get(mutated, path[:-1]), path[-1]
    old = parent[key]
    kind = rng.choice(["replace", "replace", "delete", "add", "tensor", "position", "rng"])
    if kind == "delete" and isinstance(parent, dict):
        del parent[key]
    elif kind == "add" and isinstance(parent, dict):
        parent["unexpected_key"] = rng.choice(MUTANTS)
    elif kind == "tensor" and isinstance(old, torch.Tensor):
        choices = [old.double(), old.flatten(), old.reshape(-1)[:0], old.expand(2, *old.shape), old.to(torch.int32)]
        parent[key] = rng.choice(choices)
    elif kind == "position":
        key = rng.choice(["epoch", "step", "steps_per_epoch"])
        mutated[key] = rng.choice([0, -1, 1, 2, 3, 4, 100, 2**63, 1.0, "1"])
        return mutated, f"{key} = {mutated[key]!r}"
    elif kind == "rng":
        states = mutated.get("rng_states")
        change = rng.choice(["empty", "extra rank", "torch bytes", "python short", "numpy pos"])
        if change == "empty" or not (isinstance(states, list) and states and isinstance(states[0], dict)):
            mutated["rng_states"] = []  # (also when an earlier mutation broke them)
            return mutated, "rng_states: empty"
        with contextlib.suppress(KeyError, TypeError, IndexError):  # an earlier mutation may have changed them
            mutate_rng_state(states, change, rng)
        return mutated, f"rng_states: {change}"
    else:
        kind, parent[key] = "replace", rng.choice(MUTANTS)
    return mutated, f"{kind} at {path!r}"


def mutate_rng_state(states, change, rng):
    if change == "extra rank":
        states.append(copy.deepcopy(states[0]))
    elif change == "torch bytes":
        states[0]["torch"] = states[0]["torch"][: rng.choice([0, 10, 5055])]
    elif change == "python short":
        states[0]["python"][1] = states[0]["python"][1][:10]
    else:
        states[0]["numpy"]["pos"] = rng.choice([-1, 625, 10**20, 3.5])


def test_fuzzed_checkpoints_resume_correctly_or_fail_with_a_project_error(genuine_run, tmp_path):
    rng = random.Random(9)
    started, outcomes = time.monotonic(), {"resumed": 0, "refused": 0}
    for case in range(60):
        mutated, description = mutate(genuine_run[1], rng)
        folder = tmp_path / f"case{case}"
        shutil.copytree(genuine_run[0], folder)
        (folder / CHECKPOINT_NAME).write_bytes(saved(mutated))
        before = folder_state(folder)
        try:
            result = resume(folder, stop_after=4)  # bounded, should a mutation have given the run more epochs
        except Exception as error:
            assert is_user_error(error), f"{description}: {type(error).__name__}: {error}"
            assert folder_state(folder) == before, f"{description}: a failed resume changed the run folder"
            outcomes["refused"] += 1
        else:
            assert result.status in ("finished", "stopped") and result.global_step <= 4, description
            load_checkpoint(folder)  # and what the resumed run wrote is a good checkpoint
            outcomes["resumed"] += 1
        shutil.rmtree(folder)
    assert outcomes["refused"] > 20 and outcomes["resumed"] > 3, outcomes
    assert time.monotonic() - started < 60


def test_a_metrics_log_planted_as_a_link_is_not_appended_through(genuine_run, tmp_path):
    folder = run_folder_with(genuine_run, tmp_path, saved(genuine_run[1]))
    victim = tmp_path / "bashrc"
    victim.write_text("export PATH=/usr/bin\n")
    (folder / "metrics.jsonl").unlink()
    (folder / "metrics.jsonl").symlink_to(victim)
    before = folder_state(folder)
    result = CliRunner().invoke(main, ["train", "--resume", str(folder), "--workers", "0", "--quiet"])
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and "symbolic link" in result.stderr
    assert victim.read_text() == "export PATH=/usr/bin\n" and folder_state(folder) == before


@pytest.mark.parametrize(
    ("amp", "channels_last", "memory_efficient"), [("fp16", False, False), ("bf16", True, False), ("off", True, True)]
)
def test_genuine_checkpoints_of_every_mode_pass_the_checks(tmp_path, amp, channels_last, memory_efficient):
    """The checks accept what the engine writes: a grad scaler, channels-last buffers, the memory-efficient net."""
    checkpoint = stopped_run(tmp_path, amp=amp, channels_last=channels_last, memory_efficient=memory_efficient)
    assert (checkpoint["scaler"] is not None) == (amp == "fp16")
    resumed = resume(tmp_path)
    assert resumed.status == "finished" and resumed.global_step == 4


def test_optimizer_groups_of_another_torch_version_resume(genuine_run, tmp_path):
    """Settings an older version did not save take the run's values; plain ones a newer version added are kept."""
    group = without(without(genuine_run[1]["optimizer"]["param_groups"][0], "nesterov"), "momentum")
    optimizer = {**genuine_run[1]["optimizer"], "param_groups": [{**group, "a_newer_setting": 3}]}
    folder = run_folder_with(genuine_run, tmp_path, saved(replaced(genuine_run[1], "optimizer", optimizer)))
    assert resume(folder).status == "finished"
    written = load_checkpoint(folder)["optimizer"]["param_groups"][0]
    assert written["nesterov"] is True and written["momentum"] == 0.9  # not torch's defaults (False, 0)


def test_images_too_small_for_the_network_are_a_training_error(tmp_path):
    with pytest.raises(TrainingError, match="too small for this network.*at least 2 pixels"):
        stopped_run(tmp_path / "run", image_size=1)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
