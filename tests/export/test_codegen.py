"""``converters.codegen``: the generated model.py rebuilds the translated module exactly, shares what Lua shares,
restores Lua's modes and dtypes, refuses what it cannot write, and lets nothing from the file become code."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from fixtures import fixture_path
from translate.built_trees import container, module, sample, tensor
from translate.translate_cases import lua_to_torch, relative_difference

from converters import t7
from converters.codegen import SourceInfo, check_model_source, model_source, python_literal
from converters.errors import ConversionError
from converters.module_export import write_module_directory
from converters.translate import TRANSLATORS, load_module, register_module, translate


def _import(directory: Path):
    """Import ``directory/model.py`` under a fresh name (in this process: the isolated runs are elsewhere)."""
    spec = importlib.util.spec_from_file_location(f"generated_{abs(hash(directory))}", directory / "model.py")
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    return generated


def _linear(n_in: int, n_out: int) -> t7.T7Object:
    return module("nn.Linear", weight=tensor(n_out, n_in), bias=tensor(n_out))


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -3, 1e-05, 0.1, math.inf, -math.inf, "float64", (1, 2), (3,), [(1, [2], 0)], {"0": False}],
)
def test_python_literal_evaluates_to_the_value(value) -> None:
    assert eval(python_literal(value), {"float": float}) == value  # the generated code, not the file's


def test_python_literal_writes_nan_and_refuses_objects() -> None:
    assert math.isnan(eval(python_literal(math.nan), {"float": float}))
    with pytest.raises(TypeError):
        python_literal(object())


def test_a_hostile_file_name_stays_text(tmp_path) -> None:
    hostile = 'net"""\nraise SystemExit("injected")\n""".t7'
    source = model_source(translate(_linear(3, 2)), SourceInfo(name=hostile))
    namespace = {"__name__": "generated", "__file__": str(tmp_path / "model.py")}
    exec(compile(source, "model.py", "exec"), namespace)  # no SystemExit: the name is inside the docstring
    assert "raise SystemExit" not in source.split('"""')[1].splitlines()[1:3]
    assert "net???" in source


def test_shared_modules_are_built_once_and_their_weights_stored_once(tmp_path) -> None:
    shared = _linear(4, 4)
    root = container("nn.Sequential", shared, module("nn.Tanh"), shared)
    translation = translate(root)
    write_module_directory(translation, tmp_path / "out")
    source = (tmp_path / "out" / "model.py").read_text()
    assert "shared_0 = nn.Linear(in_features=4, out_features=4)" in source
    assert 'SHARED_TENSORS = {"2.weight": "0.weight", "2.bias": "0.bias"}' in source
    network = _import(tmp_path / "out").load()
    assert network[0] is network[2]
    value = sample(3, 4)
    assert relative_difference(network(value), load_module(root)(value)) == 0.0


def test_modes_and_dtypes_are_restored_per_module(tmp_path) -> None:
    root = container("nn.Sequential", _linear(4, 3), module("nn.Dropout", p=0.5, v2=True, train=True))
    root["train"] = True
    root["modules"][1]["train"] = False
    write_module_directory(translate(root), tmp_path / "out")
    network = _import(tmp_path / "out").load()
    assert network.training and not network[0].training and network[1].training
    assert network[0].weight.dtype == torch.float64
    write_module_directory(translate(root, dtype=torch.float32), tmp_path / "single")
    assert _import(tmp_path / "single").load()[0].weight.dtype == torch.float32


def test_nested_graphs_share_one_class_and_run_their_nodes_in_order(tmp_path) -> None:
    path = fixture_path("torch7", "nn_modules", "nngraph_residual.net.t7")
    root = container("nn.Sequential", t7.load(path), t7.load(path))
    write_module_directory(translate(root), tmp_path / "out")
    source = (tmp_path / "out" / "model.py").read_text()
    assert source.count("class GModule1(nn.ModuleDict)") == 1 and "GModule2" not in source
    assert 'x4 = self["3"]([x3, x1])' in source
    value = lua_to_torch(t7.load(fixture_path("torch7", "nn_modules", "nngraph_residual.input.t7")))
    assert relative_difference(_import(tmp_path / "out").load()(value), load_module(root)(value)) == 0.0


class _Custom(torch.nn.Module):
    def forward(self, input):
        return input


@pytest.fixture()
def custom_translator():
    register_module("nn.TestOnlyExportLayer", lambda lua_module, ctx: _Custom())
    yield
    del TRANSLATORS["nn.TestOnlyExportLayer"]


def test_a_class_model_py_cannot_build_is_named_with_its_lua_path(custom_translator) -> None:
    root = container("nn.Sequential", module("nn.Tanh"), module("nn.TestOnlyExportLayer"))
    with pytest.raises(ConversionError, match=r"test_codegen\._Custom at model\.modules\[2\].*load_module"):
        model_source(translate(root))


def test_the_check_catches_source_that_builds_something_else() -> None:
    root = container(
        "nn.Sequential",
        module(
            "nn.SpatialConvolution",
            nInputPlane=2,
            nOutputPlane=3,
            kW=3,
            kH=3,
            dW=1,
            dH=1,
            padW=1,
            padH=1,
            weight=tensor(3, 2, 3, 3),
            bias=tensor(3),
        ),
        module("nn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2, padW=0, padH=0, ceil_mode=True),
    )
    translation = translate(root)
    source = model_source(translation)
    check_model_source(source, translation)
    with pytest.raises(ConversionError, match=r"model\.modules\[1\].*padding"):
        check_model_source(source.replace("padding=(1, 1)", "padding=(0, 0)"), translation)
    with pytest.raises(ConversionError, match=r"model\.modules\[2\].*ceil_mode"):
        check_model_source(source.replace("ceil_mode=True", "ceil_mode=False"), translation)
