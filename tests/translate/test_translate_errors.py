"""What the general converter refuses, and how: unknown classes (all at once), hostile fields, broken trees.

Every refusal is a ConversionError naming the Lua path; user translators
extend the registry through ``converters.register_module``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from fixtures import fixture_path

import converters
from converters import t7
from converters.errors import ConversionError, UnsupportedModuleError
from converters.translate import TRANSLATORS, load_module, translate, translator_for


def _module(typename: str, **fields) -> t7.T7Object:
    return t7.T7Object(typename, t7.T7Table({"train": False, **fields}))


def _container(typename: str, *children: t7.T7Object, **fields) -> t7.T7Object:
    return _module(typename, modules=t7.T7Table({index + 1: child for index, child in enumerate(children)}), **fields)


def _genuine(name: str) -> t7.T7Object:
    return t7.load(fixture_path("torch7", "nn_modules", f"{name}.net.t7"))


def test_every_unsupported_class_is_listed_at_once_with_its_lua_paths() -> None:
    root = _container(
        "nn.Sequential",
        _module("nn.Tanh"),
        _module("nn.FooBar"),
        _container("nn.Sequential", _module("nn.Baz"), _module("cudnn.FooBar")),
        _container("nn.MyContainer", _module("nn.FooBar"), _module("nn.ReLU")),
    )
    with pytest.raises(UnsupportedModuleError) as raised:
        translate(root)
    assert raised.value.unsupported == {
        "cudnn.FooBar": ["model.modules[3].modules[2]"],
        "nn.Baz": ["model.modules[3].modules[1]"],
        "nn.FooBar": ["model.modules[2]", "model.modules[4].modules[1]"],
        "nn.MyContainer": ["model.modules[4]"],
    }
    message = str(raised.value)
    assert "nn.Baz at model.modules[3].modules[1]" in message
    assert "nn.FooBar at model.modules[2], model.modules[4].modules[1]" in message
    assert "converters.register_module(" in message
    assert isinstance(raised.value, ConversionError)


def test_a_class_met_many_times_is_listed_once_with_a_count_beyond_five_paths() -> None:
    root = _container("nn.Sequential", *[_module("nn.Mystery") for _ in range(7)])
    with pytest.raises(UnsupportedModuleError, match=r"nn\.Mystery at model\.modules\[1\], .* and 2 more") as raised:
        translate(root)
    assert len(raised.value.unsupported["nn.Mystery"]) == 7


class Scale(torch.nn.Module):
    """A user's runtime module: ``x * weight``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(size))

    def forward(self, input):
        return input * self.weight


def translate_scale(lua_module, ctx) -> torch.nn.Module:
    weight = ctx.tensor("weight", ndim=(1,))
    module = Scale(weight.shape[0])
    ctx.assign(module, "weight", weight)
    return module


@pytest.fixture
def registered_scale():
    converters.register_module("nn.MyScale", translate_scale)
    yield
    del TRANSLATORS["nn.MyScale"]


def test_register_module_adds_a_users_class(registered_scale) -> None:
    weight = np.array([2.0, -1.0, 0.5], np.float64)
    root = _container("nn.Sequential", _module("nn.MyScale", weight=t7.T7Tensor.from_numpy(weight)), _module("nn.Tanh"))
    module = converters.load_module(root)
    assert isinstance(module[0], Scale) and module[0].weight.dtype == torch.float64
    x = torch.randn(4, 3, dtype=torch.float64)
    assert torch.allclose(module(x), torch.tanh(x * torch.from_numpy(weight)))
    assert translator_for("cudnn.MyScale") is translate_scale


def test_register_module_refuses_to_replace_silently(registered_scale) -> None:
    with pytest.raises(ValueError, match="already has a translator"):
        converters.register_module("nn.MyScale", translate_scale)
    converters.register_module("nn.MyScale", translate_scale, replace=True)
    with pytest.raises(ValueError, match="Lua class name"):
        converters.register_module("MyScale", translate_scale)


def test_gpu_namesakes_use_the_nn_translator_unless_registered_themselves() -> None:
    assert translator_for("cudnn.ReLU") is TRANSLATORS["nn.ReLU"]
    assert translator_for("cunn.SpatialConvolution") is TRANSLATORS["nn.SpatialConvolution"]
    assert translator_for("cudnn.SpatialAveragePooling") is not TRANSLATORS["nn.SpatialAveragePooling"]
    assert translator_for("xx.ReLU") is None and translator_for(None) is None


HOSTILE_FIELDS = [
    ("SpatialMaxPooling_floor", "kW", math.inf, "whole number from 1 to 2147483647 in field 'kW'.*found float inf"),
    ("SpatialMaxPooling_floor", "kW", 2.5, "whole number from 1 to 2147483647 in field 'kW'.*found float 2.5"),
    ("SpatialMaxPooling_floor", "dH", 0, "whole number from 1 to 2147483647 in field 'dH'.*found int 0"),
    ("SpatialMaxPooling_floor", "padW", "x", "whole number from 0 to 2147483647 in field 'padW'.*found str 'x'"),
    ("SpatialMaxPooling_floor", "kH", 2**40, "whole number from 1 to 2147483647 in field 'kH'"),
    ("SpatialConvolution_k3", "nInputPlane", math.nan, "whole number from 1 to 2147483647 in field 'nInputPlane'"),
    ("SpatialConvolution_k3", "nOutputPlane", 5, r"expected a weight of size \(5, 3, 3, 3\)"),
    ("SpatialConvolution_k3", "padW", True, "whole number from 0 to 2147483647 in field 'padW'.*found bool True"),
    ("SpatialBatchNormalization_eval", "eps", math.nan, "expected a finite number in field 'eps'"),
    ("SpatialBatchNormalization_eval", "running_var", None, "expected BatchNorm field 'running_var'"),
    ("Dropout_v2_eval", "p", 1.5, "expected a dropout probability"),
    ("View_batch", "size", t7.T7Table({1: 3, 2: "2"}), "expected whole numbers from -2147483648 to .*found str '2'"),
    ("Reshape_batch", "batchMode", 1, "expected a boolean in field 'batchMode'"),
    ("Linear", "weight", "not a tensor", "expected field 'weight' of nn.Linear to be a tensor"),
    ("Linear", "bias", t7.T7Tensor.from_numpy(np.zeros(4, np.float32)), r"to have size \(3,\), found \(4,\)"),
    ("Linear", "weight", t7.T7Tensor.from_numpy(np.zeros((3, 5), np.int64)), "floating-point 'weight'"),
    ("Narrow", "dimension", 0, "1-based .* in field 'dimension' of nn.Narrow, found 0"),
    ("Transpose", "permutations", t7.T7Table({1: t7.T7Table({1: 2})}), "pairs of dimensions >= 1"),
    ("Squeeze_dim", "dim", -1, "whole number from 1 to .* in field 'dim'"),
    ("TemporalConvolution", "kW", 4, r"to have size \(3, 16\), found \(3, 12\)"),
    ("HardTanh_range", "max_val", -3, "expected min_val < max_val"),
    ("Copy_float_to_double", "output", None, "expected field 'output' of nn.Copy to be a tensor"),
    ("SpatialUpSamplingBilinear_size", "owidth", math.inf, "field 'owidth'"),
    ("RReLU_eval", "lower", 0.5, "lower <= upper"),
    ("Sum", "dimension", 0, "1-based .* in field 'dimension' of nn.Sum"),
    ("LookupTable", "maxNorm", -1, "positive maxNorm"),
]


@pytest.mark.parametrize(("case", "field", "value", "message"), HOSTILE_FIELDS)
def test_hostile_fields_give_a_conversion_error_at_the_lua_path(case, field, value, message) -> None:
    root = _container("nn.Sequential", _module("nn.Identity"), _genuine(case))
    root["modules"][2].fields[field] = value
    with pytest.raises(ConversionError, match=message) as raised:
        load_module(root)
    assert raised.value.path == "model.modules[2]"


@pytest.mark.parametrize(("stride", "problem"), [((0, 1), "stride 0 along"), ((1, 1), "overlap")])
def test_weights_that_repeat_storage_elements_are_refused(stride, problem) -> None:
    root = _genuine("Sequential")
    linear = root["modules"][6]
    weight = linear["weight"]
    linear.fields["weight"] = t7.T7Tensor(weight.typename, weight.size, stride, 0, weight.storage)
    with pytest.raises(ConversionError, match=problem) as raised:
        translate(root)
    assert raised.value.path == "model.modules[6]" and "'weight'" in str(raised.value)


def test_a_module_tree_that_contains_itself_is_refused() -> None:
    inner = _container("nn.Sequential", _module("nn.Tanh"))
    outer = _container("nn.Sequential", inner)
    inner["modules"][2] = outer
    with pytest.raises(ConversionError, match="contains itself") as raised:
        translate(outer)
    assert raised.value.path == "model.modules[1].modules[2]"


@pytest.mark.parametrize(
    ("child", "message"),
    [
        (t7.T7Table({"weight": 1}), "expected a Torch7 module, found a Lua table"),
        (3, "expected a Torch7 module"),
        (t7.T7Object("nn.Linear", 5), "expected a Torch7 module, found nn.Linear whose fields are int, not a table"),
    ],
)
def test_a_container_entry_that_is_not_a_module_is_refused(child, message) -> None:
    root = _container("nn.Sequential", _module("nn.Tanh"), child)
    with pytest.raises(ConversionError, match=message) as raised:
        translate(root)
    assert raised.value.path == "model.modules[2]"


def test_a_graph_whose_nodes_are_not_in_topological_order_is_refused() -> None:
    root = _genuine("nngraph_residual")
    nodes = root["forwardnodes"]
    nodes[2], nodes[3] = nodes[3], nodes[2]
    with pytest.raises(ConversionError, match="not topologically sorted") as raised:
        translate(root)
    assert raised.value.path.startswith("model.forwardnodes[")


def test_a_graph_node_whose_module_is_not_in_the_modules_list_is_refused() -> None:
    root = _genuine("nngraph_residual")
    del root["modules"][4], root["modules"][3]
    with pytest.raises(ConversionError, match="not in the gModule's modules list"):
        translate(root)


def test_a_user_translator_that_forgets_a_tensor_is_caught(registered_scale) -> None:
    TRANSLATORS["nn.MyScale"] = lambda lua_module, ctx: Scale(3)
    with pytest.raises(ConversionError, match=r"without a source \['weight'\]"):
        translate(_module("nn.MyScale"))


def test_whole_lua_numbers_stored_as_doubles_are_integers() -> None:
    """Lua numbers are doubles: a field holding 3.0 (or -0.0) is the integer a C ``int`` argument receives."""
    root = _genuine("SpatialMaxPooling_floor")
    root.fields["kW"], root.fields["padW"] = float(root["kW"]), -0.0
    module = translate(root).module
    assert (module.kW, module.padW) == (3, 0) and isinstance(module.kW, int)
