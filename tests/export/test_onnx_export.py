"""``--format onnx``: the ONNX file onnxruntime runs reproduces Lua's output; nothing is written when the export
or its check fails; the missing extra is named.

Every export runs in one worker process started for this file (the ``exports`` fixture): after torch.export's
tracing, processes the test process forks can no longer run autograd ("Unable to handle autograd's threading in
combination with fork-based multiprocessing"), and tests/training forks its gloo ranks from it."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import onnxruntime  # the test extra installs it, with onnx and onnxscript
import pytest
import torch
from click.testing import CliRunner
from fixtures import fixture_path
from test_export_fixtures import small_resnet
from translate.built_trees import container, module, tensor
from translate.translate_cases import lua_to_torch

from converters import t7
from converters.onnx_export import OnnxExportError, export_onnx
from converters.translate import load_module
from zoo.cli import main


@pytest.fixture(scope="module")
def exports():
    """Runs ``function(*args, **kwargs)`` in a spawned worker and gives back its result (or raises its exception)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield lambda function, *args, **kwargs: pool.submit(function, *args, **kwargs).result()


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _run_onnx(path, inputs: list[torch.Tensor]) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    used = [item.name for item in session.get_inputs()]
    names = ["input"] if len(inputs) == 1 else [f"input{index}" for index in range(len(inputs))]
    feeds = {name: tensor.float().numpy() for name, tensor in zip(names, inputs, strict=True) if name in used}
    return session.run(None, feeds)


def _relative(found: np.ndarray, expected: torch.Tensor) -> float:
    expected = expected.double().numpy()
    return float(np.abs(found - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("name", ["net_inception_block", "net_residual"])
def test_an_opencv_net_exported_to_onnx_reproduces_lua(tmp_path, name, exports) -> None:
    value = lua_to_torch(t7.load(fixture_path("opencv_torch", f"{name}_input.dat")))
    expected = lua_to_torch(t7.load(fixture_path("opencv_torch", f"{name}_output.dat")))
    net = fixture_path("opencv_torch", f"{name}_net.dat")
    result = exports(export_onnx, net, tmp_path / "net.onnx", input_shapes=[tuple(value.shape)])
    assert result.path.is_file() and result.max_difference <= 1e-4 and result.exporter == "dynamo"
    (found,) = _run_onnx(result.path, [value])
    assert _relative(found, expected) <= 1e-5


def test_a_graph_with_a_table_input_exports_with_one_onnx_input_per_tensor(tmp_path, exports) -> None:
    folder = ("torch7", "nn_modules")
    inputs = lua_to_torch(t7.load(fixture_path(*folder, "nngraph_two_in_one_out.input.t7")))
    expected = lua_to_torch(t7.load(fixture_path(*folder, "nngraph_two_in_one_out.output.t7")))
    shapes = [tuple(tensor.shape) for tensor in inputs]
    net = fixture_path(*folder, "nngraph_two_in_one_out.net.t7")
    result = exports(export_onnx, net, tmp_path / "g.onnx", input_shapes=shapes)
    (found,) = _run_onnx(result.path, inputs)
    assert _relative(found, expected) <= 1e-5


def test_the_input_shape_of_an_image_model_is_inferred(tmp_path, exports) -> None:
    root, value = small_resnet()
    result = exports(export_onnx, root, tmp_path / "resnet.onnx")
    # 224 runs too, but its 49x49 pooled pixels per image would fold into the batch of View(64)
    assert result.input_shapes == [(1, 3, 32, 32)]
    (found,) = _run_onnx(result.path, [value[:1]])
    with torch.no_grad():
        expected = load_module(root, dtype=torch.float32).eval()(value[:1])  # ONNX exports Lua's evaluate()
    assert _relative(found, expected) <= 1e-5


def test_nothing_is_written_when_no_exporter_reproduces_the_model(tmp_path, exports) -> None:
    # THNN's ceil-mode average pooling with a window wholly in the padding (0/0 = NaN there): the
    # torch.export-based export computes other values, the traced one fails in onnxruntime
    net = fixture_path("torch7", "nn_modules", "SpatialAveragePooling_ceil_emptywindow.net.t7")
    shape = tuple(t7.load(net.with_name("SpatialAveragePooling_ceil_emptywindow.input.t7")).size)
    with pytest.raises(OnnxExportError, match=r"no ONNX export reproduces.*dynamo: .*torchscript: "):
        exports(export_onnx, net, tmp_path / "pool.onnx", input_shapes=[shape])
    linear = module("nn.Linear", weight=tensor(2, 3), bias=tensor(2))
    with pytest.raises(OnnxExportError, match="differs from PyTorch's: max abs difference"):
        exports(export_onnx, linear, tmp_path / "linear.onnx", tolerance=-1.0)  # no model can pass: the check is real
    assert list(tmp_path.iterdir()) == []


def test_an_input_shape_that_cannot_be_inferred_is_asked_for(tmp_path, exports) -> None:
    with pytest.raises(OnnxExportError, match=r"first layer is Tanh.*--input-shape"):
        exports(export_onnx, container("nn.Sequential", module("nn.Tanh")), tmp_path / "t.onnx")


def test_the_missing_extra_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an environment without the extra has
    with pytest.raises(OnnxExportError, match=r"pip install 'densenet-zoo\[onnx\]'"):
        export_onnx(module("nn.Tanh"), tmp_path / "t.onnx", input_shapes=[(1, 3)])
    assert list(tmp_path.iterdir()) == []


def test_the_cli_exports_onnx_and_refuses_to_overwrite(tmp_path, exports) -> None:
    source = tmp_path / "linear.t7"
    t7.save(container("nn.Sequential", module("nn.Linear", weight=tensor(2, 3), bias=tensor(2))), source)
    target = tmp_path / "linear.onnx"
    exit_code, stdout, stderr = exports(_cli, "convert", str(source), "-o", str(target))
    assert exit_code == 0, stdout + stderr
    assert "onnxruntime reproduces the PyTorch output on a 1x3 input" in stdout and target.is_file()
    exit_code, _, stderr = exports(_cli, "convert", str(source), "-o", str(target), "--input-shape", "4,3")
    assert exit_code == 1 and stderr.startswith(f"error: {target} already exists")
