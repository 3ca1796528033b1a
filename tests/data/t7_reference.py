"""Load genuine torch/image reference tensors (from ../shared/fixtures/torch7/image/)."""

from __future__ import annotations

import torch

from fixtures import fixture_path


def load_reference(name: str) -> torch.Tensor:
    """The tensor stored in ``torch7/image/<name>`` as a torch tensor with its own memory."""
    path = fixture_path("torch7", "image", name)
    try:
        from converters import t7

        return t7.load(path).torch()
    except (ImportError, AttributeError):  # converters.t7 not available: torchfile reads these plain tensors
        import torchfile

        return torch.from_numpy(torchfile.load(str(path)).copy())
