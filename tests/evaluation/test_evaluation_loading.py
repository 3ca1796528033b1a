"""zoo.evaluation.loading: which registry model a weights file is, for the published comparison."""

from __future__ import annotations

import json

from zoo.evaluation.loading import registry_name_for_file
from zoo.registry.manifest import SCHEMA_VERSION

REVISIONS = {"one": "1" * 40, "two": "2" * 40}


def _hub_source(repo_id: str, revision: str) -> dict:
    return {
        "type": "huggingface",
        "repo_id": repo_id,
        "revision": revision,
        "filename": "model.safetensors",
        "format": "safetensors",
        "sha256": "ab" * 32,
        "size": 1000,
    }


def test_a_file_is_named_by_its_cache_name_not_by_a_hub_repository_path(tmp_path, monkeypatch):
    """Both Hub models keep model.safetensors in their repositories; only the cache name tells them apart."""
    sources = {
        "one": [_hub_source("org/one", REVISIONS["one"])],
        "two": [_hub_source("org/two", REVISIONS["two"])],
        "three": [
            {"type": "url", "url": "https://example.org/three.t7", "filename": "three.t7", "format": "t7"},
        ],
    }
    models = {
        name: {"title": name, "architecture": "densenet121", "published": {}, "sources": model_sources}
        for name, model_sources in sources.items()
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "models": models}))
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))

    assert registry_name_for_file(tmp_path / "model.safetensors") is None
    assert registry_name_for_file(tmp_path / f"org--two-{REVISIONS['two'][:12]}-model.safetensors") == "two"
    assert registry_name_for_file(tmp_path / f"org--one-{REVISIONS['one'][:12]}-model.safetensors") == "one"
    assert registry_name_for_file(tmp_path / "three.t7") == "three"
