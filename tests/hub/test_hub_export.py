"""``densenet-zoo export-hub``: a folder the Hub, huggingface_hub, densenet-zoo and torchvision all read."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
import torchvision
from click.testing import CliRunner
from evaluation.evaluation_helpers import evaluation_record
from hub_files import TINY_CONFIG, hub_source, images, outputs, repo_files, write_manifest
from huggingface_hub import ModelCard, metadata_load
from safetensors import safe_open

import zoo
import zoo.hub
from zoo.cli import main
from zoo.evaluation import state_dict_sha256
from zoo.hub import export_hub
from zoo.models.densenet import MODEL_CONFIGS
from zoo.registry import HubExportError, RegistryError

FILES = ["README.md", "config.json", "model.safetensors"]


def _record(tmp_path, model, **changes):
    """An evaluation record as `densenet-zoo evaluate --json` writes it, of ``model`` on the whole validation set."""
    record = evaluation_record(**{"state_dict_sha256": state_dict_sha256(model), **changes})
    return record.save(tmp_path / "record.json")


def test_a_published_checkpoint_exports_weights_config_and_a_card_the_hub_parses(d121_export):
    checkpoint, folder = d121_export
    assert sorted(path.name for path in folder.iterdir()) == FILES
    assert not [path for path in folder.parent.iterdir() if path.name.startswith(".")]  # no staging left behind
    exported = zoo.load_weights(folder / "model.safetensors")
    torch.testing.assert_close(outputs(exported, images(64)), outputs(zoo.load_weights(checkpoint), images(64)))

    card = ModelCard.load(folder / "README.md")
    assert (card.data.library_name, card.data.license, card.data.datasets) == ("timm", "bsd-3-clause", ["imagenet-1k"])
    assert card.data.model_name == "densenet121" and {"timm", "densenet"} <= set(card.data.tags)
    [published] = card.data.eval_results
    assert (published.metric_type, published.metric_value, published.dataset_type) == (
        "top1_error",
        25.0,
        "imagenet-1k",
    )
    assert published.source_url == "https://github.com/liuzhuang13/DenseNet"
    assert metadata_load(folder / "README.md")["model-index"][0]["name"] == "densenet121"

    sha256 = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert sha256 in card.text and "densenet-121.t7" in card.text and "relative error of 3e-07" in card.text
    assert str(checkpoint.parent) not in card.text  # the card is published: no local paths
    assert 'timm.create_model("hf-hub:zoo-tests/densenet121", pretrained=True)' in card.text
    config = json.loads((folder / "config.json").read_text())
    assert (config["architecture"], config["num_classes"], config["num_features"]) == ("densenet121", 1000, 1024)
    expected_cfg = {"input_size": [3, 224, 224], "crop_pct": 0.875, "interpolation": "bicubic", "crop_mode": "center"}
    assert expected_cfg.items() <= config["pretrained_cfg"].items()
    assert config["pretrained_cfg"]["mean"] == [0.485, 0.456, 0.406]
    assert config["pretrained_cfg"]["std"] == [0.229, 0.224, 0.225]
    assert config["densenet_zoo"]["config"] == MODEL_CONFIGS["densenet121"].to_dict()
    assert config["densenet_zoo"]["source"]["sha256"] == sha256
    with safe_open(folder / "model.safetensors", "pt") as weights:
        assert weights.metadata()["source_sha256"] == sha256


def test_the_plain_pytorch_snippet_loads_strictly_into_torchvision(d121_export):
    checkpoint, folder = d121_export
    from safetensors.torch import load_file

    assert "torchvision.models.DenseNet(" in (folder / "README.md").read_text()
    model = torchvision.models.DenseNet(growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4)
    model.load_state_dict(load_file(folder / "model.safetensors"))
    torch.testing.assert_close(outputs(model, images(64)), outputs(zoo.load_weights(checkpoint), images(64)))


def test_a_record_of_these_weights_on_the_whole_validation_set_adds_the_measured_error(d121_export, tmp_path):
    checkpoint, _ = d121_export
    record = _record(tmp_path, zoo.load_weights(checkpoint))
    result = export_hub(checkpoint, tmp_path / "out", evaluation=record)
    assert result.measured.top1_error == 24.976 and result.published_top1_error == 25.0
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert [(r.metric_type, r.metric_value) for r in card.data.eval_results] == [
        ("top1_error", 25.0),
        ("top1_error", 24.976),
    ]
    assert "measured by densenet-zoo evaluate (torch7 preprocessing, 1-crop, 50000 images)" in (
        card.data.eval_results[1].metric_name
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"state_dict_sha256": "0" * 64}, "other weights"),
        ({"limit": 5, "images": 5000}, "whole ImageNet validation set"),
        ({"label_space": "sorted-folders"}, "whole ImageNet validation set"),
        ({"top1_error": float("nan")}, "whole ImageNet validation set"),
    ],
)
def test_a_record_of_other_weights_or_images_is_refused_and_nothing_is_written(tiny_export, tmp_path, changes, message):
    checkpoint, _ = tiny_export
    record = _record(tmp_path, zoo.load_weights(checkpoint), **changes)
    with pytest.raises(HubExportError, match=message):
        export_hub(checkpoint, tmp_path / "out", evaluation=record)
    assert not (tmp_path / "out").exists()


def test_weights_of_ones_own_have_no_timm_fields_and_no_published_error(tiny_export):
    _, folder = tiny_export
    config = json.loads((folder / "config.json").read_text())
    assert "architecture" not in config and "pretrained_cfg" not in config
    assert config["densenet_zoo"]["config"] == TINY_CONFIG.to_dict() and config["densenet_zoo"]["model"] is None
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "densenet-zoo" and "timm" not in card.data.tags
    assert card.data.eval_results is None and card.data.datasets is None  # 5 classes: not an ImageNet model
    assert "not one of the published DenseNet models" in card.text


def test_a_registry_name_exports_what_the_registry_verified(hub, hub_env, tiny_export, tmp_path, monkeypatch):
    files = repo_files(tiny_export[1])
    commit = hub.commit("zoo-tests/tiny-registry", files)
    sha256 = hashlib.sha256(files["model.safetensors"]).hexdigest()
    manifest = write_manifest(
        tmp_path / "manifest.json", {"tiny_hub_model": [hub_source("zoo-tests/tiny-registry", commit, sha256)]}
    )
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    result = export_hub("tiny_hub_model", tmp_path / "out")
    assert result.provenance.name == "tiny_hub_model" and result.provenance.source_sha256 == sha256
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert "zoo-tests/tiny-registry" in card.text and "trust: manifest" in card.text
    torch.testing.assert_close(
        outputs(zoo.load_weights(tmp_path / "out" / "model.safetensors"), images()),
        outputs(zoo.load("tiny_hub_model"), images()),
    )


def test_a_name_of_another_architecture_is_refused(tiny_export, tmp_path):
    with pytest.raises(HubExportError, match="not that model"):
        export_hub(tiny_export[0], tmp_path / "out", name="densenet121")
    with pytest.raises(RegistryError, match="resnet50 is a ResNet .* not a DenseNet"):
        export_hub(tiny_export[0], tmp_path / "out", name="resnet50")
    with pytest.raises(RegistryError, match="not a DenseNet"):
        export_hub("resnet50", tmp_path / "out")


def test_an_output_is_replaced_only_with_force_and_a_failure_leaves_nothing(tiny_export, tmp_path, monkeypatch):
    checkpoint, _ = tiny_export
    out = tmp_path / "out"
    out.mkdir()
    export_hub(checkpoint, out)  # an empty directory is taken
    (out / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="--force"):
        export_hub(checkpoint, out)
    assert (out / "mine.txt").read_text() == "keep"
    export_hub(checkpoint, out, force=True)
    assert sorted(path.name for path in out.iterdir()) == FILES

    def broken_card(facts):
        raise RuntimeError("disk full")

    monkeypatch.setattr(zoo.hub, "model_card", broken_card)
    with pytest.raises(RuntimeError, match="disk full"):
        export_hub(checkpoint, tmp_path / "new")
    with pytest.raises(RuntimeError, match="disk full"):
        export_hub(checkpoint, out, force=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]
    assert sorted(path.name for path in out.iterdir()) == FILES
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_hub(checkpoint, tmp_path / "missing" / "out")


def test_the_command_prints_what_to_upload_and_fails_in_one_line(tiny_export, tmp_path):
    checkpoint, _ = tiny_export
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export-hub", str(checkpoint), str(out), "--repo-id", "me/tiny"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'model.safetensors'}" in result.stdout and "hf upload me/tiny" in result.stdout
    source = json.loads(result.stdout[result.stdout.index("{") :])
    assert source["sha256"] == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    for arguments in ([str(checkpoint), str(out)], [str(checkpoint), str(tmp_path / "x"), "--repo-id", "no-slash"]):
        failed = CliRunner().invoke(main, ["export-hub", *arguments])
        assert failed.exit_code == 1 and failed.stderr.startswith("error: ") and failed.stderr.count("\n") == 1


@pytest.mark.parametrize("architecture", list(MODEL_CONFIGS))
def test_the_cards_torchvision_snippet_builds_every_published_architecture(architecture):
    """What the card's plain-PyTorch snippet builds takes the state dict strictly (both built on the meta device)."""
    config = MODEL_CONFIGS[architecture]
    with torch.device("meta"):
        model = torchvision.models.DenseNet(
            growth_rate=config.growth_rate,
            block_config=config.block_config,
            num_init_features=config.num_init_features,
            bn_size=config.bn_size,
            num_classes=config.num_classes,
        )
        ours = zoo.DenseNet(config, init_weights=False)
    assert not model.load_state_dict(ours.state_dict(), strict=True, assign=True).missing_keys
