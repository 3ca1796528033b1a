"""Small manifests for tests, written as real JSON files."""

from __future__ import annotations

import json
from pathlib import Path

from zoo.models.densenet import DenseNetConfig
from zoo.registry.manifest import load_manifest

TINY_CONFIG = DenseNetConfig(growth_rate=4, block_config=(1, 1), num_init_features=8, num_classes=5)


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


def write_manifest(path: Path, models: dict[str, list[dict]], config: DenseNetConfig = TINY_CONFIG) -> Path:
    raw = {
        "schema_version": 1,
        "models": {
            name: {"title": name, "config": config.to_dict(), "published": {"top1_error": 50.0}, "sources": sources}
            for name, sources in models.items()
        },
    }
    path.write_text(json.dumps(raw, indent=2))
    return path


def manifest_of(tmp_path: Path, models: dict[str, list[dict]], config: DenseNetConfig = TINY_CONFIG):
    return load_manifest(write_manifest(tmp_path / "manifest.json", models, config))
