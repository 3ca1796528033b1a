"""Run exported ``model.py`` files the way a user without this project would: torch and the standard library only.

Started by :func:`run_isolated` as ``python -I -S isolated_runner.py SITE_DIRS_JSON JOBS_DIR``:
``-I`` ignores ``PYTHONPATH``, the user site and the script's directory,
``-S`` skips ``site`` (and so the ``.pth`` file of an editable install of
this project); the directories holding torch are added by hand, and an
import hook refuses this project's packages in case they sit there too.

Each job directory holds ``model.py``, ``model.safetensors`` and ``input.pt``;
the runner writes ``output.pt`` (the forward's output after
``torch.manual_seed(0)``) or ``error.txt``, and prints a JSON summary.
This file imports nothing of the project (it runs in that interpreter).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import subprocess
import sys
import sysconfig
import traceback
from pathlib import Path

PROJECT_PACKAGES = ("converters", "zoo", "densenet_zoo_util")


class ProjectBlocker(importlib.abc.MetaPathFinder):
    """Refuses any import of this project's packages."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in PROJECT_PACKAGES:
            raise ImportError(f"model.py imported {name}, a package of densenet-zoo")
        return None


def run_job(job: Path, torch) -> None:
    spec = importlib.util.spec_from_file_location(f"exported_model_{job.name}", job / "model.py")
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    network = model.load()
    inputs = torch.load(job / "input.pt", weights_only=True)
    torch.manual_seed(0)
    with torch.no_grad():
        output = network(inputs)
    torch.save(output, job / "output.pt")


def main(site_dirs: list[str], jobs: Path) -> None:
    sys.meta_path.insert(0, ProjectBlocker())
    sys.path.extend(site_dirs)
    import torch

    ran = failed = 0
    for job in sorted(path for path in jobs.iterdir() if path.is_dir()):
        try:
            run_job(job, torch)
            ran += 1
        except Exception:
            (job / "error.txt").write_text(traceback.format_exc())
            failed += 1
    loaded = sorted(name for name in sys.modules if name.partition(".")[0] in PROJECT_PACKAGES)
    print(
        json.dumps(
            {
                "ran": ran,
                "failed": failed,
                "project_modules": loaded,
                "isolated": sys.flags.isolated,
                "no_site": sys.flags.no_site,
            }
        )
    )


def run_isolated(jobs: Path, timeout: float = 600) -> dict:
    """Run every job under ``jobs`` in one clean interpreter (this Python, ``-I -S``); its JSON summary."""
    site_dirs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(Path(__file__).resolve()), json.dumps(site_dirs), str(jobs)],
        cwd=jobs,
        env={"PATH": "/usr/bin:/bin", "HOME": str(jobs)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), Path(sys.argv[2]))
