"""weights_manifest.json: the bundled file, its packaged copy, validation errors and pinning."""

import json
import uuid
from pathlib import Path

import pytest

import zoo
from zoo.models.densenet import MODEL_CONFIGS
from zoo.registry import register_architecture
from zoo.registry.errors import ManifestError, UnknownModelError
from zoo.registry.manifest import BUNDLED_MANIFEST, load_manifest, parse_manifest, pin_source

ROOT = Path(__file__).resolve().parents[2]


def bundled_raw():
    return json.loads((ROOT / "weights_manifest.json").read_text())


def test_the_bundled_manifest_lists_the_eight_models_with_their_architectures():
    manifest = load_manifest(BUNDLED_MANIFEST)
    assert manifest.names()[:8] == manifest.by_family()["densenet"] == list(MODEL_CONFIGS)
    for name in MODEL_CONFIGS:
        entry = manifest[name]
        assert entry.architecture == name and entry.config == MODEL_CONFIGS[name] and entry.family == "densenet"
        assert entry.error_source == "DenseNet README table, 224x224 1-crop"
        assert entry.sources[0].type == "google_drive" and entry.sources[0].format == "t7"
    assert manifest["densenet264_k48_cosine"].top1_error == 20.4
    assert manifest["densenet264_k48_cosine"].sources[0].resourcekey == "0-uAyd9bsTas2twCzAZ1DUpA"
    torchvision = manifest["densenet161"].sources[1]
    assert torchvision.url == "https://download.pytorch.org/models/densenet161-8d451a50.pth"
    assert torchvision.sha256 == "8d451a50" and torchvision.format == "torchvision-pth"
    assert len(manifest["densenet264"].sources) == 1


def test_the_packaged_copy_is_the_root_file():
    packaged = Path(zoo.__file__).resolve().parent / "weights_manifest.json"
    assert packaged.read_bytes() == (ROOT / "weights_manifest.json").read_bytes()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"*.json"' in pyproject  # package-data ships zoo/weights_manifest.json in wheels


def test_the_override_variable_replaces_the_bundled_manifest(tmp_path, monkeypatch):
    override = tmp_path / "m.json"
    raw = bundled_raw()
    raw["models"] = {"densenet121": raw["models"]["densenet121"]}
    override.write_text(json.dumps(raw))
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(override))
    assert load_manifest().names() == ["densenet121"]
    with pytest.raises(UnknownModelError, match="unknown model 'densenet264'.*known models: densenet121"):
        load_manifest()["densenet264"]
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(tmp_path / "missing.json"))
    with pytest.raises(ManifestError, match="does not exist.*DENSENET_ZOO_MANIFEST"):
        load_manifest()


def test_a_custom_manifest_names_an_architecture_the_code_defines(tmp_path, monkeypatch):
    architecture = f"mine_{uuid.uuid4().hex[:8]}"  # registrations last for the process: a name no other test uses
    raw = bundled_raw()
    raw["models"] = {"mine": {**raw["models"]["densenet121"], "architecture": architecture}}
    override = tmp_path / "m.json"
    override.write_text(json.dumps(raw))
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(override))
    with pytest.raises(
        ManifestError, match=f"models.mine.architecture: '{architecture}' is not an architecture.*register_architecture"
    ):
        load_manifest()
    config = MODEL_CONFIGS["densenet121"].replace(num_classes=10)
    register_architecture(architecture, config)
    register_architecture(architecture, config)  # the same again changes nothing
    entry = load_manifest()["mine"]
    assert (entry.architecture, entry.config) == (architecture, config)
    with pytest.raises(ValueError, match=f"architecture '{architecture}' is already"):
        register_architecture(architecture, config.replace(num_classes=11))
    with pytest.raises(ValueError, match="architecture 'densenet121' is already"):
        register_architecture("densenet121", config)
    with pytest.raises(ValueError, match="architecture names are"):
        register_architecture("Mine", config)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda raw: raw.update(schema_version=1),
            r"expected schema_version 3 \(or 2\), found 1.*regenerate the manifest",
        ),
        (lambda raw: raw["models"]["densenet121"].update(extra=1), r"models.densenet121: unknown keys \['extra'\]"),
        (
            lambda raw: raw["models"]["densenet121"]["sources"][0].update(sha256="XYZ"),
            "sha256: expected null or 8 to 64",
        ),
        (lambda raw: raw["models"]["densenet121"]["sources"][0].update(size=-1), "size: expected null or a positive"),
        (lambda raw: raw["models"]["densenet121"]["sources"][0].update(format="zip"), "format: expected one of"),
        (lambda raw: raw["models"]["densenet121"]["sources"][0].update(filename="../x.t7"), "plain file name"),
        (lambda raw: raw["models"]["densenet121"]["sources"][1].update(url="ftp://x"), "http"),
        (
            lambda raw: raw["models"]["densenet121"].update(architecture="densenet161"),
            "published model densenet121 has the architecture 'densenet121', not 'densenet161'",
        ),
        (lambda raw: raw["models"]["densenet169"]["sources"][0].update(filename="densenet-121.t7"), "already used by"),
        (lambda raw: raw["models"].pop("densenet232"), "missing published models"),
        (lambda raw: raw["models"]["densenet121"]["published"].update(top1_error="low"), "expected a percentage"),
    ],
)
def test_validation_errors_say_what_and_where(change, message):
    raw = bundled_raw()
    change(raw)
    with pytest.raises(ManifestError, match=message):
        parse_manifest(raw, path=Path("weights_manifest.json"), require_published=True)


def test_several_problems_are_reported_at_once():
    raw = bundled_raw()
    raw["models"]["densenet121"]["sources"][0]["sha256"] = "nope"
    raw["models"]["densenet169"]["sources"][0]["size"] = 0
    with pytest.raises(ManifestError) as raised:
        parse_manifest(raw)
    assert "densenet121.sources[0].sha256" in str(raised.value) and "densenet169.sources[0].size" in str(raised.value)


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"schema_version": 1,\n "models": {,}}')
    with pytest.raises(ManifestError, match="not valid JSON.*line 2"):
        load_manifest(path)


def test_pin_writes_hash_and_size_atomically_through_a_symlink(tmp_path):
    real = tmp_path / "weights_manifest.json"
    real.write_text((ROOT / "weights_manifest.json").read_text())
    link = tmp_path / "package" / "weights_manifest.json"
    link.parent.mkdir()
    link.symlink_to(real)
    digest = "ab" * 32
    pin_source(link, "densenet264", "densenet_264_k32.t7", digest, 123)
    assert link.is_symlink()
    source = load_manifest(real)["densenet264"].sources[0]
    assert (source.sha256, source.size) == (digest, 123)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["package", "weights_manifest.json"]


def test_pin_refuses_to_contradict_a_published_prefix(tmp_path):
    path = tmp_path / "m.json"
    path.write_text((ROOT / "weights_manifest.json").read_text())
    with pytest.raises(ManifestError, match="refusing to overwrite"):
        pin_source(path, "densenet121", "densenet121-a639ec97.pth", "ff" * 32, 10)
    pin_source(path, "densenet121", "densenet121-a639ec97.pth", "a639ec97" + "0" * 56, 10)
    assert load_manifest(path)["densenet121"].sources[1].sha256.startswith("a639ec97")


@pytest.mark.parametrize(
    "config",
    [
        MODEL_CONFIGS["densenet121"],
        MODEL_CONFIGS["densenet161"].replace(num_classes=7),
        zoo.DenseNetConfig(stem="cifar", growth_rate=12, block_config=(4, 4, 4), num_init_features=24, num_classes=10),
        zoo.CIFAR_CONFIGS["densenet_l40_k12"].replace(num_classes=100),
    ],
)
def test_parameter_counts_of_list_match_a_built_model(config):
    from zoo.registry.maintenance import count_parameters
    from zoo.registry.manifest import ModelEntry

    built = sum(parameter.numel() for parameter in zoo.DenseNet(config).parameters())
    assert count_parameters(ModelEntry("x", config, ())) == built


# Issue 9, item 8: a hostile manifest (DENSENET_ZOO_MANIFEST) must not reach a path, URL or header unchecked.


def _source(raw, **changes):
    raw["models"]["densenet121"]["sources"][1].update(changes)
    return raw


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda raw: raw["models"].update({"densenet121\n": raw["models"].pop("densenet121")}), "model names are"),
        (lambda raw: raw["models"].update({"a" * 65: raw["models"].pop("densenet121")}), "model names are"),
        (lambda raw: raw["models"].update({"Dense": raw["models"].pop("densenet121")}), "model names are"),
        (lambda raw: _source(raw, filename="densenet121.pth\n"), "plain file name"),
        (lambda raw: _source(raw, filename=".hidden.pth"), "plain file name"),
        (lambda raw: _source(raw, filename="a/b.pth"), "plain file name"),
        (lambda raw: _source(raw, filename="a\\b.pth"), "plain file name"),
        (lambda raw: _source(raw, filename="x" * 129), "plain file name"),
        (lambda raw: _source(raw, filename="tiny.t7.record.json"), "the cache uses such names"),
        (lambda raw: _source(raw, filename="tiny.t7.lock"), "the cache uses such names"),
        (lambda raw: _source(raw, filename="tiny.t7.lock.break"), "the cache uses such names"),
        (lambda raw: _source(raw, filename="tiny.t7.part"), "the cache uses such names"),
        (lambda raw: _source(raw, filename="tiny.t7.part.json"), "the cache uses such names"),
        (lambda raw: _source(raw, filename="densenet121-a639ec97.safetensors"), "the cache uses such names"),
        (lambda raw: _source(raw, sha256="a639ec97\n"), "sha256: expected null or 8 to 64"),
        (lambda raw: _source(raw, sha256="A639EC97"), "sha256: expected null or 8 to 64"),
        (lambda raw: _source(raw, sha256="a" * 65), "sha256: expected null or 8 to 64"),
        (lambda raw: _source(raw, size=0), "size: expected null or a positive"),
        (lambda raw: _source(raw, size=True), "size: expected null or a positive"),
        (lambda raw: _source(raw, size=1.5), "size: expected null or a positive"),
        (lambda raw: _source(raw, size=1 << 40), "size: expected null or a positive"),
        (lambda raw: _source(raw, url="file:///etc/passwd"), "'file' URL, not http"),
        (lambda raw: _source(raw, url="https://example.org/a b"), "spaces or control characters"),
        (lambda raw: _source(raw, url="https://example.org/x\n"), "spaces or control characters"),
        (lambda raw: _source(raw, url="https:///x.pth"), "has no host"),
        (lambda raw: _source(raw, url="https://example.org:99999/x"), "malformed"),
        (lambda raw: _source(raw, url="https://example.org/" + "x" * 9000), "longer than"),
        (lambda raw: _source(raw, url=["https://example.org/x"]), "expected an http"),
        (lambda raw: raw["models"]["densenet121"]["sources"][0].update(file_id="../../x"), "file_id"),
        (lambda raw: raw["models"]["densenet121"]["sources"][0].update(file_id="a\r\nX-Evil: 1"), "file_id"),
        (lambda raw: raw["models"]["densenet121"]["sources"][0].update(resourcekey="k&id=other"), "resourcekey"),
        (lambda raw: raw["models"]["densenet121"].update(title=["x"]), "title: expected a text"),
        (lambda raw: raw["models"]["densenet121"].update(title="x" * 5000), "title: expected a text"),
        (lambda raw: raw["models"]["densenet121"].update(title="\x1b]0;owned\x07"), "no control characters"),
        (lambda raw: raw["models"]["densenet121"]["published"].update(source="a\rb"), "no control characters"),
        (lambda raw: raw["models"]["densenet121"]["published"].update(top1_error=True), "expected a percentage"),
        (lambda raw: raw["models"]["densenet121"]["published"].update(size_mb=float("inf")), "positive number"),
        (lambda raw: raw["models"]["densenet121"].update(architecture=["densenet121"]), "architecture: \\['densenet"),
        (lambda raw: raw["models"]["densenet121"].update(architecture="densenet121\n"), "architecture: 'densenet121"),
        (lambda raw: raw["models"]["densenet121"].update(config={"growth_rate": 32}), r"unknown keys \['config'\]"),
        (lambda raw: raw.update(schema_version=True), r"expected schema_version 3 \(or 2\), found True"),
        (lambda raw: raw.update(description={"a": 1}), "description: expected a text"),
    ],
)
def test_hostile_manifest_values_are_refused(change, message):
    raw = bundled_raw()
    change(raw)
    with pytest.raises(ManifestError, match=message):
        parse_manifest(raw, path=Path("m.json"))


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"schema_version": NaN, "models": {}}', "NaN is not a number JSON allows"),
        ('{"schema_version": 1, "models": {"a": {"published": {"size_mb": Infinity}}}}', "Infinity"),
        ('{"schema_version": 1e400, "models": {}}', "too large"),
        ('{"schema_version": ' + "9" * 5000 + "}", "not valid JSON"),  # int() digit limit: ValueError
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # RecursionError
    ],
)
def test_unreadable_json_numbers_and_nesting_are_manifest_errors(tmp_path, text, message):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)


def test_a_manifest_that_is_no_regular_small_utf8_file_is_refused(tmp_path):
    with pytest.raises(ManifestError, match="not a regular file"):
        load_manifest("/dev/zero")  # read_text() never returned
    with pytest.raises(ManifestError, match="Is a directory"):
        load_manifest(tmp_path)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as stream:
        stream.truncate(17 << 20)
    with pytest.raises(ManifestError, match="not a regular file of at most"):
        load_manifest(huge)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"schema_version": 1, "description": "caf\xe9"}')
    with pytest.raises(ManifestError, match="cannot be read"):
        load_manifest(latin)


def test_an_unknown_name_lists_a_bounded_number_of_models():
    raw = bundled_raw()
    model = raw["models"]["densenet121"]
    source = model["sources"][1]
    raw["models"] = {f"m{i}": {**model, "sources": [{**source, "filename": f"m{i}.pth"}]} for i in range(100)}
    with pytest.raises(UnknownModelError, match=r"known models: m0, m1, .*m19, \.\.\.$"):
        parse_manifest(raw)["densenet121"]
