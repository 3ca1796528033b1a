"""The errors of :mod:`zoo.evaluation`, kept apart from the harness (which imports torch) so that the
command line can name them at start-up; each is also importable from the module that raises it."""

from __future__ import annotations

__all__ = ["ModelSpecError"]


class ModelSpecError(ValueError):
    """MODEL is neither a registry name nor a readable weights file."""
