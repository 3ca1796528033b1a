"""Checkpoints, exports and manifests for the Hub tests, made by the project's own writers."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from zoo.models.densenet import DenseNetConfig
from zoo.registry.architectures import register_architecture
from zoo.registry.manifest import SCHEMA_VERSION

TINY_CONFIG = DenseNetConfig(growth_rate=4, block_config=(1, 1), num_init_features=8, num_classes=5)
register_architecture("hub_tiny", TINY_CONFIG)


def lua_checkpoint(path: Path, config: DenseNetConfig, seed: int = 0) -> Path:
    """A Torch7 checkpoint laid out like fb.resnet.torch's (weights distributed like trained ones)."""
    from converters import t7
    from converters.synthetic.densenet import densenet_checkpoint

    t7.save(densenet_checkpoint(config, layout="standard", seed=seed), str(path))
    return path


def repo_files(directory: Path) -> dict[str, bytes]:
    """The files of an export folder, as a commit of the local Hub takes them."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def hub_source(repo_id: str, revision: str, sha256: str | None, size: int | None = None, **fields) -> dict:
    source = {
        "type": "huggingface",
        "repo_id": repo_id,
        "revision": revision,
        "filename": "model.safetensors",
        "format": "safetensors",
        "sha256": sha256,
        "size": size,
    }
    return {**source, **fields}


def write_manifest(path: Path, models: dict[str, list[dict]], architecture: str = "hub_tiny") -> Path:
    entries = {
        name: {"title": name, "architecture": architecture, "published": {"top1_error": 40.0}, "sources": sources}
        for name, sources in models.items()
    }
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "models": entries}, indent=2))
    return path


def images(size: int = 32, count: int = 2) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(7))


def outputs(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(batch)
