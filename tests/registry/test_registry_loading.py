"""Loading by name end to end: local server -> verified download -> conversion -> cached model."""

import json
import multiprocessing
import os
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch
from registry_checkpoints import fixed_input, lua_checkpoint_bytes, old_torchvision_pth_bytes, sha256
from registry_manifests import TINY_CONFIG, url_source, write_manifest
from registry_server import Fault

import zoo
from zoo.models.densenet import MODEL_CONFIGS
from zoo.registry import (
    OfflineError,
    RegistryError,
    UnpinnedSourceError,
    UnverifiedSourceWarning,
    VerificationError,
    load_pretrained,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lua_bytes(tmp_path_factory):
    return lua_checkpoint_bytes(tmp_path_factory.mktemp("lua"), TINY_CONFIG)


@pytest.fixture
def served_tiny(server, tmp_path, monkeypatch, lua_bytes):
    """A manifest (via DENSENET_ZOO_MANIFEST) whose model "tiny" is served by the local server."""
    url = server.add_file("/tiny.t7", lua_bytes)
    manifest = write_manifest(
        tmp_path / "manifest.json", {"tiny": [url_source(url, "tiny.t7", sha256(lua_bytes), len(lua_bytes))]}
    )
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    return manifest


def home() -> Path:
    return Path(os.environ["DENSENET_ZOO_HOME"])


def reference_output(checkpoint: Path) -> torch.Tensor:
    with torch.no_grad():
        return zoo.load_weights(checkpoint)(fixed_input(TINY_CONFIG))


def test_load_by_name_end_to_end_and_cached(server, served_tiny, lua_bytes, tmp_path):
    model = zoo.load("tiny")
    assert not model.training and model.config == TINY_CONFIG
    digest = sha256(lua_bytes)
    converted = home() / f"tiny-{digest[:8]}.safetensors"
    assert model.pretrained_weights["path"] == str(converted) and converted.is_file()
    assert sorted(path.name for path in home().iterdir()) == sorted(
        ["tiny.t7", "tiny.t7.record.json", converted.name, converted.name + ".record.json"]
    )
    checkpoint = tmp_path / "same.t7"
    checkpoint.write_bytes(lua_bytes)
    with torch.no_grad():
        output = model(fixed_input(TINY_CONFIG))
    assert torch.equal(output, reference_output(checkpoint))
    converted_mtime = converted.stat().st_mtime_ns
    again = zoo.load("tiny")
    assert len(server.gets("/tiny.t7")) == 1
    assert converted.stat().st_mtime_ns == converted_mtime  # converted once
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


def test_a_wrong_byte_is_refused_and_nothing_is_cached(server, tmp_path, monkeypatch, lua_bytes):
    corrupt = bytearray(lua_bytes)
    corrupt[len(corrupt) // 2] ^= 0x10
    url = server.add_file("/tiny.t7", bytes(corrupt))
    manifest = write_manifest(tmp_path / "manifest.json", {"tiny": [url_source(url, "tiny.t7", sha256(lua_bytes))]})
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    with pytest.raises(VerificationError, match="expected sha256"):
        zoo.load("tiny")
    assert list(home().iterdir()) == []


def test_a_dropped_connection_resumes_to_a_verified_model(server, served_tiny, lua_bytes):
    server.add_faults("/tiny.t7", Fault.drop(len(lua_bytes) - 100))
    model = zoo.load("tiny")
    gets = server.gets("/tiny.t7")
    assert len(gets) == 2 and gets[1].headers["range"].startswith("bytes=")
    assert model.pretrained_weights["source_sha256"] == sha256(lua_bytes)


def test_503_then_success_is_retried(server, served_tiny):
    server.add_faults("/tiny.t7", Fault.status(503, retry_after="0"))
    zoo.load("tiny")
    assert len(server.gets("/tiny.t7")) == 2


def test_offline_mode_and_a_mirror_directory(server, served_tiny, lua_bytes, tmp_path, monkeypatch):
    monkeypatch.setenv("DENSENET_ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError, match=str(home() / "tiny.t7")):
        zoo.load("tiny")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.t7").write_bytes(lua_bytes)
    monkeypatch.setenv("DENSENET_ZOO_MIRROR", str(mirror))
    model = zoo.load("tiny")
    assert server.requests == []
    assert str(mirror / "tiny.t7") in json.loads((home() / "tiny.t7.record.json").read_text())["origin"]
    # The converted weights suffice later, even when the source file is gone.
    (home() / "tiny.t7").unlink()
    monkeypatch.delenv("DENSENET_ZOO_MIRROR")
    assert torch.equal(zoo.load("tiny").classifier.weight, model.classifier.weight)


def test_a_checkpoint_of_another_architecture_is_refused(server, tmp_path, monkeypatch):
    other = TINY_CONFIG.replace(growth_rate=6)
    content = lua_checkpoint_bytes(tmp_path, other)
    url = server.add_file("/tiny.t7", content)
    manifest = write_manifest(tmp_path / "manifest.json", {"tiny": [url_source(url, "tiny.t7", sha256(content))]})
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    with pytest.raises(VerificationError, match="not the published tiny"):
        zoo.load("tiny")
    assert not list(home().glob("*.safetensors"))


def test_trust_on_first_use_and_strict_mode(server, tmp_path, monkeypatch, lua_bytes):
    url = server.add_file("/tiny.t7", lua_bytes)
    manifest = write_manifest(tmp_path / "manifest.json", {"tiny": [url_source(url, "tiny.t7", None)]})
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    monkeypatch.setenv("DENSENET_ZOO_STRICT", "1")
    with pytest.raises(UnpinnedSourceError):
        zoo.load("tiny")
    assert server.requests == []
    monkeypatch.delenv("DENSENET_ZOO_STRICT")
    with pytest.warns(UnverifiedSourceWarning, match="trusting it on first use"):
        model = zoo.load("tiny")
    assert model.pretrained_weights["source_trust"] == "first-use"
    # Strict mode also refuses the cached, merely first-use-trusted copy.
    monkeypatch.setenv("DENSENET_ZOO_STRICT", "1")
    with pytest.raises(UnpinnedSourceError):
        zoo.load("tiny")


def test_config_overrides_for_fine_tuning(served_tiny):
    published = zoo.load("tiny")
    tuned = load_pretrained("tiny", config=TINY_CONFIG.replace(num_classes=3, drop_rate=0.1))
    assert tuned.classifier.out_features == 3 and tuned.config.drop_rate == 0.1
    assert torch.equal(tuned.features.conv0.weight, published.features.conv0.weight)
    with pytest.raises(RegistryError, match="growth_rate=4.*growth_rate=8"):
        load_pretrained("tiny", config=TINY_CONFIG.replace(growth_rate=8))


def test_load_weights_reads_t7_safetensors_and_old_torchvision_pth(tmp_path, lua_bytes):
    checkpoint = tmp_path / "m.t7"
    checkpoint.write_bytes(lua_bytes)
    from_t7 = zoo.load_weights(checkpoint)
    from converters.export import save_weights

    save_weights(from_t7.state_dict(), from_t7.config, tmp_path / "m.safetensors")
    from_safetensors = zoo.load_weights(tmp_path / "m.safetensors")
    assert not from_safetensors.training and from_safetensors.config == TINY_CONFIG
    for key, value in from_t7.state_dict().items():
        assert torch.equal(value, from_safetensors.state_dict()[key])
    content, state_dict = old_torchvision_pth_bytes(tmp_path, TINY_CONFIG)
    (tmp_path / "tv.pth").write_bytes(content)
    assert any(".norm.1." in key for key in torch.load(tmp_path / "tv.pth", weights_only=True))
    from_pth = zoo.load_weights(tmp_path / "tv.pth")
    assert from_pth.config == TINY_CONFIG
    for key, value in state_dict.items():
        assert torch.equal(from_pth.state_dict()[key], value), key


def test_load_weights_builds_without_random_init_yet_every_tensor_comes_from_the_file(tmp_path):
    from converters.export import save_weights
    from zoo.models.densenet import DenseNet

    torch.manual_seed(0)
    source = DenseNet(TINY_CONFIG).eval()
    save_weights(source.state_dict(), TINY_CONFIG, tmp_path / "full.safetensors")
    loaded = zoo.load_weights(tmp_path / "full.safetensors")
    for key, value in source.state_dict().items():
        assert loaded.state_dict()[key].device.type == "cpu" and torch.equal(loaded.state_dict()[key], value), key
    with torch.no_grad():
        assert torch.equal(loaded(fixed_input(TINY_CONFIG)), source(fixed_input(TINY_CONFIG)))
    partial = {key: value for key, value in source.state_dict().items() if key != "features.norm5.running_var"}
    save_weights(partial, TINY_CONFIG, tmp_path / "partial.safetensors")
    with pytest.raises(VerificationError, match=r"missing 1 keys.*features\.norm5\.running_var"):
        zoo.load_weights(tmp_path / "partial.safetensors")


def test_create_model_pretrained_and_torch_hub_use_a_torchvision_source(server, tmp_path, monkeypatch):
    config = MODEL_CONFIGS["densenet121"]
    content, state_dict = old_torchvision_pth_bytes(tmp_path, config)
    digest = sha256(content)
    filename = f"densenet121-{digest[:8]}.pth"
    url = server.add_file("/" + filename, content)
    source = url_source(url, filename, digest[:8], file_format="torchvision-pth")
    manifest = write_manifest(tmp_path / "manifest.json", {"densenet121": [source]}, "densenet121")
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    monkeypatch.setenv("DENSENET_ZOO_STRICT", "1")  # a published prefix is enough
    model = zoo.create_model("densenet121", pretrained=True)
    assert not model.training
    assert torch.equal(
        model.features.denseblock1.denselayer1.norm1.running_var,
        state_dict["features.denseblock1.denselayer1.norm1.running_var"],
    )
    hub_model = torch.hub.load(str(ROOT), "densenet121", source="local")
    assert torch.equal(hub_model.classifier.weight, state_dict["classifier.weight"])
    assert len(server.gets("/" + filename)) == 1


def _load_in_process(manifest_path, home_dir, queue):
    os.environ["DENSENET_ZOO_MANIFEST"] = str(manifest_path)
    os.environ["DENSENET_ZOO_HOME"] = str(home_dir)
    import torch as torch_in_child
    from registry_checkpoints import fixed_input as child_input
    from registry_manifests import TINY_CONFIG as child_config

    import zoo as zoo_in_child

    torch_in_child.set_num_threads(1)
    queue.put("ready")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = zoo_in_child.load("tiny")
    with torch_in_child.no_grad():
        queue.put(model(child_input(child_config)).tolist())


def test_four_processes_load_the_same_model_with_one_download(server, served_tiny, lua_bytes, tmp_path):
    all_ready = threading.Event()
    server.add_faults("/tiny.t7", Fault.hold_until(all_ready))  # the winner downloads while the others wait
    # Fresh processes like spawn's, forked from a server that imported torch once (4 torch imports take long on CI).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["torch", "zoo.registry", "converters.densenet", "registry_checkpoints", "registry_manifests"]
    )
    queue = context.Queue()
    workers = [context.Process(target=_load_in_process, args=(served_tiny, home(), queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    assert [queue.get(timeout=120) for _ in workers] == ["ready"] * 4
    time.sleep(0.5)  # all four are now inside zoo.load: one holds the lock, three wait on it
    all_ready.set()
    outputs = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    checkpoint = tmp_path / "same.t7"
    checkpoint.write_bytes(lua_bytes)
    expected = reference_output(checkpoint)
    for output in outputs:
        assert torch.equal(torch.tensor(output), expected)
    assert len(server.gets("/tiny.t7")) == 1  # exactly one download
    assert len(list(home().glob("tiny-*.safetensors"))) == 1
