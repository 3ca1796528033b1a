"""The manifest's ``huggingface`` source: validated, fetched through hf_hub_download from a local Hub, verified."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from hub_files import hub_source, images, outputs, repo_files, write_manifest

import zoo
from zoo.cli import main
from zoo.registry import (
    HubAccessError,
    HubError,
    HubNotFoundError,
    HubNotInstalledError,
    ManifestError,
    OfflineError,
    VerificationError,
    load_manifest,
)
from zoo.registry.cache import read_record
from zoo.registry.fetch import cached_path
from zoo.registry.settings import Settings

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _manifest(tmp_path, monkeypatch, *sources, name="tiny_hub_model"):
    path = write_manifest(tmp_path / "manifest.json", {name: list(sources)})
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(path))
    return load_manifest(path)


def _published(hub, tiny_export, repo_id="zoo-tests/tiny"):
    """The export committed to ``repo_id``: (commit, sha256 and size of its model.safetensors)."""
    files = repo_files(tiny_export[1])
    commit = hub.commit(repo_id, files)
    weights = files["model.safetensors"]
    return commit, hashlib.sha256(weights).hexdigest(), len(weights)


def test_a_pinned_source_is_read_and_named_in_the_cache_by_repo_commit_and_file(tmp_path, monkeypatch):
    manifest = _manifest(tmp_path, monkeypatch, hub_source("org/densenet121", COMMIT, "ab" * 32, 1234))
    source = manifest["tiny_hub_model"].sources[0]
    assert (source.repo_id, source.revision, source.filename) == ("org/densenet121", COMMIT, "model.safetensors")
    assert source.cache_name == "org--densenet121-0123456789ab-model.safetensors"
    assert "org/densenet121" in source.describe() and COMMIT in source.describe()
    assert source.to_dict() == hub_source("org/densenet121", COMMIT, "ab" * 32, 1234)


def test_two_repositories_may_both_hold_model_safetensors(tmp_path):
    path = write_manifest(
        tmp_path / "manifest.json",
        {"one": [hub_source("org/one", COMMIT, None)], "two": [hub_source("org/two", COMMIT, None)]},
    )
    manifest = load_manifest(path)
    assert manifest["one"].sources[0].cache_name != manifest["two"].sources[0].cache_name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("revision", "main"),  # a branch moves: the manifest pins a commit
        ("revision", COMMIT[:-1]),
        ("revision", COMMIT.upper()),
        ("revision", None),
        ("repo_id", "densenet121"),
        ("repo_id", "org/../etc"),
        ("repo_id", "org--x/repo"),
        ("repo_id", "org/repo/extra"),
        ("filename", "../model.safetensors"),
        ("filename", "/etc/passwd"),
        ("filename", "weights//model.safetensors"),
        ("filename", "a" * 300),
        ("sha256", "ABCDEF01"),
        ("sha256", "ab" * 33),
        ("size", -1),
        ("url", "https://example.org/model.safetensors"),
    ],
)
def test_a_malformed_source_is_refused_naming_the_field(tmp_path, field, value):
    source = {**hub_source("org/repo", COMMIT, None), field: value}
    with pytest.raises(ManifestError, match=rf"sources\[0\].*{field}"):
        load_manifest(write_manifest(tmp_path / "manifest.json", {"m": [source]}))


def test_a_repository_and_path_too_long_for_a_cache_name_are_refused(tmp_path):
    source = hub_source("o" * 90 + "/" + "r" * 90, COMMIT, None)
    with pytest.raises(ManifestError, match="too long to name a cache file"):
        load_manifest(write_manifest(tmp_path / "manifest.json", {"m": [source]}))


def test_load_through_the_manifest_verifies_and_caches_then_needs_no_network(
    hub, hub_env, tiny_export, tmp_path, monkeypatch
):
    commit, sha256, size = _published(hub, tiny_export)
    manifest = _manifest(tmp_path, monkeypatch, hub_source("zoo-tests/tiny", commit, sha256, size))
    before = hub.network_requests()
    model = zoo.load("tiny_hub_model")
    assert hub.network_requests() > before
    batch = images()
    torch.testing.assert_close(
        outputs(model, batch), outputs(zoo.load_weights(tiny_export[1] / "model.safetensors"), batch)
    )
    path = cached_path(manifest["tiny_hub_model"].sources[0], Settings.from_env())
    record = read_record(path)
    assert (record.sha256, record.size, record.trust) == (sha256, size, "manifest")
    assert "zoo-tests/tiny" in record.origin
    assert model.pretrained_weights["source_sha256"] == sha256
    before = hub.network_requests()
    torch.testing.assert_close(outputs(zoo.load("tiny_hub_model"), batch), outputs(model, batch))
    assert hub.network_requests() == before


def test_a_wrong_sha256_is_refused_and_nothing_is_cached(hub, hub_env, tiny_export, tmp_path, monkeypatch):
    commit, sha256, size = _published(hub, tiny_export)
    wrong = hashlib.sha256(b"another file").hexdigest()
    manifest = _manifest(tmp_path, monkeypatch, hub_source("zoo-tests/tiny", commit, wrong, size))
    with pytest.raises(VerificationError, match=rf"expected sha256 {wrong}, found {sha256}"):
        zoo.load("tiny_hub_model")
    path = cached_path(manifest["tiny_hub_model"].sources[0], Settings.from_env())
    assert not path.exists() and read_record(path) is None
    assert not any(path.parent.glob(path.name + "*"))
    result = CliRunner().invoke(main, ["download", "tiny_hub_model", "--quiet"])
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_hf_hub_offline_uses_a_warm_hf_cache_and_names_a_cold_one(hub, hub_env, tiny_export, tmp_path, monkeypatch):
    commit, sha256, size = _published(hub, tiny_export)
    _manifest(tmp_path, monkeypatch, hub_source("zoo-tests/tiny", commit, sha256, size))
    reference = outputs(zoo.load("tiny_hub_model"), images())
    hub_env(HF_HUB_OFFLINE="1", DENSENET_ZOO_HOME=str(tmp_path / "another-zoo-cache"))  # ours cold, the HF cache warm
    before = hub.network_requests()
    torch.testing.assert_close(outputs(zoo.load("tiny_hub_model"), images()), reference)
    assert hub.network_requests() == before
    cold = hub_env(HF_HUB_CACHE=str(tmp_path / "cold-hf-cache"), DENSENET_ZOO_HOME=str(tmp_path / "cold-zoo"))
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE=1 and model.safetensors") as raised:
        zoo.load("tiny_hub_model")
    assert cold["HF_HUB_CACHE"] in str(raised.value)
    assert hub.network_requests() == before


def test_densenet_zoo_offline_reads_the_hf_cache_and_nothing_else(hub, hub_env, tiny_export, tmp_path, monkeypatch):
    commit, sha256, size = _published(hub, tiny_export)
    _manifest(tmp_path, monkeypatch, hub_source("zoo-tests/tiny", commit, sha256, size))
    hub_env(DENSENET_ZOO_OFFLINE="1")
    before = hub.network_requests()
    with pytest.raises(OfflineError, match="DENSENET_ZOO_OFFLINE=1 and model.safetensors"):
        zoo.load("tiny_hub_model")
    assert hub.network_requests() == before
    hub_env(DENSENET_ZOO_OFFLINE=None)
    zoo.load("tiny_hub_model")  # fills both caches
    hub_env(DENSENET_ZOO_OFFLINE="1", DENSENET_ZOO_HOME=str(tmp_path / "fresh-zoo"))
    before = hub.network_requests()
    assert zoo.load("tiny_hub_model").pretrained_weights["source_sha256"] == sha256
    assert hub.network_requests() == before


@pytest.mark.parametrize(
    ("repo_id", "revision", "filename", "error", "message"),
    [
        ("zoo-tests/missing", COMMIT, "model.safetensors", HubNotFoundError, "no such model repository"),
        ("zoo-tests/tiny", COMMIT, "model.safetensors", HubNotFoundError, "no such revision"),
        ("zoo-tests/tiny", None, "weights/other.safetensors", HubNotFoundError, "no such file"),
    ],
)
def test_what_the_hub_lacks_is_a_typed_error(
    hub, hub_env, tiny_export, tmp_path, monkeypatch, repo_id, revision, filename, error, message
):
    commit, _, _ = _published(hub, tiny_export)
    _manifest(tmp_path, monkeypatch, hub_source(repo_id, revision or commit, None, filename=filename))
    with pytest.raises(error, match=message):
        zoo.load("tiny_hub_model")


def test_a_gated_repository_needs_a_token(hub, hub_env, tiny_export, tmp_path, monkeypatch):
    commit, sha256, size = _published(hub, tiny_export, repo_id="zoo-tests/gated")
    hub.repos["zoo-tests/gated"].token = "hf_secret"
    _manifest(tmp_path, monkeypatch, hub_source("zoo-tests/gated", commit, sha256, size))
    with pytest.raises(HubAccessError, match="HF_TOKEN"):
        zoo.load("tiny_hub_model")
    hub_env(HF_TOKEN="hf_secret")
    assert zoo.load("tiny_hub_model").pretrained_weights["source_sha256"] == sha256


def test_an_unreachable_endpoint_is_a_hub_error(hub_env, tmp_path, monkeypatch):
    from ports import free_port

    hub_env(HF_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # huggingface_hub backs off for ~23 s before giving up
    _manifest(tmp_path, monkeypatch, hub_source("zoo-tests/tiny", COMMIT, None))
    with pytest.raises(HubError, match="could not get it from http://127.0.0.1.*HF_ENDPOINT"):
        zoo.load("tiny_hub_model")


def test_without_huggingface_hub_the_error_says_what_to_install(hub_env, tmp_path, monkeypatch):
    _manifest(tmp_path, monkeypatch, hub_source("zoo-tests/tiny", COMMIT, None))
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # what `import` sees when it is not installed
    for name in ("tiny_hub_model", "hf-hub:zoo-tests/tiny"):
        with pytest.raises(HubNotInstalledError, match=r"pip install 'densenet-zoo\[hub\]'"):
            zoo.load(name)
    result = CliRunner().invoke(main, ["download", "tiny_hub_model", "--quiet"])
    assert result.exit_code == 1 and "pip install 'densenet-zoo[hub]'" in result.stderr


def test_importing_zoo_and_its_command_imports_neither_torch_nor_huggingface_hub():
    code = (
        "import json, sys, zoo, zoo.cli; a = [m in sys.modules for m in ('torch', 'huggingface_hub')]; "
        "import zoo.registry; print(json.dumps(a + ['huggingface_hub' in sys.modules]))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True).stdout)
    assert loaded == [False, False, False]
