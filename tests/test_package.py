import subprocess
import sys

import pytest
from click.testing import CliRunner

import zoo
from zoo.cli import main


def test_cli_reports_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert zoo.__version__ in result.output


def test_cli_help_shows_every_command_on_one_untruncated_line():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:\n", 1)[1].splitlines()
    assert sorted(line.split()[0] for line in listed) == sorted(main.commands)
    assert [line for line in listed if line.endswith("...")] == []


def test_matching_models_ignores_drop_rate_and_rejects_other_architectures():
    densenet264 = zoo.get_config("densenet264")
    assert zoo.matching_models(zoo.get_config("densenet121")) == ["densenet121"]
    assert zoo.matching_models(densenet264.replace(drop_rate=0.2)) == ["densenet264", "densenet264_cosine"]
    assert zoo.matching_models(densenet264.replace(num_classes=10)) == []
    assert zoo.matching_models(zoo.DenseNetConfig(growth_rate=4, block_config=(2, 2), num_init_features=8)) == []


def test_import_zoo_does_not_pull_heavy_layers():
    code = (
        "import sys, zoo; "
        "heavy = [m for m in ('torch', 'torchvision', 'requests', 'safetensors', 'PIL', 'zoo.registry', "
        "'zoo.training') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_resolve_on_first_use():
    assert set(zoo.__all__) <= set(dir(zoo))
    assert zoo.DenseNet is __import__("zoo.models.densenet", fromlist=["DenseNet"]).DenseNet
    assert zoo.create_model("densenet121").config == zoo.get_config("densenet121")
    with pytest.raises(AttributeError, match="no attribute 'DenseNet121'"):
        _ = zoo.DenseNet121
