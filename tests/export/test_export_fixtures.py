"""Every genuine fixture net, exported as model.py + model.safetensors and run in a clean interpreter (torch
only, the project not importable), reproduces what Lua computed, and exactly what ``load_module`` computes.

The cases come from the fixture folders (``translate_cases``), so a new file
there is exported and tested without a code change; so do the trees built for
classes without a fixture (``built_trees``) and the ResNets, fast-neural-style
and OpenFace networks of ``converters.synthetic``, as their Lua code saved them. All exports run in ONE
subprocess (``isolated_runner``), started once per test session.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from export.isolated_runner import run_isolated
from translate.built_trees import BUILT_CASES, sample
from translate.translate_cases import (
    NN_BEFORE_919EECAE,
    TOLERANCE,
    lua_to_torch,
    nn_module_cases,
    opencv_cases,
    relative_difference,
)

from converters import lua_nn, t7
from converters.module_export import write_module_directory
from converters.synthetic.openface import openface_checkpoint
from converters.synthetic.resnet import resnet_checkpoint
from converters.synthetic.style_transfer import style_transfer_checkpoint
from converters.translate import load_module, translate

#: What a generated model.py may import: torch and the standard library.
ALLOWED_IMPORTS = {"__future__", "json", "math", "struct", "pathlib", "torch", "torch.nn.functional"}


@dataclass(frozen=True)
class Job:
    """One net to export: ``root`` (a path or a built tree) run on ``inputs`` (a path or a tensor) gave
    ``lua_output`` (None for built trees, which are compared with ``load_module`` only)."""

    id: str
    name: str
    root: Any
    inputs: Any
    lua_output: Path | None

    def input_value(self) -> Any:
        return lua_to_torch(t7.load(self.inputs)) if isinstance(self.inputs, Path) else self.inputs

    def as_lua_ran_it(self, network: torch.nn.Module) -> torch.nn.Module:
        """``network`` with the BatchNorm rule of the nn that produced this case's output."""
        if self.name in NN_BEFORE_919EECAE:
            for submodule in network.modules():
                if isinstance(submodule, lua_nn.BatchNormalization):
                    submodule.batch_statistics_for_one = True
        return network


def _images(size: int) -> torch.Tensor:
    return sample(2, 3, size, size).float()


def small_resnet() -> tuple[t7.T7Object, torch.Tensor]:
    """fb.resnet.torch's CIFAR ResNet-8 (shortcut A: average pooling and a Concat with zeros where the shape
    changes), and a batch of two 32x32 images."""
    return resnet_checkpoint(8, "cifar10"), _images(32)


#: The networks of fb.resnet.torch, fast-neural-style and OpenFace, as their Lua code saved them
#: (``converters.synthetic``; float32), with an input.
SYNTHETIC_CASES: dict[str, Callable[[], tuple[Any, torch.Tensor]]] = {
    "resnet8_cifar": small_resnet,
    "resnet20_cifar_shortcut_A": lambda: (resnet_checkpoint(20, "cifar10"), _images(32)),
    "resnet18_imagenet": lambda: (resnet_checkpoint(18, image_size=64), _images(64)),
    "preresnet18_imagenet": lambda: (resnet_checkpoint(18, image_size=64, preact=True), _images(64)),
    "fast_neural_style": lambda: (
        style_transfer_checkpoint(image_size=48, batch_size=2, iterations=3)["model"],
        60 * _images(48),
    ),
    "openface_nn4_small2": lambda: (openface_checkpoint(batch_size=2), _images(96)),
}


def _jobs() -> list[Job]:
    jobs = [
        Job(case.id, case.name, case.net, case.input, case.output) for case in [*nn_module_cases(), *opencv_cases()]
    ]
    for name, build in [*BUILT_CASES.items(), *SYNTHETIC_CASES.items()]:
        root, inputs = build()
        jobs.append(Job(f"built:{name}", name, root, inputs, None))
    return jobs


JOBS = _jobs()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """Export every net into its own directory, then run them all in one isolated interpreter."""
    folder = tmp_path_factory.mktemp("exports")
    directories = {}
    for index, job in enumerate(JOBS):
        directory = folder / f"{index:03d}"
        translation = translate(job.root)
        job.as_lua_ran_it(translation.module)
        write_module_directory(translation, directory)
        torch.save(job.input_value(), directory / "input.pt")
        directories[job.id] = directory
    summary = run_isolated(folder)
    assert summary["project_modules"] == [] and summary["isolated"] == 1, summary
    assert summary["ran"] + summary["failed"] == len(JOBS)
    return directories


@pytest.mark.parametrize("job", JOBS, ids=[job.id for job in JOBS])
def test_exported_model_reproduces_lua_and_load_module(exported, job: Job) -> None:
    directory = exported[job.id]
    assert not (directory / "error.txt").exists(), (directory / "error.txt").read_text()
    output = torch.load(directory / "output.pt", weights_only=True)
    reference = job.as_lua_ran_it(load_module(job.root))
    torch.manual_seed(0)
    with torch.no_grad():
        expected = reference(job.input_value())
    assert relative_difference(output, expected) == 0.0
    if job.lua_output is not None:
        assert relative_difference(output, lua_to_torch(t7.load(job.lua_output))) <= TOLERANCE


def test_generated_code_imports_only_torch_and_the_standard_library(exported) -> None:
    for directory in exported.values():
        tree = ast.parse((directory / "model.py").read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert imported <= ALLOWED_IMPORTS, directory


def test_the_isolated_interpreter_cannot_import_the_project(tmp_path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    (job / "model.py").write_text("import converters.translate\n\n\ndef load():\n    return converters.translate\n")
    summary = run_isolated(tmp_path)
    assert summary == {"ran": 0, "failed": 1, "project_modules": [], "isolated": 1, "no_site": 1}
    assert "ImportError: model.py imported converters, a package of densenet-zoo" in (job / "error.txt").read_text()
