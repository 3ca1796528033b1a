"""The registry's ResNet, OpenFace and fast-neural-style entries: each served from a file built with its published
architecture, loaded through ``zoo.load``, equal to the independent interpreter (or, for the big nets, checked by
structure); files of another architecture refused."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings

import pytest
import torch
from convert.lua_reference import lua_forward, relative_error
from registry_families import local_manifest, network_of, published_tree, saved, without_gradients

import zoo
from converters.translate import translate
from zoo.registry import (
    ManifestError,
    RegistryError,
    UnverifiedSourceWarning,
    VerificationError,
    ensure_converted,
    load_manifest,
)
from zoo.registry.cache import read_record, record_path
from zoo.registry.families import FAMILIES, MODULE_ARCHITECTURES, Fingerprint
from zoo.registry.manifest import BUNDLED_MANIFEST

FLOAT32_TOLERANCE = 1e-5
#: name -> input side for the forward parity (ResNets are built for it: their last pooling fits it)
PARITY = {"resnet18": 32, "resnet50": 32, "nn4.small2.v1": 96, "instance_norm_candy": 48}
BUNDLED = load_manifest(BUNDLED_MANIFEST)
OTHER_FAMILIES = [name for name in BUNDLED.names() if BUNDLED[name].family != "densenet"]
#: entries not in PARITY: loaded from a mirror directory with cheap weights and checked by structure
STRUCTURE = [name for name in OTHER_FAMILIES if name not in PARITY]


@pytest.mark.parametrize("architecture", MODULE_ARCHITECTURES)
def test_fingerprints_are_those_of_the_published_definitions(architecture: str) -> None:
    published = MODULE_ARCHITECTURES[architecture]
    translation = translate(network_of(published_tree(architecture, weights="zeros", image_size=224)))
    assert Fingerprint.of(translation.module) == published.fingerprint
    assert translation.report.num_parameters == published.num_parameters


def test_the_bundled_entries_name_family_architecture_and_published_facts() -> None:
    by_family = BUNDLED.by_family()
    assert list(by_family) == list(FAMILIES)
    assert by_family["resnet"] == [f"resnet{depth}" for depth in (18, 34, 50, 101, 152, 200)]
    errors = {name: (BUNDLED[name].top1_error, BUNDLED[name].top5_error) for name in by_family["resnet"]}
    assert errors["resnet18"] == (30.43, 10.76) and errors["resnet200"] == (21.66, 5.79)
    for name in by_family["resnet"]:
        cloudfront, s3 = BUNDLED[name].sources
        depth = name[len("resnet") :]
        assert cloudfront.url == f"https://d2j0dndfm35trm.cloudfront.net/resnet-{depth}.t7"
        assert s3.filename == cloudfront.filename == f"resnet-{depth}.t7" and "amazonaws.com/" in s3.url
    openface = BUNDLED["nn4.small2.v1"].sources[0]
    assert (openface.digest.algorithm, openface.digest.value) == ("md5", "c95bfd8cc1adf05210e979ff623013b6")
    assert len(by_family["fast-neural-style"]) == 10
    for name in OTHER_FAMILIES:
        entry = BUNDLED[name]
        assert entry.module_architecture.family == entry.family and entry.config is None
        assert all(source.format == "t7" and source.sha256 is None for source in entry.sources)
    assert all(BUNDLED[name].sources[0].digest.algorithm == "sha1" for name in by_family["fast-neural-style"])


@pytest.mark.parametrize("name", PARITY)
def test_load_serves_the_published_network_with_interpreter_parity(name, server, tmp_path, monkeypatch) -> None:
    entry = BUNDLED[name]
    size = PARITY[name]
    tree = published_tree(entry.architecture, image_size=size, seed=7)
    content = saved(tree, tmp_path / "built.t7").read_bytes()
    filename = entry.sources[0].filename
    url = server.add_file(f"/files/{filename}", content)
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(local_manifest(tmp_path / "m.json", {name: (url, content)})))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = zoo.load(name)
    first_use = [warning for warning in caught if issubclass(warning.category, UnverifiedSourceWarning)]
    assert len(first_use) == (0 if entry.sources[0].digest else 1)  # a publisher's md5/sha1 is no first use
    assert not model.training and next(model.parameters()).dtype == torch.float32
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    images = images * 255 - 120 if entry.family == "fast-neural-style" else images
    expected = lua_forward(network_of(tree), images)
    with torch.no_grad():
        actual = model(images.float())
    assert actual.shape == expected.shape and relative_error(actual, expected) <= FLOAT32_TOLERANCE
    provenance = model.pretrained_weights
    assert provenance["source"] == filename and provenance["source_trust"] in ("first-use", "published-digest")
    assert read_record(tmp_path / "home" / filename).sha256 == provenance["source_sha256"]
    assert len(server.gets(f"/files/{filename}")) == 1
    zoo.load(name)  # the verified .t7 is the cache: no second download
    assert len(server.gets(f"/files/{filename}")) == 1


@pytest.mark.parametrize("name", STRUCTURE)
def test_load_of_every_other_entry_from_a_mirror_has_the_published_structure(name, tmp_path, monkeypatch) -> None:
    entry = BUNDLED[name]
    published = entry.module_architecture
    tree = published_tree(entry.architecture, weights="zeros", image_size=224 if entry.family == "resnet" else 64)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    content = saved(without_gradients(tree), mirror / entry.sources[0].filename).read_bytes()
    manifest = local_manifest(tmp_path / "m.json", {name: ("http://127.0.0.1:9/unreachable.t7", content)})
    del content
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    monkeypatch.setenv("DENSENET_ZOO_MIRROR", str(mirror))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnverifiedSourceWarning)
            model = zoo.load(name)
        assert not model.training and model.pretrained_weights["family"] == entry.family
        assert sum(parameter.numel() for parameter in model.parameters()) == published.num_parameters
        assert Fingerprint.of(model) == published.fingerprint
    finally:  # the big ResNets' files take hundreds of megabytes
        shutil.rmtree(tmp_path, ignore_errors=True)


def _serve(server, tmp_path, monkeypatch, name: str, tree) -> tuple:
    content = saved(tree, tmp_path / "built.t7").read_bytes()
    url = server.add_file("/" + BUNDLED[name].sources[0].filename, content)
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(local_manifest(tmp_path / "m.json", {name: (url, content)})))
    return tmp_path / "home" / BUNDLED[name].sources[0].filename


def test_a_file_of_another_architecture_is_refused_and_not_kept(server, tmp_path, monkeypatch) -> None:
    cached = _serve(server, tmp_path, monkeypatch, "resnet34", published_tree("fb_resnet18", weights="zeros"))
    with pytest.warns(UnverifiedSourceWarning), pytest.raises(VerificationError) as refused:
        zoo.load("resnet34")
    message = str(refused.value)
    assert "is not the published resnet34" in message and "41 weight tensors" in message and "73 weight" in message
    assert not cached.exists() and not record_path(cached).exists()  # only trusted on first use: not kept


def test_a_style_file_that_is_not_a_checkpoint_table_is_refused(server, tmp_path, monkeypatch) -> None:
    network = network_of(published_tree("fast_neural_style_instance_norm", weights="zeros"))
    cached = _serve(server, tmp_path, monkeypatch, "instance_norm_udnie", network)
    with pytest.raises(VerificationError, match="a table whose field 'model' holds the network, found T7Object"):
        zoo.load("instance_norm_udnie")
    assert record_path(cached).exists()  # its sha1 matched: the publisher's file, kept (but refused)


def test_a_file_that_is_not_torch7_is_refused(server, tmp_path, monkeypatch) -> None:
    content = b"not a Torch7 file, " * 8
    url = server.add_file("/resnet-18.t7", content)
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(local_manifest(tmp_path / "m.json", {"resnet18": (url, content)})))
    with pytest.warns(UnverifiedSourceWarning), pytest.raises(VerificationError, match="does not convert to resnet18"):
        zoo.load("resnet18")


def test_densenet_only_apis_name_zoo_load_for_the_other_families() -> None:
    with pytest.raises(RegistryError, match=r"not a DenseNet.*zoo.load\('resnet50'\)"):
        zoo.create_model("resnet50")
    with pytest.raises(RegistryError, match=r"OpenFace.*not a DenseNet"):
        ensure_converted("nn4.small2.v1")
    with pytest.raises(KeyError, match="unknown model 'resnet51'"):
        zoo.create_model("resnet51")
    assert zoo.list_models()[:8] == zoo.list_models("densenet") == list(zoo.MODEL_CONFIGS)
    assert zoo.list_models("openface") == ["nn4.small2.v1"] and zoo.list_models()[8] == "resnet18"


def test_the_commands_cover_the_other_families(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from zoo.cli import main

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    content = saved(published_tree("openface_nn4_small2", weights="zeros"), mirror / "nn4.small2.v1.t7").read_bytes()
    manifest = local_manifest(tmp_path / "m.json", {"nn4.small2.v1": ("http://127.0.0.1:9/x.t7", content)})
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))

    def run(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    downloaded = run("download", "nn4.small2.v1", "--mirror", str(mirror))
    assert (
        downloaded.exit_code == 0 and downloaded.output == f"nn4.small2.v1: {tmp_path / 'home' / 'nn4.small2.v1.t7'}\n"
    )
    listed = run("list").output.splitlines()
    assert listed[0] == FAMILIES["openface"].title and listed[2].split()[-1] == "nn4.small2.v1.t7"
    info = run("info", "nn4.small2.v1").output
    md5 = hashlib.md5(content).hexdigest()
    assert f"md5 {md5} (published in cmusatyalab/openface models/get-models.sh" in info
    assert "96x96 RGB -> a 128-d unit-length face embedding" in info and "top-1" not in info
    verified = run("verify", "nn4.small2.v1")
    assert (
        verified.exit_code == 0 and verified.output.startswith("OK ") and "trust: published-digest" in verified.output
    )


def test_a_registered_module_architecture_is_served_like_the_published_ones(tmp_path, monkeypatch) -> None:
    from converters.synthetic.style_transfer import style_transfer_checkpoint
    from zoo.registry import ModuleArchitecture, register_architecture

    tree = style_transfer_checkpoint("c9s1-8,d16,R16,u8,c9s1-3", image_size=32, batch_size=1, iterations=2)
    skeleton = translate(tree["model"])
    mine = ModuleArchitecture(
        name="my_small_style",
        family="fast-neural-style",
        definition="fast-neural-style -arch c9s1-8,d16,R16,u8,c9s1-3",
        num_parameters=skeleton.report.num_parameters,
        fingerprint=Fingerprint.of(skeleton.module),
        input_size=None,
        output="a stylised image",
    )
    with pytest.raises(ValueError, match="under its own name"):
        register_architecture("other_name", mine)
    register_architecture("my_small_style", mine)
    register_architecture("my_small_style", mine)  # again, the same: nothing happens
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    saved(tree, mirror / "mine.t7")
    source = {"type": "url", "url": "http://127.0.0.1:9/mine.t7", "filename": "mine.t7", "format": "t7"}
    entry = {"family": "fast-neural-style", "architecture": "my_small_style", "sources": [source]}
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"schema_version": 3, "models": {"mine": entry}}))
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    monkeypatch.setenv("DENSENET_ZOO_MIRROR", str(mirror))
    with pytest.warns(UnverifiedSourceWarning):
        model = zoo.load("mine")
    assert Fingerprint.of(model) == mine.fingerprint and zoo.list_models("fast-neural-style") == ["mine"]
    entry["family"] = "resnet"
    manifest.write_text(json.dumps({"schema_version": 3, "models": {"mine": entry}}))
    with pytest.raises(ManifestError, match="belongs to the family 'fast-neural-style', not 'resnet'"):
        load_manifest()
