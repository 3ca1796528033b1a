"""densenet-zoo list / info / download / verify / manifest pin / demo."""

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from registry_checkpoints import lua_checkpoint_bytes, sha256
from registry_manifests import TINY_CONFIG, url_source, write_manifest

import zoo
from zoo.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def tiny(server, tmp_path, monkeypatch):
    content = lua_checkpoint_bytes(tmp_path, TINY_CONFIG)
    url = server.add_file("/tiny.t7", content)
    manifest = write_manifest(tmp_path / "manifest.json", {"tiny": [url_source(url, "tiny.t7", None)]})
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    return manifest, content


def home():
    return Path(os.environ["DENSENET_ZOO_HOME"])


def test_list_shows_the_published_models_by_family():
    result = run("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "DenseNet (liuzhuang13/DenseNet)"
    assert lines[1].split() == ["name", "params", "top-1", "err", "top-5", "err", "size", "cached"]
    assert lines[2].split() == ["densenet121", "8.0M", "25.00%", "-", "64.5", "MB", "no"]
    assert lines[9].split()[:3] == ["densenet264_k48_cosine", "72.7M", "20.40%"]
    assert lines[10:13] == ["", "ResNet (facebookarchive/fb.resnet.torch)", lines[1]]
    assert lines[15].split() == ["resnet50", "25.6M", "24.01%", "7.02%", "-", "no"]
    titles = [line for line in lines if line and not line.startswith(" ")]
    assert titles[2:4] == [
        "OpenFace face embedder (cmusatyalab/openface)",
        "fast-neural-style (jcjohnson/fast-neural-style)",
    ]
    assert titles[4].startswith("CIFAR DenseNets of the published tables") and len(titles) == 5
    rows = json.loads(run("list", "--json").output)
    assert [row["name"] for row in rows][7:9] == ["densenet264_k48_cosine", "resnet18"]
    assert [row["family"] for row in rows].count("fast-neural-style") == 10


def test_list_shows_the_cifar_architectures_apart_with_their_parameter_counts():
    lines = run("list").output.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("CIFAR DenseNets"))
    assert lines[start - 1] == "" and "no pretrained weights" in lines[start]
    cifar = [line.split() for line in lines[start + 2 :]]
    assert [row[0] for row in cifar] == zoo.list_models("cifar")
    assert cifar[0] == ["densenet_l40_k12", "DenseNet", "(L=40,", "k=12)", "16", "1,019,722", "1,060,132"]
    assert cifar[3][-3:] == ["24", "769,162", "800,032"]


def test_info_names_sources_and_cache_paths():
    result = run("info", "densenet232")
    assert result.exit_code == 0
    assert "0By1NwtA2JPGzdkRDaWQ5M3VHTDg" in result.output and "0-yl4XWJ2J6GZaF6RPj43QHQ" in result.output
    assert "21.2% (DenseNet README table, 224x224 1-crop)" in result.output
    assert str(home() / "densenet_232_k48.t7") in result.output
    assert json.loads(run("info", "densenet232", "--json").output)["num_params"] > 50_000_000


def test_unknown_names_are_a_clean_error():
    result = run("info", "densenet999")
    assert result.exit_code == 1 and result.stderr.startswith("error: unknown model 'densenet999'")
    assert "Traceback" not in result.output


def test_info_of_a_model_without_published_numbers(tmp_path, monkeypatch):
    manifest = write_manifest(
        tmp_path / "manifest.json", {"tiny": [url_source("http://127.0.0.1:9/t.t7", "t.t7", None)]}
    )
    raw = json.loads(manifest.read_text())
    raw["models"]["tiny"]["published"] = {"top1_error": None}
    manifest.write_text(json.dumps(raw))
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    result = run("info", "tiny")
    assert result.exit_code == 0, result.output
    assert "  top-1 error    not published\n" in result.output and "None" not in result.output


def test_download_warns_on_first_use_then_list_and_verify(tiny):
    result = CliRunner().invoke(main, ["download", "tiny", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "WARNING:" in result.stderr and "no published sha256" in result.stderr
    assert run("list").output.splitlines()[2].split()[-1] == "converted"
    verified = run("verify")
    assert verified.exit_code == 0 and verified.output.count("OK ") == 2
    converted = next(home().glob("tiny-*.safetensors"))
    raw = bytearray(converted.read_bytes())
    raw[-1] ^= 0xFF
    converted.write_bytes(bytes(raw))
    failed = run("verify", "tiny")
    assert failed.exit_code == 1 and "FAIL" in failed.output and "1 of 2 cached files failed" in failed.output


def test_download_looks_every_name_up_before_fetching_any(tiny, server):
    typo = run("download", "tiny", "densenet999")
    assert typo.exit_code == 1 and "unknown model 'densenet999'" in typo.output
    assert server.requests == [] and not list(home().glob("tiny*"))
    result = run("download", "tiny")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"tiny: {next(home().glob('tiny-*.safetensors'))}"


def test_download_from_a_mirror_directory(tiny, tmp_path, server, monkeypatch):
    _manifest, content = tiny
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.t7").write_bytes(content)
    monkeypatch.setenv("DENSENET_ZOO_OFFLINE", "1")
    result = run("download", "--all", "--mirror", str(mirror), "-q")
    assert result.exit_code == 0, result.output
    assert server.requests == []


def test_manifest_pin_writes_the_hash_then_strict_mode_accepts_it(tiny, monkeypatch):
    manifest, content = tiny
    result = run("manifest", "pin", "tiny", "--manifest", str(manifest), "-q")
    assert result.exit_code == 0, result.output
    source = json.loads(manifest.read_text())["models"]["tiny"]["sources"][0]
    assert source["sha256"] == sha256(content) and source["size"] == len(content)
    monkeypatch.setenv("DENSENET_ZOO_STRICT", "1")
    assert run("download", "tiny", "-q").exit_code == 0
    again = run("manifest", "pin", "tiny", "--manifest", str(manifest))
    assert again.exit_code == 1 and "already has a full sha256" in again.output


def test_manifest_pin_refuses_a_file_that_does_not_convert(server, tmp_path, monkeypatch):
    url = server.add_file("/junk.t7", b"\x04\x00\x00\x00" + os.urandom(5000))
    manifest = write_manifest(tmp_path / "manifest.json", {"tiny": [url_source(url, "junk.t7", None)]})
    before = manifest.read_text()
    result = run("manifest", "pin", "tiny", "--manifest", str(manifest))
    assert result.exit_code == 1 and "does not convert to tiny" in result.output
    assert manifest.read_text() == before
    assert list(home().iterdir()) == []  # the first-use file and its pin are gone


def test_demo_runs_the_whole_chain_offline(server):
    result = run("demo")
    assert result.exit_code == 0, result.output
    for step in ("registry entry", "local mirror", "verified", "converted", "loaded", "classified"):
        assert step in result.output
    top5 = [
        line
        for line in result.output.splitlines()
        if line.strip().startswith(("1.", "2.", "3.", "4.", "5.")) and "class" in line
    ]
    assert len(top5) == 5
    assert server.requests == []
    quiet = run("demo", "--quiet")
    assert quiet.exit_code == 0 and quiet.output.splitlines()[1:] == result.output.splitlines()[-5:]


def _fails_with_one_error_line(result, message):
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    "location, message",
    [
        ("/loop.t7", "redirect loop"),
        ("file:///etc/passwd", "'file' URL, not http"),
        ("ftp://127.0.0.1/tiny.t7", "'ftp' URL, not http"),
        ("http://[::1/x", "malformed"),
    ],
)
def test_download_through_hostile_redirects_is_one_error_line(server, tmp_path, monkeypatch, location, message):
    # Issue 9, item 5: TooManyRedirects / InvalidSchema / ValueError tracebacks before.
    from registry_server import Reply

    server.add_reply("/loop.t7", Reply(302, b"", {"Location": location}))
    manifest = write_manifest(tmp_path / "manifest.json", {"tiny": [url_source(server.url + "/loop.t7", "t.t7", None)]})
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    _fails_with_one_error_line(run("download", "tiny", "-q"), message)
    assert list(home().iterdir()) == []


def test_download_into_a_planted_part_link_is_one_error_line(tiny, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    home().mkdir(parents=True)
    (home() / "tiny.t7.part").symlink_to(victim)
    _fails_with_one_error_line(run("download", "tiny", "-q"), "tiny.t7.part is a symbolic link")
    assert victim.read_bytes() == b"keep me"


def test_a_hostile_manifest_is_one_error_line(monkeypatch, tmp_path):
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", "/dev/zero")
    _fails_with_one_error_line(run("list"), "not a regular file")
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000)
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(nested))
    _fails_with_one_error_line(run("info", "x"), "not valid JSON")
