"""Crafted checkpoints (issue 9): refused with a ConversionError naming the module path, nothing allocated or
written first, one ``error:`` line and exit status 1 from the CLI.

Each hostile tree is written and read back (``t7.dumps``/``t7.loads``) so that what is tested is what a
file can carry past the Torch7 reader, unless the reader itself would refuse it.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from converters import ConversionError, t7
from converters.densenet import convert, plan_conversion
from converters.export import convert_file
from converters.synthetic.densenet import densenet_checkpoint
from zoo import DenseNetConfig
from zoo.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG = DenseNetConfig(growth_rate=4, block_config=(2, 1), num_init_features=8, num_classes=5)
# Top level: 1 conv0, 2 BN, 3 ReLU, 4 max pool, 5-6 dense layers, 7 BN, 8 ReLU, 9 transition conv,
# 10 avg pool, 11 dense layer, 12 BN, 13 ReLU, 14 avg pool, 15 reshape, 16 linear.
STEM, NORM0, MAXPOOL, TRANSITION, FINAL_POOL, RESHAPE, LINEAR = 1, 2, 4, 9, 14, 15, 16


def _tree(config: DenseNetConfig = CONFIG) -> t7.T7Object:
    return densenet_checkpoint(config, seed=0)


def _through_a_file(root: t7.T7Object) -> t7.T7Object:
    return t7.loads(t7.dumps(root))


def _refused(root: t7.T7Object, *fragments: str) -> str:
    with pytest.raises(ConversionError) as caught:
        plan_conversion(_through_a_file(root))
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def _repeat_classifier(root: t7.T7Object, num_classes: int) -> None:
    """Make the classifier a zero-stride view: ``num_classes`` rows that are all one storage element."""
    linear = root["modules"][LINEAR]
    weight, bias = linear["weight"], linear["bias"]
    weight.size, weight.stride = (num_classes, weight.size[1]), (0, 0)
    bias.size, bias.stride = (num_classes,), (0,)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "zoo.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_zero_stride_checkpoint_through_the_cli_fails_with_one_line_and_leaves_nothing(tmp_path) -> None:
    """The 15 KB-style file of issue 9, item 1: it crashed ``convert`` (SIGSEGV) and left a ``.partial``."""
    root = _tree()
    _repeat_classifier(root, 1_000_000)
    source = tmp_path / "hostile.t7"
    t7.save(root, source)
    for command in (["inspect", "hostile.t7"], ["convert", "hostile.t7", "-o", "out.safetensors"]):
        result = _cli(*command, cwd=tmp_path)
        assert result.returncode == 1, (result.returncode, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
        assert "model.modules[16]" in errors[0] and "stride 0" in errors[0], errors[0]
        assert sorted(path.name for path in tmp_path.iterdir()) == ["hostile.t7"]


def test_a_tensor_of_2_40_elements_over_one_stored_element_is_refused_before_allocation(tmp_path) -> None:
    root = _tree()
    _repeat_classifier(root, 2**40 // 12)
    source = tmp_path / "huge.t7"
    t7.save(root, source)
    with pytest.raises(ConversionError, match=r"model\.modules\[16\].*'weight'.*stride 0"):
        convert_file(source, tmp_path / "out.safetensors")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["huge.t7"]


def _stride_zero(tensor: t7.T7Tensor) -> None:
    tensor.stride = (0,) * len(tensor.stride)


def _overlapping(tensor: t7.T7Tensor) -> None:
    tensor.stride = (1,) * len(tensor.stride)  # (a, b, ...) elements over max(a, b, ...) storage cells


@pytest.mark.parametrize(
    ("position", "field", "make_view", "fragment"),
    [
        (NORM0, "running_mean", _stride_zero, "stride 0 along dimension 1 of size 8"),
        (NORM0, "running_var", _stride_zero, "stride 0"),
        (NORM0, "weight", _stride_zero, "stride 0"),
        (STEM, "weight", _overlapping, "overlaps itself"),
        (TRANSITION, "weight", _overlapping, "overlaps itself"),
        (LINEAR, "weight", _overlapping, "overlaps itself"),
    ],
)
def test_parameter_and_statistic_views_must_have_their_own_elements(position, field, make_view, fragment) -> None:
    root = _tree()
    make_view(root["modules"][position][field])
    _refused(root, f"model.modules[{position}]:", f"'{field}'", fragment)


def test_a_view_beyond_its_storage_is_refused_even_when_built_in_python() -> None:
    root = _tree()  # the Torch7 reader refuses such a file; a tree built in Python reaches the converter
    weight = root["modules"][LINEAR]["weight"]
    weight.storage_offset = weight.storage.size - 3
    with pytest.raises(ConversionError, match=r"model\.modules\[16\].*reaches element"):
        plan_conversion(root)


def test_two_weights_reading_the_same_storage_elements_are_refused() -> None:
    """Pointing many tensors at one storage would make the output far larger than the file."""
    root = _tree()
    norm0, norm5 = root["modules"][NORM0], root["modules"][12]
    mean0, mean5 = norm0["running_mean"], norm5["running_mean"]
    mean0.storage, mean0.storage_offset = mean5.storage, mean5.storage_offset + 2
    _refused(root, "storage elements of its own", "model.modules[12]", "model.modules[2]")


@pytest.mark.parametrize(
    ("position", "field", "value", "fragment"),
    [
        (STEM, "kW", math.inf, "found float inf"),
        (STEM, "kW", 2**63, "found int 9223372036854775808"),
        (TRANSITION, "nInputPlane", math.nan, "found float nan"),
        (TRANSITION, "nOutputPlane", -1, "from 1 to"),
        (TRANSITION, "nOutputPlane", 2**31, "found int 2147483648"),
        (TRANSITION, "kH", 1.5, "found float 1.5"),
        (TRANSITION, "dW", True, "found bool True"),
        (MAXPOOL, "padW", "x", "found str 'x'"),
        (MAXPOOL, "kH", t7.T7Table({1: 3}), "found a Lua table"),
        (FINAL_POOL, "kW", None, "found nothing"),
    ],
)
def test_numeric_fields_must_be_whole_numbers_in_range(position, field, value, fragment) -> None:
    root = _tree()
    root["modules"][position].fields[field] = value
    _refused(root, f"model.modules[{position}]:", f"field '{field}'", fragment)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("eps", math.nan, "field 'eps'"),
        ("eps", math.inf, "field 'eps'"),
        ("eps", -1e-3, "eps >= 0"),
        ("running_mean", math.nan, "finite values in the BatchNorm running_mean, found nan at index 3"),
        ("running_var", math.inf, "finite values in the BatchNorm running_var, found inf at index 3"),
        ("running_var", -0.5, "variances >= 0"),
        ("running_mean", 1e300, "finite in float32"),
    ],
)
def test_batchnorm_eps_and_statistics_must_be_finite(field, value, fragment) -> None:
    root = densenet_checkpoint(CONFIG, seed=0, tensor_type="torch.DoubleTensor")
    norm = root["modules"][NORM0]
    if field == "eps":
        norm.fields["eps"] = value
    else:
        values = norm[field].numpy().copy()
        values[2] = value
        norm.fields[field] = t7.T7Tensor.from_numpy(values, norm[field].typename)
    _refused(root, "model.modules[2]:", fragment)


def test_a_running_std_of_zero_is_refused() -> None:
    root = _tree()
    norm = root["modules"][NORM0]
    norm.version = 1  # old nn: 1/sqrt(var + eps), so 0 is an infinite variance
    norm.fields["running_std"] = t7.T7Tensor.from_numpy(np.zeros(8, np.float32))
    del norm.fields["running_var"]
    _refused(root, "model.modules[2]:", "running_var that is finite in float32")


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_an_infinite_or_nan_running_std_is_refused(value) -> None:
    root = _tree()
    norm = root["modules"][NORM0]
    norm.version = 1
    running_std = np.ones(8, np.float32)
    running_std[3] = value
    norm.fields["running_std"] = t7.T7Tensor.from_numpy(running_std)
    del norm.fields["running_var"]
    _refused(root, "model.modules[2]:", "finite, positive BatchNorm running_std", "index 4")


def test_a_nan_convolution_bias_is_refused() -> None:
    root = _tree()
    conv = root["modules"][TRANSITION]
    conv.fields["bias"] = t7.T7Tensor.from_numpy(np.full(8, np.nan, np.float32))
    _refused(root, "model.modules[9]:", "convolution bias", "found nan at index 1")


@pytest.mark.parametrize("p", [math.nan, math.inf, 1.5, -0.1, "0.2"])
def test_dropout_probability_must_be_a_probability(p) -> None:
    root = _tree(CONFIG.replace(drop_rate=0.2))
    dropout = root["modules"][5]["modules"][1]["modules"][2]["modules"][4]
    assert dropout.typename == "nn.Dropout"
    dropout.fields["p"] = p
    _refused(root, "model.modules[5].modules[1].modules[2].modules[4]:", "'p'" if isinstance(p, str) else "p")


@pytest.mark.parametrize(
    ("lua_class", "ceil_mode", "refused"),
    [
        ("nn.SpatialMaxPooling", True, True),
        ("nn.SpatialMaxPooling", 0, False),  # nn hands ceil_mode to THNN through the LuaJIT FFI: 0 is false there
        ("cudnn.SpatialMaxPooling", 0, True),  # cudnn sizes the output in Lua: `if self.ceil_mode` is true for 0
    ],
)
def test_ceil_mode_is_read_as_the_lua_class_reads_it(lua_class: str, ceil_mode, refused: bool) -> None:
    """Ceil-mode max pooling is not what zoo.DenseNet computes."""
    root = _tree()
    pool = root["modules"][MAXPOOL]
    root["modules"][MAXPOOL] = t7.T7Object(lua_class, pool.fields, version=pool.version)
    pool.fields["ceil_mode"] = ceil_mode
    if refused:
        _refused(root, "model.modules[4]:", "ceil_mode")
    else:
        assert plan_conversion(root).config == CONFIG


def test_a_reshape_size_of_a_million_dimensions_is_refused() -> None:
    root = _tree()
    root["modules"][RESHAPE].fields["size"] = t7.T7Storage.from_numpy(np.ones(1_000_000, np.int64), "torch.LongStorage")
    _refused(root, "model.modules[15]:", "1 to 8 dimensions")


def test_an_empty_data_parallel_table_is_refused() -> None:
    wrapper = t7.T7Object("nn.DataParallelTable", t7.T7Table({"modules": t7.T7Table(), "train": True}))
    with pytest.raises(ConversionError, match="empty 'modules' list"):
        convert(wrapper)


def test_a_module_whose_fields_are_not_a_table_is_refused() -> None:
    root = _tree()
    root["modules"][3] = t7.T7Object("nn.ReLU", 5)  # only a tree built in Python: the reader refuses this
    with pytest.raises(ConversionError, match=r"model\.modules\[3\].*fields are int, not a table"):
        plan_conversion(root)


def test_convert_does_not_create_missing_directories_without_parents(tmp_path) -> None:
    source = tmp_path / "model.t7"
    t7.save(_tree(), source)
    runner = CliRunner()
    target = tmp_path / "missing" / "deeper" / "out.safetensors"
    result = runner.invoke(main, ["convert", str(source), "-o", str(target)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "--parents" in result.stderr, result.stderr
    assert not (tmp_path / "missing").exists()
    with pytest.raises(FileNotFoundError, match="parents=True"):
        convert_file(source, target)
    assert not (tmp_path / "missing").exists()
    result = runner.invoke(main, ["convert", str(source), "-o", str(target), "--parents"])
    assert result.exit_code == 0, result.output
    assert target.is_file()
    blocked = tmp_path / "model.t7" / "out.safetensors"  # a file where a directory is needed
    result = runner.invoke(main, ["convert", str(source), "-o", str(blocked)])
    assert result.exit_code == 1 and "is not a directory" in result.stderr
