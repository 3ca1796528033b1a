"""``densenet-zoo convert`` for any model (``--format module``, the default for what is not a DenseNet) and
``densenet-zoo inspect`` for any model: outputs, exit codes, one-line errors, no overwrite, whole directories."""

from __future__ import annotations

import json
import struct

import pytest
from click.testing import CliRunner
from fixtures import fixture_path
from translate.built_trees import container, module, tensor

from converters import t7
from converters.errors import ConversionError
from converters.module_export import write_module_directory
from converters.synthetic.densenet import densenet_checkpoint
from converters.translate import load_module, translate
from converters.translate.sources import TensorSource
from zoo import DenseNetConfig
from zoo.cli import main

DENSENET = DenseNetConfig(growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=6)


def _run(*args: str):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def _errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture()
def net(tmp_path):
    """A small non-DenseNet checkpoint (Double tensors) written by the project's Torch7 writer."""
    root = container(
        "nn.Sequential",
        module("nn.Linear", weight=tensor(5, 4), bias=tensor(5)),
        module("nn.Tanh"),
        container("nn.ConcatTable", module("nn.Identity"), module("nn.MulConstant", constant_scalar=2.0)),
        module("nn.CAddTable"),
    )
    path = tmp_path / "tiny.t7"
    t7.save(root, path)
    return path


def _safetensors_dtypes(path) -> set[str]:
    with open(path, "rb") as file:
        (size,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(size))
    return {entry["dtype"] for key, entry in header.items() if key != "__metadata__"}


def test_a_non_densenet_becomes_a_model_directory_named_after_it(net, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _run("convert", net)
    assert result.exit_code == 0, result.output
    assert "is not a DenseNet" in result.stderr and "exporting it as a module" in result.stderr
    assert sorted(path.name for path in (tmp_path / "tiny").iterdir()) == ["model.py", "model.safetensors"]
    assert f"wrote {tmp_path / 'tiny' / 'model.py'}" in result.stdout and "parameters:   25" in result.stdout
    assert _safetensors_dtypes(tmp_path / "tiny" / "model.safetensors") == {"F64"}


def test_dtype_converts_the_exported_weights(net, tmp_path) -> None:
    result = _run("convert", net, "-o", tmp_path / "single", "--dtype", "float32")
    assert result.exit_code == 0, result.output
    assert _safetensors_dtypes(tmp_path / "single" / "model.safetensors") == {"F32"}


def test_an_existing_directory_is_replaced_only_with_force_and_only_if_it_holds_an_export(net, tmp_path) -> None:
    target = tmp_path / "out"
    target.mkdir()  # an empty directory is there to be filled
    assert _run("convert", net, "-o", target).exit_code == 0
    (target / "model.py").write_text("# edited\n")
    result = _run("convert", net, "-o", target)
    assert result.exit_code == 1 and _errors(result) == [
        f"error: {target} already exists; pass force=True (CLI: --force) to replace it"
    ]
    assert (target / "model.py").read_text() == "# edited\n"
    assert _run("convert", net, "-o", target, "--force").exit_code == 0
    assert (target / "model.py").read_text().startswith('"""nn.Sequential from tiny.t7')
    (target / "notes.txt").write_text("mine")
    result = _run("convert", net, "-o", target, "--force")
    assert result.exit_code == 1 and "notes.txt" in _errors(result)[0]
    assert (target / "notes.txt").read_text() == "mine"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out", "tiny.t7"]  # no .partial left


def test_a_file_where_the_directory_should_be_and_a_missing_parent_are_refused(net, tmp_path) -> None:
    (tmp_path / "taken").write_text("a file")
    result = _run("convert", net, "-o", tmp_path / "taken", "--format", "module", "--force")
    assert result.exit_code == 1 and "is not a directory" in _errors(result)[0]
    result = _run("convert", net, "-o", tmp_path / "a" / "b")
    assert result.exit_code == 1 and "--parents" in _errors(result)[0]
    assert not (tmp_path / "a").exists()
    assert _run("convert", net, "-o", tmp_path / "a" / "b", "--parents").exit_code == 0
    assert (tmp_path / "a" / "b" / "model.safetensors").is_file()


def test_unsupported_classes_fail_with_one_line_listing_them_all_and_write_nothing(tmp_path) -> None:
    root = container("nn.Sequential", module("nn.NoSuchLayer"), module("nn.Tanh"), module("nn.NoSuchLayer"))
    t7.save(root, tmp_path / "odd.t7")
    result = _run("convert", tmp_path / "odd.t7", "-o", tmp_path / "out")
    assert result.exit_code == 1
    (error,) = _errors(result)
    assert "nn.NoSuchLayer at model.modules[1], model.modules[3]" in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["odd.t7"]


def test_a_failure_while_writing_leaves_no_directory(net, tmp_path) -> None:
    translation = translate(net)
    name, source = next(iter(translation.sources.items()))

    def unreadable():
        raise OSError("the disk went away")

    translation.sources[name] = TensorSource(source.shape, source.dtype, unreadable, source.lua_path)
    with pytest.raises(OSError, match="disk went away"):
        write_module_directory(translation, tmp_path / "out")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny.t7"]


def test_densenet_formats_refuse_other_models_and_name_the_module_format(net, tmp_path) -> None:
    result = _run("convert", net, "-o", tmp_path / "tiny.safetensors")
    assert result.exit_code == 1 and "--format module or onnx" in _errors(result)[0]
    assert not (tmp_path / "tiny.safetensors").exists()


def test_a_densenet_still_converts_to_torchvision_names_and_also_exports_as_a_module(tmp_path) -> None:
    path = tmp_path / "dense.t7"
    t7.save(densenet_checkpoint(DENSENET, layout="custom", seed=0), path)
    result = _run("convert", path, "-o", tmp_path / "dense")
    assert result.exit_code == 0, result.output
    assert "growth_rate=4 blocks=2-2" in result.output and (tmp_path / "dense").is_file()  # today's behaviour
    result = _run("convert", path, "-o", tmp_path / "module", "--format", "module")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "module" / "model.py").is_file()


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "pth", "--dtype", "float32"],
        ["--format", "module", "--input-shape", "1,4"],
        ["--format", "onnx", "--input-shape", "1,x"],
        ["--format", "bogus"],
    ],
)
def test_usage_errors_exit_2(net, tmp_path, args) -> None:
    result = _run("convert", net, "-o", tmp_path / "out", *args)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists()


def test_inspect_describes_any_model(tmp_path) -> None:
    path = fixture_path("opencv_torch", "net_inception_block_net.dat")
    result = _run("inspect", path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "model:        nn.Sequential, 10 modules" in lines
    assert "parameters:   164 (0.0 MB of tensors: float64 x4)" in lines
    assert lines[2].startswith("supported:    yes")
    assert any(
        line.split()
        == ["0.0.0.0", "model.modules[1].modules[1].modules[1].modules[1]", "nn.SpatialConvolution", "->", "Conv2d"]
        for line in lines
    )
    document = json.loads(_run("inspect", path, "--json").stdout)
    assert document["kind"] == "module" and document["module"]["supported"] is True
    network = load_module(path)
    assert document["module"]["num_parameters"] == sum(parameter.numel() for parameter in network.parameters())
    rows = {row["name"]: row for row in document["module"]["modules"]}
    assert rows["0"] == {
        "name": "0",
        "lua_path": "model.modules[1]",
        "lua_class": "nn.Inception",
        "torch_class": "Inception",
    }
    assert set(rows) == {name for name, _ in network.named_modules()}


def test_inspect_lists_unsupported_classes_with_their_paths_instead_of_failing(tmp_path) -> None:
    inner = container("nn.MyContainer", module("nn.Linear", weight=tensor(2, 3), bias=tensor(2)))
    root = container("nn.Sequential", module("nn.Tanh"), inner, module("nn.MyLayer"), module("nn.MyLayer"))
    t7.save(root, tmp_path / "odd.t7")
    result = _run("inspect", tmp_path / "odd.t7")
    assert result.exit_code == 0, result.output
    assert "supported:    no, 2 Lua class(es) without a translator (listed below)" in result.stdout
    assert "  nn.MyLayer at model.modules[3], model.modules[4]" in result.stdout
    assert "nn.Linear -> (inside a module without translator)" in result.stdout
    document = json.loads(_run("inspect", tmp_path / "odd.t7", "--json").stdout)["module"]
    assert document["unsupported"] == {
        "nn.MyContainer": ["model.modules[2]"],
        "nn.MyLayer": ["model.modules[3]", "model.modules[4]"],
    }
    assert document["supported"] is False and document["module_counts"]["nn.Linear"] == 1
    with pytest.raises(ConversionError, match="nn.MyContainer at model.modules"):
        translate(tmp_path / "odd.t7")


def test_inspect_of_a_densenet_keeps_its_report_and_adds_the_general_one(tmp_path) -> None:
    path = tmp_path / "dense.t7"
    t7.save(densenet_checkpoint(DENSENET, layout="custom", seed=0), path)
    result = _run("inspect", path)
    assert result.exit_code == 0, result.output
    assert "growth_rate=4 blocks=2-2" in result.stdout and "nn.DenseConnectLayerCustom" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("as any model: every Lua class has a translator")
    document = json.loads(_run("inspect", path, "--json").stdout)
    assert document["kind"] == "densenet" and DenseNetConfig.from_dict(document["config"]) == DENSENET
    assert document["module"]["supported"] is True
    assert document["module"]["num_parameters"] == sum(p.numel() for p in load_module(path).parameters())
