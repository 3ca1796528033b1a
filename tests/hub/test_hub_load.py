"""``zoo.load("hf-hub:ORG/REPO[@REVISION]")``: any repository laid out as export-hub writes it, no manifest needed."""

from __future__ import annotations

import json

import pytest
import torch
from hub_files import TINY_CONFIG, images, outputs, repo_files
from safetensors.torch import save_file

import zoo
from converters.export import save_weights
from zoo.registry import OfflineError, RegistryError, UnpinnedSourceError, VerificationError
from zoo.registry.huggingface import parse_hub_name


def test_a_repository_loads_by_branch_commit_and_default(hub, hub_env, tiny_export):
    commit = hub.commit("zoo-tests/tiny-load", repo_files(tiny_export[1]))
    hub.repos["zoo-tests/tiny-load"].branches["v1"] = commit
    expected = outputs(zoo.load_weights(tiny_export[1] / "model.safetensors"), images())
    for name in ("hf-hub:zoo-tests/tiny-load", f"hf-hub:zoo-tests/tiny-load@{commit}", "hf-hub:zoo-tests/tiny-load@v1"):
        model = zoo.load(name)
        torch.testing.assert_close(outputs(model, images()), expected)
        assert model.pretrained_weights["revision"] == commit
        assert not model.training


def test_a_commit_pins_the_repository_while_its_branch_moves(hub, hub_env, tiny_export, tmp_path):
    first = hub.commit("zoo-tests/moving", repo_files(tiny_export[1]))
    model = zoo.load("hf-hub:zoo-tests/moving")
    other = zoo.DenseNet(TINY_CONFIG.replace(num_classes=3))
    save_weights(other.state_dict(), other.config, tmp_path / "model.safetensors")
    files = {**repo_files(tiny_export[1]), "model.safetensors": (tmp_path / "model.safetensors").read_bytes()}
    files["config.json"] = json.dumps({"densenet_zoo": {"config": other.config.to_dict()}}).encode()
    second = hub.commit("zoo-tests/moving", files)
    assert zoo.load("hf-hub:zoo-tests/moving").config.num_classes == 3
    pinned = zoo.load(f"hf-hub:zoo-tests/moving@{first}")
    torch.testing.assert_close(outputs(pinned, images()), outputs(model, images()))
    assert second != first


def test_a_config_that_contradicts_the_weights_is_refused(hub, hub_env, tiny_export):
    files = repo_files(tiny_export[1])
    declared = json.loads(files["config.json"])
    declared["densenet_zoo"]["config"]["growth_rate"] = 8
    hub.commit("zoo-tests/inconsistent", {**files, "config.json": json.dumps(declared).encode()})
    with pytest.raises(VerificationError, match="inconsistent"):
        zoo.load("hf-hub:zoo-tests/inconsistent")


@pytest.mark.parametrize(
    "config_json",
    [b"not json", b"[1, 2]", b'{"densenet_zoo": {"config": {"growth_rate": -1}}}', b'{"densenet_zoo": 3}', b"\xff"],
)
def test_a_malformed_config_json_is_refused(hub, hub_env, tiny_export, config_json):
    hub.commit("zoo-tests/bad-config", {**repo_files(tiny_export[1]), "config.json": config_json})
    with pytest.raises(VerificationError, match="config.json of hf-hub:zoo-tests/bad-config"):
        zoo.load("hf-hub:zoo-tests/bad-config")


def test_weights_whose_metadata_contradicts_their_tensors_are_refused_before_building(hub, hub_env, tmp_path):
    network = zoo.DenseNet(TINY_CONFIG)
    save_weights(network.state_dict(), TINY_CONFIG.replace(growth_rate=400), tmp_path / "model.safetensors")
    files = {"config.json": b"{}", "model.safetensors": (tmp_path / "model.safetensors").read_bytes()}
    hub.commit("zoo-tests/hostile", files)
    with pytest.raises(VerificationError, match="do not fit the architecture"):
        zoo.load("hf-hub:zoo-tests/hostile")


def test_a_timm_style_repository_without_our_metadata_loads_from_its_tensors(hub, hub_env, tmp_path):
    network = zoo.DenseNet(TINY_CONFIG)
    save_file({key: value.contiguous() for key, value in network.state_dict().items()}, tmp_path / "plain")
    config = {"architecture": "densenet_custom", "num_classes": 5, "pretrained_cfg": {}}
    hub.commit(
        "zoo-tests/plain",
        {"config.json": json.dumps(config).encode(), "model.safetensors": (tmp_path / "plain").read_bytes()},
    )
    model = zoo.load("hf-hub:zoo-tests/plain")
    assert model.config == TINY_CONFIG
    torch.testing.assert_close(outputs(model, images()), outputs(network, images()))


def test_offline_a_hub_name_needs_the_hf_cache(hub, hub_env, tiny_export, tmp_path):
    hub.commit("zoo-tests/offline", repo_files(tiny_export[1]))
    hub_env(HF_HUB_OFFLINE="1")
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE=1 and config.json"):
        zoo.load("hf-hub:zoo-tests/offline")
    hub_env(HF_HUB_OFFLINE=None)
    expected = outputs(zoo.load("hf-hub:zoo-tests/offline"), images())
    hub_env(HF_HUB_OFFLINE="1")
    before = hub.network_requests()
    torch.testing.assert_close(outputs(zoo.load("hf-hub:zoo-tests/offline"), images()), expected)
    assert hub.network_requests() == before


@pytest.mark.parametrize(
    "name",
    [
        "hf-hub:densenet121",
        "hf-hub:org/repo@",
        "hf-hub:org/repo@a..b",
        "hf-hub:org/re po",
        "hf-hub:org/repo/x",
        "hf-hub:",
    ],
)
def test_a_malformed_hub_name_is_refused(name):
    with pytest.raises(RegistryError, match="not a Hub model name"):
        parse_hub_name(name)


def test_a_hub_name_keeps_its_parts():
    parsed = parse_hub_name("hf-hub:my-org/densenet.121_v2@refs/pr/1")
    assert (parsed.repo_id, parsed.revision, str(parsed)) == (
        "my-org/densenet.121_v2",
        "refs/pr/1",
        "hf-hub:my-org/densenet.121_v2@refs/pr/1",
    )


def test_strict_mode_refuses_a_hub_name_which_no_manifest_vouches_for(hub_env):
    hub_env(DENSENET_ZOO_STRICT="1")
    with pytest.raises(UnpinnedSourceError, match="'huggingface' source with its sha256"):
        zoo.load("hf-hub:zoo-tests/anything")
