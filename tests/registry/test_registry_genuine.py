"""A genuine Torch7 checkpoint through the whole registry: fake Google Drive -> verify -> convert -> model.

The model's output must match what real Lua Torch7 computed for the same input.
"""

import hashlib

import numpy as np
import torch
from fixtures import fixture_path
from registry_fakedrive import DriveFile, FakeDrive
from registry_manifests import drive_source, write_manifest

import zoo
from zoo.models.densenet import DenseNetConfig
from zoo.registry import gdrive, register_architecture

LUA_CONFIG = DenseNetConfig(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16)
register_architecture("lua_tiny_std", LUA_CONFIG)  # the architecture of the genuine tiny_std.t7


def test_a_genuine_lua_checkpoint_from_drive_matches_lua_output(server, tmp_path, monkeypatch):
    checkpoint = fixture_path("torch7", "densenet", "tiny_std.t7")
    content = checkpoint.read_bytes()
    drive = FakeDrive(server)
    drive.add("genuine", DriveFile("tiny_std.t7", content, resourcekey="0-key"))
    monkeypatch.setenv(gdrive.BASE_URL_ENV, drive.base_url)
    source = drive_source("genuine", "tiny_std.t7", hashlib.sha256(content).hexdigest(), "0-key", len(content))
    manifest = write_manifest(tmp_path / "manifest.json", {"lua_tiny": [source]}, "lua_tiny_std")
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    model = zoo.load("lua_tiny")
    images = np.fromfile(fixture_path("torch7", "densenet", "tiny_std.input.f32"), dtype="<f4").reshape(2, 3, 224, 224)
    expected = np.fromfile(fixture_path("torch7", "densenet", "tiny_std.output.f32"), dtype="<f4").reshape(2, 1000)
    with torch.no_grad():
        output = model(torch.from_numpy(images.copy())).numpy()
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-4)
    assert [request.path for request in server.requests] == ["/uc", "/download"]
