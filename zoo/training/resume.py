"""What a checkpoint must hold to fit the run that resumes from it, checked before the run uses it.

:func:`zoo.training.checkpoint.load_checkpoint` has already checked the plain fields. What is left
needs the run being rebuilt: the saved settings (typed and valid), the weights against the saved
architecture (compared with the shapes the architecture needs, so an architecture declared by the
file is never built before its tensors are known to fit it), the optimizer and grad-scaler
states against the ones the run builds, and the position and classes against the data. Every
problem is a :class:`~zoo.training.checkpoint.CheckpointError` naming the file; nothing is written.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from zoo.models.densenet import DenseNetConfig, state_dict_mismatch, state_dict_shapes
from zoo.training.checkpoint import CheckpointError
from zoo.training.config import TrainConfig

__all__ = ["check_optimizer_state", "check_position", "check_scaler_state", "check_weights", "saved_config"]


def _refuse(path: str | os.PathLike, problem: str) -> CheckpointError:
    return CheckpointError(
        f"cannot resume from {path}: {problem}; resume from the --out folder of the run that wrote it, with the"
        " same data, or start a new run"
    )


def saved_config(checkpoint: dict[str, Any], path: str | os.PathLike) -> TrainConfig:
    """The run's settings as the checkpoint stored them."""
    try:
        return TrainConfig.from_dict(checkpoint["config"])
    except ValueError as error:
        raise _refuse(path, f"its config is not valid ({error})") from None


def check_weights(checkpoint: dict[str, Any], path: str | os.PathLike) -> DenseNetConfig:
    """The saved architecture, once the saved weights are the tensors it needs (names, shapes, kinds), compared
    with :func:`zoo.models.densenet.state_dict_mismatch` before any network is built."""
    try:
        config = DenseNetConfig.from_dict(checkpoint["model_config"])
    except ValueError as error:
        raise _refuse(path, f"its model_config is not valid ({error})") from None
    weights = checkpoint["model"]
    not_tensors = [key for key, value in weights.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise _refuse(path, f"its weights {not_tensors[:3]} are not tensors")
    problem = state_dict_mismatch(config, weights)
    missing = [key for key in state_dict_shapes(config) if key not in weights]  # counters too: the run saved them
    if problem or missing:
        problem = problem or f"missing {len(missing)} keys (first: {missing[:3]})"
        raise _refuse(path, f"the weights are not those of its model_config: {problem}")
    return config


def check_position(
    checkpoint: dict[str, Any], path: str | os.PathLike, config: TrainConfig, steps_per_epoch: int, num_classes: int
) -> None:
    """The saved position fits this launch's epochs and steps, and the classifier the data's classes."""
    if checkpoint["steps_per_epoch"] != steps_per_epoch:
        raise _refuse(
            path,
            f"it was written with {checkpoint['steps_per_epoch']} steps per epoch but this launch has"
            f" {steps_per_epoch} (same data, batch size, accumulation and number of processes needed)",
        )
    epoch, step = checkpoint["epoch"], checkpoint["step"]
    if epoch > config.epochs + 1 or (epoch == config.epochs + 1 and step > 0):
        raise _refuse(path, f"its position, epoch {epoch} step {step}, is past the run's {config.epochs} epochs")
    classes = checkpoint["model_config"]["num_classes"]
    if classes != num_classes:
        raise _refuse(path, f"its classifier has {classes} outputs but the data has {num_classes} classes")


def _same_kind(value: Any, template: Any) -> bool:
    """``value`` may stand where the fresh state has ``template`` (numbers finite, flags flags, None None)."""
    if isinstance(template, bool) or template is None:
        return type(value) is type(template)
    if isinstance(template, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(template, (list, tuple)):
        return isinstance(value, type(template)) and len(value) == len(template)
    return isinstance(value, type(template))


def check_optimizer_state(optimizer: torch.optim.Optimizer, saved: dict[str, Any], path: str | os.PathLike) -> None:
    """``saved`` fits ``optimizer``: its groups, settings and parameter ids, and per-parameter buffers of each
    parameter's shape and dtype. Then loads it."""
    fresh = optimizer.state_dict()
    groups = saved.get("param_groups")
    if not (isinstance(groups, list) and len(groups) == len(fresh["param_groups"])):
        raise _refuse(path, f"its optimizer state has {groups!r:.40} as parameter groups")
    merged = []
    for group, template in zip(groups, fresh["param_groups"], strict=True):
        if not (isinstance(group, dict) and "lr" in group and group.get("params") == template["params"]):
            raise _refuse(path, "its optimizer's parameter groups are not those of this model")
        # lr is set by the schedule at every step; every other setting comes from the run's config. A setting
        # another torch version did not save takes this run's value; one it added must be a plain value.
        group = {**template, **group}
        wrong = [
            key
            for key in group
            if key not in ("params", "lr")
            and not (
                (type(group[key]) is type(template[key]) and group[key] == template[key])
                if key in template
                else isinstance(group[key], (type(None), bool, int, float, str))
            )
        ]
        if wrong or not _same_kind(group["lr"], template["lr"]):
            found = {key: group[key] for key in wrong or ["lr"]}
            raise _refuse(path, f"its optimizer settings {found!r:.120} disagree with its config")
        merged.append(group)
    parameters = {
        index: parameter
        for template, group in zip(fresh["param_groups"], optimizer.param_groups, strict=True)
        for index, parameter in zip(template["params"], group["params"], strict=True)
    }
    state = saved.get("state")
    if not isinstance(state, dict):
        raise _refuse(path, "its optimizer has no per-parameter state")
    copied: dict[int, dict[str, Any]] = {}
    for index, entry in state.items():
        parameter = parameters.get(index) if type(index) is int else None
        if parameter is None or not isinstance(entry, dict):
            raise _refuse(path, f"its optimizer holds state for {index!r:.20}, not a parameter of this model")
        for name, value in entry.items():
            fits = value is None or (
                isinstance(value, torch.Tensor) and value.shape == parameter.shape and value.dtype == parameter.dtype
            )
            if not fits:
                raise _refuse(path, f"its optimizer's {name!r:.20} of parameter {index} does not fit the parameter")
        # copies: a loaded tensor may be a view whose elements share memory (stride 0), which SGD updates in place
        copied[index] = {name: value if value is None else value.clone() for name, value in entry.items()}
    optimizer.load_state_dict({"state": copied, "param_groups": merged})


def check_scaler_state(scaler: torch.amp.GradScaler, saved: Any, path: str | os.PathLike) -> None:
    """``saved`` holds the fp16 grad-scaler's settings (finite numbers, a positive scale). Then loads it."""
    fresh = scaler.state_dict()
    if not (isinstance(saved, dict) and saved.keys() == fresh.keys()):
        raise _refuse(path, f"its grad-scaler state is {saved!r:.60}, expected the keys {sorted(fresh)}")
    wrong = [key for key in fresh if not _same_kind(saved[key], fresh[key])]
    if wrong or not saved["scale"] > 0:
        raise _refuse(path, f"its grad-scaler settings {wrong or ['scale']} are not finite positive numbers")
    scaler.load_state_dict(saved)
