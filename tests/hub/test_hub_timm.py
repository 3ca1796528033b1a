"""timm reads what export-hub writes: a file through ``pretrained_cfg_overlay``, a repository through ``hf-hub:``."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from hub_files import images, outputs, repo_files

import zoo
from zoo.hub import TIMM_ARCHITECTURES, Provenance, hub_config
from zoo.models.densenet import MODEL_CONFIGS


@pytest.mark.parametrize("timm_name", ["densenet121", "densenet121.tv_in1k"])
def test_timm_loads_an_exported_file_and_computes_what_zoo_computes(d121_export, timm_name):
    _, folder = d121_export
    path = str(folder / "model.safetensors")
    model = timm.create_model(timm_name, pretrained=True, pretrained_cfg_overlay=dict(file=path))
    torch.testing.assert_close(outputs(model, images(64)), outputs(zoo.load_weights(path), images(64)))


def test_timm_loads_an_exported_repository_from_the_hub_with_its_preprocessing(hub, hub_env, d121_export):
    _, folder = d121_export
    hub.commit("zoo-tests/densenet121", repo_files(folder))
    model = timm.create_model("hf-hub:zoo-tests/densenet121", pretrained=True)
    torch.testing.assert_close(
        outputs(model, images(64)), outputs(zoo.load("hf-hub:zoo-tests/densenet121"), images(64))
    )
    data = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in timm.data.resolve_data_config({}, model=model).items()
    }
    assert data["input_size"] == (3, 224, 224) and data["crop_pct"] == 0.875 and data["crop_mode"] == "center"
    assert data["interpolation"] == "bicubic"
    assert data["mean"] == (0.485, 0.456, 0.406) and data["std"] == (0.229, 0.224, 0.225)
    transform = timm.data.create_transform(**data)  # Resize(256, bicubic), CenterCrop(224), ToTensor, Normalize
    assert "CenterCrop(size=(224, 224))" in repr(transform) and "size=256" in repr(transform)


@pytest.mark.parametrize("architecture", TIMM_ARCHITECTURES)
def test_the_config_builds_timms_model_and_the_weights_load_into_it_strictly(tmp_path, architecture):
    """Every architecture timm has, without allocating weights: both networks are built on the meta device."""
    config = MODEL_CONFIGS[architecture]
    provenance = Provenance(architecture, "x.t7", "0" * 64, "t7", "a local file, x.t7")
    (tmp_path / "config.json").write_text(json.dumps(hub_config(config, provenance, "0" * 64)))
    model = timm.create_model(f"local-dir:{tmp_path}", pretrained=False, device="meta")
    assert model.pretrained_cfg["architecture"] == architecture and model.num_features == config.num_features
    with torch.device("meta"):
        ours = zoo.DenseNet(config, init_weights=False)
    assert not model.load_state_dict(ours.state_dict(), strict=True, assign=True).missing_keys
