"""hubconf.py: its entry points, and loading through torch.hub's own loader (source="local": no network)."""

import importlib.util
from pathlib import Path

import torch

import zoo

ROOT = Path(__file__).resolve().parents[2]


def test_hubconf_has_one_entry_point_per_published_model():
    spec = importlib.util.spec_from_file_location("hubconf", ROOT / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    entry_points = [name for name in vars(hubconf) if callable(getattr(hubconf, name)) and not name.startswith("_")]
    assert sorted(entry_points) == sorted(zoo.list_models("densenet"))
    assert all(
        getattr(hubconf, name).__name__ == name and name in getattr(hubconf, name).__doc__ for name in entry_points
    )


def test_hub_load_without_weights_applies_overrides():
    model = torch.hub.load(str(ROOT), "densenet121", source="local", pretrained=False, num_classes=10)
    assert isinstance(model, zoo.DenseNet)
    assert model.config == zoo.get_config("densenet121").replace(num_classes=10)
    assert model.classifier.out_features == 10 and model.training
