"""``--format onnx``: the ONNX file onnxruntime runs reproduces Lua's output; nothing is written when the export
or its check fails; the missing extra is named."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from fixtures import fixture_path
from test_export_fixtures import _small_resnet
from translate.built_trees import container, module, tensor
from translate.translate_cases import lua_to_torch

from converters import t7
from converters.onnx_export import OnnxExportError, export_onnx
from converters.translate import load_module
from zoo.cli import main


def _onnxruntime():
    """onnxruntime (the test extra installs it); skipped without it, except under CI, where that fails."""
    if os.environ.get("CI", "").lower() == "true":
        import onnxruntime

        return onnxruntime
    return pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[test]'")


def _run_onnx(path, inputs: list[torch.Tensor]) -> list[np.ndarray]:
    session = _onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    used = [item.name for item in session.get_inputs()]
    names = ["input"] if len(inputs) == 1 else [f"input{index}" for index in range(len(inputs))]
    feeds = {name: tensor.float().numpy() for name, tensor in zip(names, inputs, strict=True) if name in used}
    return session.run(None, feeds)


def _relative(found: np.ndarray, expected: torch.Tensor) -> float:
    expected = expected.double().numpy()
    return float(np.abs(found - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("name", ["net_inception_block", "net_residual"])
def test_an_opencv_net_exported_to_onnx_reproduces_lua(tmp_path, name) -> None:
    _onnxruntime()
    value = lua_to_torch(t7.load(fixture_path("opencv_torch", f"{name}_input.dat")))
    expected = lua_to_torch(t7.load(fixture_path("opencv_torch", f"{name}_output.dat")))
    result = export_onnx(fixture_path("opencv_torch", f"{name}_net.dat"), tmp_path / "net.onnx",
                         input_shapes=[tuple(value.shape)])  # fmt: skip
    assert result.path.is_file() and result.max_difference <= 1e-4 and result.exporter == "dynamo"
    (found,) = _run_onnx(result.path, [value])
    assert _relative(found, expected) <= 1e-5


def test_a_graph_with_a_table_input_exports_with_one_onnx_input_per_tensor(tmp_path) -> None:
    _onnxruntime()
    folder = ("torch7", "nn_modules")
    inputs = lua_to_torch(t7.load(fixture_path(*folder, "nngraph_two_in_one_out.input.t7")))
    expected = lua_to_torch(t7.load(fixture_path(*folder, "nngraph_two_in_one_out.output.t7")))
    shapes = [tuple(tensor.shape) for tensor in inputs]
    result = export_onnx(
        fixture_path(*folder, "nngraph_two_in_one_out.net.t7"), tmp_path / "g.onnx", input_shapes=shapes
    )
    (found,) = _run_onnx(result.path, inputs)
    assert _relative(found, expected) <= 1e-5


def test_the_input_shape_of_an_image_model_is_inferred(tmp_path) -> None:
    _onnxruntime()
    root, value = _small_resnet()
    result = export_onnx(root, tmp_path / "resnet.onnx")
    assert result.input_shapes == [(1, 3, 32, 32)]  # 224 runs but folds 625 pixels into View(8)'s batch
    (found,) = _run_onnx(result.path, [value[:1]])
    with torch.no_grad():
        expected = load_module(root, dtype=torch.float32)(value[:1].float())
    assert _relative(found, expected) <= 1e-5


def test_nothing_is_written_when_no_exporter_reproduces_the_model(tmp_path) -> None:
    _onnxruntime()
    # THNN's ceil-mode average pooling with a window wholly in the padding (0/0 = NaN there): the
    # torch.export-based export computes other values, the traced one fails in onnxruntime
    net = fixture_path("torch7", "nn_modules", "SpatialAveragePooling_ceil_emptywindow.net.t7")
    shape = tuple(t7.load(net.with_name("SpatialAveragePooling_ceil_emptywindow.input.t7")).size)
    with pytest.raises(OnnxExportError, match=r"no ONNX export reproduces.*dynamo: .*torchscript: "):
        export_onnx(net, tmp_path / "pool.onnx", input_shapes=[shape])
    linear = module("nn.Linear", weight=tensor(2, 3), bias=tensor(2))
    with pytest.raises(OnnxExportError, match="differs from PyTorch's: max abs difference"):
        export_onnx(linear, tmp_path / "linear.onnx", tolerance=-1.0)  # no model can pass: the check is real
    assert list(tmp_path.iterdir()) == []


def test_an_input_shape_that_cannot_be_inferred_is_asked_for(tmp_path) -> None:
    _onnxruntime()
    with pytest.raises(OnnxExportError, match=r"first layer is Tanh.*--input-shape"):
        export_onnx(container("nn.Sequential", module("nn.Tanh")), tmp_path / "t.onnx")


def test_the_missing_extra_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an environment without the extra has
    with pytest.raises(OnnxExportError, match=r"pip install 'densenet-zoo\[onnx\]'"):
        export_onnx(module("nn.Tanh"), tmp_path / "t.onnx", input_shapes=[(1, 3)])
    assert list(tmp_path.iterdir()) == []


def test_the_cli_exports_onnx_and_refuses_to_overwrite(tmp_path) -> None:
    _onnxruntime()
    source = tmp_path / "linear.t7"
    t7.save(container("nn.Sequential", module("nn.Linear", weight=tensor(2, 3), bias=tensor(2))), source)
    target = tmp_path / "linear.onnx"
    result = CliRunner().invoke(main, ["convert", str(source), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "onnxruntime reproduces the PyTorch output on a 1x3 input" in result.stdout and target.is_file()
    result = CliRunner().invoke(main, ["convert", str(source), "-o", str(target), "--input-shape", "4,3"])
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {target} already exists")
