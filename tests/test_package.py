import subprocess
import sys

import zoo
from click.testing import CliRunner
from zoo.cli import main


def test_cli_reports_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert zoo.__version__ in result.output


def test_import_zoo_does_not_pull_heavy_layers():
    code = (
        "import sys, zoo; "
        "heavy = [m for m in ('torchvision', 'requests', 'safetensors', 'PIL', 'zoo.registry', 'zoo.training') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
