"""Training checkpoints: everything needed to continue a run bit for bit.

A checkpoint holds the model, optimizer and grad-scaler state, the position
(epoch and optimizer steps done in it), the running sums of the epoch's
metrics, the best top-1 so far, the run's config, and the RNG states of every
rank (torch CPU, CUDA, numpy, python). It is written by rank 0 to a temporary
file in the same directory, flushed to disk and renamed into place, so a crash
while writing leaves the previous checkpoint intact. Everything stored is a
tensor or a plain Python value, so it loads with ``torch.load(weights_only=True)``.

The augmentation generators need no saved state: each sample's generator is
seeded afresh from ``(seed, epoch, index)``, and the sampler's order from
``(seed, epoch)``; the checkpoint records the seed and how many samples of the
current epoch each rank has consumed.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from densenet_zoo_util.atomic import atomic_output

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, or from an incompatible run."""


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


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng_state` captured."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
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
    """Read a checkpoint written by :func:`save_atomic` (CPU tensors, ``weights_only=True``)."""
    path = checkpoint_path(directory_or_file)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}; --resume expects the --out directory of an earlier run"
            f" (containing {CHECKPOINT_NAME}) or the checkpoint file itself"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"could not read checkpoint {path}: {error}; it may be truncated or not a checkpoint"
        ) from error
    for key in ("model", "optimizer", "epoch", "step", "config"):
        if key not in payload:
            raise CheckpointError(
                f"{path} is not a training checkpoint: key {key!r} is missing (found {sorted(payload)})"
            )
    return payload
