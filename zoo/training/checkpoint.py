"""Training checkpoints: everything needed to continue a run bit for bit.

A checkpoint holds the model, optimizer and grad-scaler state, the position
(epoch and optimizer steps done in it), the running sums of the epoch's
metrics, the lowest validation top-1 error so far, the run's config, and the RNG states of every
rank (torch CPU, CUDA, numpy, python). It is written by rank 0 to a temporary
file in the same directory, flushed to disk and renamed into place, so a crash
while writing leaves the previous checkpoint intact. Everything stored is a
tensor or a plain Python value, so it loads with ``torch.load(weights_only=True)``.

The augmentation generators need no saved state: each sample's generator is
seeded afresh from ``(seed, epoch, index)``, and the sampler's order from
``(seed, epoch)``; the checkpoint records the seed and how many samples of the
current epoch each rank has consumed.

A checkpoint to resume from may be damaged or not one at all, so :func:`load_checkpoint`
reads it with ``weights_only=True`` only (a pickle of other objects is refused, never
run) and checks every plain field before the run uses any of them;
:mod:`zoo.training.resume` checks the rest against the run being rebuilt. Problems are
:class:`CheckpointError` exceptions, and the file is never written to.
"""

from __future__ import annotations

import math
import os
import pickle
import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from densenet_zoo_util.atomic import atomic_output
from zoo.training.errors import CheckpointError

CHECKPOINT_NAME = "checkpoint.pt"
#: Format 2 names the epoch's running totals ``top1_correct``/``top5_correct`` and keeps ``best_top1_error``
#: (format 1 kept the best top-1 accuracy as ``best_top1``).
CHECKPOINT_FORMAT = "densenet-zoo-train/2"
#: Keys every checkpoint of this format holds.
REQUIRED_KEYS = (
    "format",
    "model",
    "model_config",
    "optimizer",
    "epoch",
    "step",
    "steps_per_epoch",
    "epoch_totals",
    "config",
    "rng_states",
)
#: The epoch's running totals: summed loss x samples, top-1 and top-5 hits, samples.
TOTALS_KEYS = ("loss", "top1_correct", "top5_correct", "count")


def capture_rng_state() -> dict[str, Any]:
    """The RNG states of this process, as tensors and plain values."""
    numpy_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "pos": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
        "python": [list(item) if isinstance(item, tuple) else item for item in random.getstate()],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # this process's GPU only: asking for every GPU would open a context on each of them
        state["cuda"] = torch.cuda.get_rng_state(torch.cuda.current_device())
    return state


def _numpy_state(saved: dict[str, Any]) -> tuple:
    """numpy's ``get_state()`` tuple from what :func:`capture_rng_state` stored."""
    return (
        "MT19937",
        saved["keys"].numpy().astype(np.uint32),
        saved["pos"],
        saved["has_gauss"],
        saved["cached_gaussian"],
    )


def _python_state(saved: list) -> tuple:
    """``random.getstate()`` from what :func:`capture_rng_state` stored (lists for tuples)."""
    version, internal, gauss = saved
    return version, tuple(internal), gauss


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng_state` captured."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(_numpy_state(state["numpy"]))
    random.setstate(_python_state(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"], torch.cuda.current_device())


def save_atomic(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then ``os.replace``."""
    path = Path(path)
    with atomic_output(path, "wb") as stream:
        torch.save(payload, stream)
    return path


def checkpoint_path(directory_or_file: str | os.PathLike) -> Path:
    """The checkpoint file of a run directory (or the file itself)."""
    location = Path(directory_or_file)
    return location / CHECKPOINT_NAME if location.is_dir() else location


def load_checkpoint(directory_or_file: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_atomic` (CPU tensors, ``weights_only=True``) and check its
    plain fields (:func:`check_checkpoint`); :class:`CheckpointError` for anything else."""
    path = checkpoint_path(directory_or_file)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}; --resume expects the --out directory of an earlier run"
            f" (containing {CHECKPOINT_NAME}) or the checkpoint file itself"
        )
    try:
        with warnings.catch_warnings():  # e.g. torch's note on a pickle protocol it does not expect: the error says it
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message advises weights_only=False, i.e. running the file's code: never pass that on
        found = re.search(r"GLOBAL (\S+)", str(error))
        named = f" (it names {found.group(1)})" if found else ""
        raise CheckpointError(
            f"{path} holds Python objects other than tensors and plain values{named}; a training checkpoint never"
            " does, and such a file is not loaded because unpickling it could run code. Resume from the --out"
            " folder of a run of densenet-zoo train"
        ) from None
    except Exception as error:
        detail = (str(error).splitlines() or [""])[0][:200]
        raise CheckpointError(
            f"could not read checkpoint {path} ({type(error).__name__}: {detail}); it is truncated, damaged or not"
            " a checkpoint written by densenet-zoo train"
        ) from None
    check_checkpoint(payload, path)
    return payload


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: Any, low: int) -> bool:
    return type(value) is int and low <= value < 2**63


def check_checkpoint(payload: Any, path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` unless ``payload`` has this format's keys with values of the right kinds:
    position counts, finite running totals, a history of records and RNG states that restore."""

    def refuse(problem: str) -> CheckpointError:
        return CheckpointError(
            f"{path} is not a usable training checkpoint: {problem}; resume from the --out folder of a run of"
            " densenet-zoo train, or start a new run"
        )

    if not isinstance(payload, dict):
        raise refuse(f"it holds a value of type {type(payload).__name__}, not a dict of the run's state")
    if payload.get("format") != CHECKPOINT_FORMAT:
        older = payload.get("format") == "densenet-zoo-train/1"
        hint = (
            " (written by an earlier densenet-zoo: finish that run with the version that started it)" if older else ""
        )
        raise refuse(f"its format is {payload.get('format')!r:.60}, expected {CHECKPOINT_FORMAT!r}{hint}")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise refuse(f"keys {missing} are missing")
    for key, low in (("epoch", 1), ("step", 0), ("steps_per_epoch", 1)):
        if not _is_count(payload[key], low):
            raise refuse(f"{key} is {payload[key]!r:.40}, expected an int >= {low}")
    if payload["step"] > payload["steps_per_epoch"]:
        raise refuse(f"step {payload['step']} is past the {payload['steps_per_epoch']} steps of an epoch")
    for key in ("model", "model_config", "optimizer", "config", "epoch_totals"):
        if not (isinstance(payload[key], dict) and all(isinstance(name, str) for name in payload[key])):
            raise refuse(f"{key} is a {type(payload[key]).__name__}, expected a dict with string keys")
    totals = payload["epoch_totals"]
    if sorted(totals) != sorted(TOTALS_KEYS) or not all(_is_number(value) and value >= 0 for value in totals.values()):
        raise refuse(f"epoch_totals must hold finite non-negative {', '.join(TOTALS_KEYS)}, found {totals!r:.80}")
    best = payload.get("best_top1_error")
    if best is not None and not (_is_number(best) and 0 <= best <= 100):
        raise refuse(f"best_top1_error is {best!r:.40}, expected None or a percentage")
    history = payload.get("history", [])
    if not (isinstance(history, list) and all(isinstance(record, dict) for record in history)):
        raise refuse("history is not a list of records")
    states = payload["rng_states"]
    if not (isinstance(states, list) and states):
        raise refuse(f"rng_states is a {type(states).__name__} {states!r:.40}, expected a list of every rank's states")
    for rank, state in enumerate(states):
        problem = rng_state_problem(state)
        if problem:
            raise refuse(f"the RNG state of rank {rank} {problem}")


def rng_state_problem(state: Any) -> str | None:
    """Why :func:`restore_rng_state` could not put ``state`` back (tried on fresh generators), or None."""
    try:
        torch.Generator().set_state(state["torch"])
        np.random.RandomState().set_state(_numpy_state(state["numpy"]))
        random.Random().setstate(_python_state(state["python"]))
        if "cuda" in state and not (isinstance(state["cuda"], torch.Tensor) and state["cuda"].dtype == torch.uint8):
            return "has a CUDA state that is not a byte tensor"
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RuntimeError, OverflowError) as error:
        return f"does not restore ({type(error).__name__}: {error})"
    return None
