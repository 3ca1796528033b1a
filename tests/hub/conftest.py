import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_hub import LocalHub

#: Every variable of the user's that could point huggingface_hub elsewhere, log it in or send telemetry.
HF_VARIABLES = (
    "HF_ENDPOINT",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HUB_DISABLE_TELEMETRY",
    "HF_HUB_DISABLE_PROGRESS_BARS",
    "HF_HUB_DISABLE_XET",
    "HF_XET_CACHE",
)


@pytest.fixture(scope="session")
def hub():
    with LocalHub() as running:
        yield running


def reload_hub_settings() -> None:
    """Make huggingface_hub read its environment again, as it does once when it is imported."""
    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)


@pytest.fixture
def hub_env(monkeypatch, tmp_path, hub):
    """HF_ENDPOINT at the local Hub, HF_HOME/HF_HUB_CACHE in tmp_path, densenet-zoo's cache there too.

    Returns a function that sets more variables (``hub_env(HF_HUB_OFFLINE="1")``) and re-reads them.
    """
    for name in (*HF_VARIABLES, "DENSENET_ZOO_OFFLINE", "DENSENET_ZOO_STRICT", "DENSENET_ZOO_MIRROR"):
        monkeypatch.delenv(name, raising=False)
    variables = {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_CACHE": str(tmp_path / "hf-home" / "hub"),
        "HF_XET_CACHE": str(tmp_path / "hf-home" / "xet"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_XET": "1",
        "DENSENET_ZOO_HOME": str(tmp_path / "zoo-home"),
    }

    def set_environment(**more: str) -> dict[str, str]:
        variables.update(more)
        for name, value in variables.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        reload_hub_settings()
        return dict(variables)

    set_environment()
    yield set_environment
    monkeypatch.undo()
    reload_hub_settings()


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """A small DenseNet's Torch7 checkpoint and its export-hub folder: ``(checkpoint, folder)``."""
    from hub_files import TINY_CONFIG, lua_checkpoint

    from zoo.hub import export_hub

    root = tmp_path_factory.mktemp("tiny")
    checkpoint = lua_checkpoint(root / "tiny.t7", TINY_CONFIG)
    export_hub(checkpoint, root / "export", repo_id="zoo-tests/tiny")
    return checkpoint, root / "export"


@pytest.fixture(scope="session")
def d121_export(tmp_path_factory):
    """DenseNet-121 as a Torch7 checkpoint named like the published one, and its export-hub folder."""
    from hub_files import lua_checkpoint

    from zoo.hub import export_hub
    from zoo.models.densenet import MODEL_CONFIGS

    root = tmp_path_factory.mktemp("d121")
    checkpoint = lua_checkpoint(root / "densenet-121.t7", MODEL_CONFIGS["densenet121"])
    export_hub(checkpoint, root / "export", repo_id="zoo-tests/densenet121")
    return checkpoint, root / "export"
