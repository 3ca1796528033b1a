"""Load genuine torch/image reference tensors (from ../shared/fixtures/torch7/image/)."""

from __future__ import annotations

import torch
from fixtures import fixture_path

from converters import t7


def load_reference(name: str) -> torch.Tensor:
    """The tensor stored in ``torch7/image/<name>``, read with the project's own Torch7 reader."""
    return t7.load(fixture_path("torch7", "image", name)).torch()
