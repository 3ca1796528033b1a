import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from registry_server import LocalServer

from zoo.registry.download import RetryPolicy
from zoo.registry.settings import Settings


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


@pytest.fixture
def sleeps():
    """Waits the downloader asked for (instead of sleeping)."""
    return []


@pytest.fixture
def settings(tmp_path, sleeps):
    return Settings(cache_dir=tmp_path / "cache", progress=False, retry=RetryPolicy(attempts=4, sleep=sleeps.append))


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    """No test sees the user's cache, mirror or manifest settings."""
    for name in (
        "DENSENET_ZOO_OFFLINE",
        "DENSENET_ZOO_STRICT",
        "DENSENET_ZOO_MIRROR",
        "DENSENET_ZOO_MANIFEST",
        "DENSENET_ZOO_GDRIVE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DENSENET_ZOO_HOME", str(tmp_path / "home"))
