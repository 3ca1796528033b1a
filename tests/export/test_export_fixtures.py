"""Every genuine fixture net, exported as model.py + model.safetensors and run in a clean interpreter (torch
only, the project not importable), reproduces what Lua computed, and exactly what ``load_module`` computes.

The cases come from the fixture folders (``translate_cases``), so a new file
there is exported and tested without a code change; so do the trees built for
classes without a fixture (``built_trees``) and a small fb.resnet.torch-style
ResNet. All exports run in ONE subprocess (``isolated_runner``), started once
per test session.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from export.isolated_runner import run_isolated
from translate.built_trees import BUILT_CASES, container, module, sample, tensor
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
from converters.translate import load_module, translate

#: What a generated model.py may import: torch and the standard library.
ALLOWED_IMPORTS = {"__future__", "json", "math", "struct", "pathlib", "torch", "torch.nn.functional"}


def _conv(n_in: int, n_out: int, kernel: int, stride: int, pad: int) -> t7.T7Object:
    sizes = dict(nInputPlane=n_in, nOutputPlane=n_out, kW=kernel, kH=kernel, dW=stride, dH=stride)
    return module("cudnn.SpatialConvolution", **sizes, padW=pad, padH=pad, weight=tensor(n_out, n_in, kernel, kernel))


def _batch_norm(channels: int) -> t7.T7Object:
    return module(
        "nn.SpatialBatchNormalization",
        eps=1e-5,
        momentum=0.1,
        affine=True,
        running_mean=tensor(channels),
        running_var=tensor(channels, low=0.5, high=2.0),
        weight=tensor(channels),
        bias=tensor(channels),
    )


def _basic_block(n_in: int, n_out: int, stride: int) -> t7.T7Object:
    """fb.resnet.torch's basic block: identity shortcut, or a 1x1 projection (shortcut B) when the shape changes."""
    residual = container(
        "nn.Sequential",
        _conv(n_in, n_out, 3, stride, 1),
        _batch_norm(n_out),
        module("cudnn.ReLU", inplace=True),
        _conv(n_out, n_out, 3, 1, 1),
        _batch_norm(n_out),
    )
    if n_in == n_out and stride == 1:
        shortcut = module("nn.Identity")
    else:
        shortcut = container("nn.Sequential", _conv(n_in, n_out, 1, stride, 0), _batch_norm(n_out))
    return container(
        "nn.Sequential",
        container("nn.ConcatTable", residual, shortcut),
        module("nn.CAddTable", inplace=True),
        module("cudnn.ReLU", inplace=True),
    )


def _small_resnet() -> tuple[t7.T7Object, torch.Tensor]:
    """fb.resnet.torch's ImageNet layout at toy size: stem, two stages of basic blocks, average pooling, View,
    Linear."""
    root = container(
        "nn.Sequential",
        _conv(3, 4, 7, 2, 3),
        _batch_norm(4),
        module("cudnn.ReLU", inplace=True),
        module("nn.SpatialMaxPooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1),
        container("nn.Sequential", _basic_block(4, 4, 1), _basic_block(4, 4, 1)),
        container("nn.Sequential", _basic_block(4, 8, 2), _basic_block(8, 8, 1)),
        module("cudnn.SpatialAveragePooling", kW=4, kH=4, dW=1, dH=1, padW=0, padH=0, ceil_mode=False),
        module("nn.View", size=t7.T7Table({1: 8})),
        module("nn.Linear", weight=tensor(5, 8), bias=tensor(5)),
    )
    return root, sample(2, 3, 32, 32)


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


def _jobs() -> list[Job]:
    jobs = [
        Job(case.id, case.name, case.net, case.input, case.output) for case in [*nn_module_cases(), *opencv_cases()]
    ]
    for name, build in [*BUILT_CASES.items(), ("small_resnet", _small_resnet)]:
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
