"""Export trained weights in the zoo's format (safetensors + config) so ``zoo.load_weights`` reads them."""

from __future__ import annotations

import os
from pathlib import Path

from zoo.models.densenet import DenseNet


def export_weights(model: DenseNet, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model``'s state dict and config to ``path`` atomically (safetensors)."""
    from converters.export import save_weights

    state_dict = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    path = Path(path)
    save_weights(state_dict, model.config, path, format="safetensors", metadata=dict(metadata or {}), force=True)
    return path
