"""The errors of :mod:`zoo.training`: runs that cannot start or continue, checkpoints and data they cannot use.

Kept apart from the loop (which imports torch) so that the command line can name them at
start-up; each is also importable from the module that raises it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CheckpointError", "DataError", "NonFiniteLossError", "TrainingError", "TrainingInterrupted"]


class TrainingError(RuntimeError):
    """A training run that cannot start or continue."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite; the run stopped before applying that step."""


class TrainingInterrupted(TrainingError):
    """SIGTERM/SIGINT arrived; a checkpoint was written and the run stopped."""

    def __init__(self, message: str, signum: int, checkpoint: Path | None) -> None:
        super().__init__(message)
        self.signum = signum
        self.checkpoint = checkpoint


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, or from an incompatible run."""


class DataError(ValueError):
    """Training data that is missing or not in the expected format."""
