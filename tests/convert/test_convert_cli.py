"""``densenet-zoo convert`` / ``inspect``: output, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from converters import t7
from converters.export import read_saved_weights
from converters.synthetic.densenet import densenet_checkpoint
from zoo import DenseNetConfig
from zoo.cli import main

CONFIG = DenseNetConfig(growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=6)


@pytest.fixture()
def checkpoint(tmp_path):
    path = tmp_path / "small.t7"
    t7.save(densenet_checkpoint(CONFIG, layout="custom", seed=0), path)
    return path


def _run(*args: str, cwd=None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, list(args))
    with runner.isolated_filesystem(temp_dir=cwd):
        return runner.invoke(main, list(args))


def test_convert_prints_architecture_and_writes_default_output(checkpoint, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _run("convert", str(checkpoint))
    assert result.exit_code == 0, result.output
    assert "growth_rate=4 blocks=2-2 init_features=8" in result.output
    assert "layout:       custom" in result.output
    assert "same shape as: (no published model)" in result.output
    written = tmp_path / "small.safetensors"
    assert f"wrote {written}" in result.output
    assert read_saved_weights(written)[1] == CONFIG


def test_convert_refuses_to_overwrite_without_force(checkpoint, tmp_path) -> None:
    output = tmp_path / "out.safetensors"
    output.write_bytes(b"keep me")
    result = _run("convert", str(checkpoint), "-o", str(output))
    assert result.exit_code == 1
    assert output.read_bytes() == b"keep me"
    assert "--force" in result.output and result.stderr.startswith(f"error: {output} already exists")
    assert _run("convert", str(checkpoint), "-o", str(output), "--force").exit_code == 0
    assert read_saved_weights(output)[1] == CONFIG


def test_inspect_json(checkpoint) -> None:
    result = _run("inspect", str(checkpoint), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert DenseNetConfig.from_dict(document["config"]) == CONFIG
    assert document["matches"] == []
    assert document["report"]["layout"] == "custom"
    assert document["report"]["module_counts"]["nn.DenseConnectLayerCustom"] == 4
    assert document["report"]["ignored_fields"]["gradWeight"] > 0


def test_inspect_text(checkpoint) -> None:
    result = _run("inspect", str(checkpoint))
    assert result.exit_code == 0, result.output
    assert "nn.DenseConnectLayerCustom" in result.output and "gradWeight" in result.output


def test_truncated_checkpoint_fails_with_one_line(checkpoint, tmp_path) -> None:
    broken = tmp_path / "broken.t7"
    broken.write_bytes(checkpoint.read_bytes()[:5000])
    for command in (["inspect", str(broken)], ["convert", str(broken), "-o", str(tmp_path / "x.safetensors")]):
        result = _run(*command)
        assert result.exit_code == 1, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1
    assert not (tmp_path / "x.safetensors").exists()


def test_a_malformed_non_densenet_checkpoint_fails_with_module_path(tmp_path) -> None:
    """inspect describes any model (tests/export); a Linear without its weight is malformed for every reader."""
    path = tmp_path / "linear.t7"
    t7.save(t7.T7Object("nn.Linear", t7.T7Table({"train": True})), path)
    result = _run("inspect", str(path))
    assert result.exit_code == 1
    assert "model:" in result.output and "'weight' of nn.Linear" in result.output


@pytest.mark.parametrize(
    "args",
    [["convert"], ["convert", "missing.t7"], ["inspect"], ["convert", "{checkpoint}", "--format", "tflite"]],
)
def test_usage_errors_exit_2(args, checkpoint) -> None:
    result = _run(*[arg.format(checkpoint=checkpoint) for arg in args])
    assert result.exit_code == 2, result.output


def test_convert_shows_progress_for_large_outputs(checkpoint, tmp_path, monkeypatch) -> None:
    import zoo.cli.convert as convert_cli

    monkeypatch.setattr(convert_cli, "PROGRESS_THRESHOLD_BYTES", 1)
    result = _run("convert", str(checkpoint), "-o", str(tmp_path / "out.safetensors"))
    assert result.exit_code == 0, result.output
    assert "writing weights" in result.stderr
    assert read_saved_weights(tmp_path / "out.safetensors")[1] == CONFIG
