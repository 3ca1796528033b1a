"""Metrics of a run: JSON-lines log, optional TensorBoard, progress with ETA (top-k scoring:
``zoo.evaluation.metrics``)."""

from __future__ import annotations

import errno
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import torch


def gpu_memory_mb(device: torch.device) -> float | None:
    """Peak allocated CUDA memory of ``device`` in MiB (None on CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` and mirrors scalars to TensorBoard if asked.

    TensorBoard is imported only when requested and skipped with a note when
    it is not installed.
    """

    def __init__(self, directory: str | os.PathLike, tensorboard: bool = False) -> None:
        self.path = Path(directory) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_symlink():
            raise self._link_error()
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print(
                    "TensorBoard is not installed (pip install tensorboard); logging JSON lines only", file=sys.stderr
                )
            else:
                self.writer = SummaryWriter(str(Path(directory) / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one JSON line; its numbers also go to TensorBoard under ``kind/key`` at ``step``.

        The file is never opened through a symbolic link: a run folder from elsewhere (resumed) could
        hold ``metrics.jsonl`` as a link to any file of the user's.
        """
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            descriptor = os.open(self.path, flags, 0o666)
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            raise self._link_error() from None
        with os.fdopen(descriptor, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record, sort_keys=True) + "\n")
        if self.writer is not None and "step" in record:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch", "iteration"):
                    self.writer.add_scalar(f"{record.get('kind', 'train')}/{key}", value, record["step"])

    def _link_error(self) -> PermissionError:
        return PermissionError(
            f"{self.path} is a symbolic link; metrics are not appended through links: remove it or choose another --out"
        )

    def close(self) -> None:
        """Flush and close the TensorBoard writer, if any."""
        if self.writer is not None:
            self.writer.close()


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` for an ETA (``?`` when it is not known yet)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:d}:{minutes:02d}:{seconds:02d}"


class Progress:
    """One status line per logging interval on ``stream`` (stderr): position, loss, LR, speed, ETA.

    The ETA extrapolates the mean time per optimizer step measured in this
    invocation over the steps left in the whole run.
    """

    def __init__(self, total_steps: int, stream: TextIO | None = None) -> None:
        self.total_steps = total_steps
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.perf_counter()
        self.first_step: int | None = None

    def update(self, step: int, epoch: int, num_epochs: int, iteration: int, num_batches: int, **values: float) -> None:
        """Write the status line for global ``step`` (``iteration`` of ``num_batches`` in ``epoch``) with ``values``."""
        now = time.perf_counter()
        if self.first_step is None:
            self.first_step, self.started = step - 1, now
        done = step - self.first_step
        per_step = (now - self.started) / done if done > 0 else float("nan")
        eta = per_step * (self.total_steps - step) if done > 1 else float("nan")
        shown = "  ".join(f"{key} {value:.4g}" for key, value in values.items() if value is not None)
        self.stream.write(
            f"epoch {epoch}/{num_epochs} [{iteration}/{num_batches}]  {shown}  ETA {format_duration(eta)}\n"
        )
        self.stream.flush()

    def message(self, text: str) -> None:
        """Write one free-form line (e.g. an epoch summary)."""
        self.stream.write(text + "\n")
        self.stream.flush()
