"""Small manifests for tests, written as real JSON files.

Their models name the architecture "tiny" (:data:`TINY_CONFIG`), registered when this module is
imported, so that processes started by a test (forkserver children import it too) know it as well.
"""

from __future__ import annotations

import json
from pathlib import Path

from zoo.models.densenet import DenseNetConfig
from zoo.registry.architectures import register_architecture
from zoo.registry.manifest import SCHEMA_VERSION, load_manifest

TINY_CONFIG = DenseNetConfig(growth_rate=4, block_config=(1, 1), num_init_features=8, num_classes=5)
register_architecture("tiny", TINY_CONFIG)


def url_source(url: str, filename: str, sha256: str | None, size: int | None = None, file_format: str = "t7") -> dict:
    return {"type": "url", "url": url, "filename": filename, "format": file_format, "sha256": sha256, "size": size}


def drive_source(file_id: str, filename: str, sha256: str | None, resourcekey: str | None = None, size=None) -> dict:
    return {
        "type": "google_drive",
        "file_id": file_id,
        "resourcekey": resourcekey,
        "filename": filename,
        "format": "t7",
        "sha256": sha256,
        "size": size,
    }


def write_manifest(path: Path, models: dict[str, list[dict]], architecture: str = "tiny") -> Path:
    """A manifest at ``path`` whose every model has the ``architecture`` and the given sources."""
    entries = {
        name: {"title": name, "architecture": architecture, "published": {"top1_error": 50.0}, "sources": sources}
        for name, sources in models.items()
    }
    raw = {"schema_version": SCHEMA_VERSION, "models": entries}
    path.write_text(json.dumps(raw, indent=2))
    return path


def manifest_of(tmp_path: Path, models: dict[str, list[dict]], architecture: str = "tiny"):
    return load_manifest(write_manifest(tmp_path / "manifest.json", models, architecture))
