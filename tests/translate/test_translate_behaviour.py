"""How converted modules behave: dtypes, training/evaluation modes as in Lua, laziness, names after the Lua tree."""

from __future__ import annotations

import collections
import json
from typing import ClassVar

import numpy as np
import pytest
import torch
from fixtures import fixture_path
from translate_cases import lua_to_torch, relative_difference, trap_tensors

from converters import lua_nn, t7
from converters.translate import load_module, translate

#: The fields a translator reads payloads of; every other tensor (gradients, buffers, outputs) stays unread.
WEIGHT_FIELDS = frozenset({"weight", "bias", "running_mean", "running_var"})


def _case(name: str) -> tuple[t7.T7Object, torch.Tensor, torch.Tensor]:
    def path(kind: str):
        return fixture_path("torch7", "nn_modules", f"{name}.{kind}.t7")

    return t7.load(path("net")), lua_to_torch(t7.load(path("input"))), lua_to_torch(t7.load(path("output")))


def _opencv(name: str) -> tuple[t7.T7Object, torch.Tensor, torch.Tensor]:
    def path(kind: str):
        return fixture_path("opencv_torch", f"{name}_{kind}.dat")

    return t7.load(path("net")), lua_to_torch(t7.load(path("input"))), lua_to_torch(t7.load(path("output")))


def _forward(module: torch.nn.Module, value):
    with torch.no_grad():
        return module(value)


# -- dtypes --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["SpatialConvolution_double", "Linear_double", "SpatialBatchNormalization_eps1e-3_double"]
)
def test_double_nets_run_in_float64_and_convert_on_request(name: str) -> None:
    root, inputs, expected = _case(name)
    module = load_module(root)
    assert {tensor.dtype for tensor in module.state_dict().values()} == {torch.float64}
    assert relative_difference(_forward(module, inputs), expected) <= 1e-13  # float32 arithmetic would give ~1e-7
    single = load_module(root, dtype=torch.float32)
    assert {tensor.dtype for tensor in single.state_dict().values()} == {torch.float32}
    assert relative_difference(_forward(single, inputs.float()), expected.float()) <= 1e-5


def test_float_nets_keep_float32_and_a_dtype_argument_must_be_floating() -> None:
    root, _, _ = _case("Sequential")
    assert {tensor.dtype for tensor in load_module(root).state_dict().values()} == {torch.float32}
    assert {tensor.dtype for tensor in load_module(root, torch.float64).state_dict().values()} == {torch.float64}
    with pytest.raises(ValueError, match="floating torch dtype"):
        load_module(root, dtype=torch.int64)


# -- modes ---------------------------------------------------------------------------------------------------
def _batch_norm(inputs: torch.Tensor, mean, variance, lua_module: t7.T7Object) -> torch.Tensor:
    """Lua's BatchNorm formula over (N, C, H, W), computed here from the Lua fields in float64."""
    weight, bias = (torch.from_numpy(np.array(lua_module[name].numpy(), np.float64)) for name in ("weight", "bias"))
    shape = (1, -1, 1, 1)
    normalised = (inputs.double() - mean.reshape(shape)) / torch.sqrt(variance.reshape(shape) + lua_module["eps"])
    return (normalised * weight.reshape(shape) + bias.reshape(shape)).float()


def test_each_module_gets_the_mode_saved_in_its_train_field() -> None:
    assert load_module(_case("SpatialBatchNormalization_train")[0]).training
    evaluated = load_module(_case("Sequential")[0])
    assert not any(module.training for module in evaluated.modules())


def test_eval_uses_running_statistics_like_lua_evaluate() -> None:
    root, inputs, expected = _case("SpatialBatchNormalization_train")
    module = load_module(root)
    mean, variance = (
        torch.from_numpy(np.array(root[name].numpy(), np.float64)) for name in ("running_mean", "running_var")
    )
    module.eval()
    assert relative_difference(_forward(module, inputs), _batch_norm(inputs, mean, variance, root)) <= 1e-5
    module.train()
    assert relative_difference(_forward(module, inputs), expected) <= 1e-5


def test_train_uses_and_updates_batch_statistics_like_lua_training() -> None:
    root, inputs, _ = _case("SpatialBatchNormalization_eval")
    module = load_module(root).train()
    old_mean = module.running_mean.clone()
    batch = inputs.double()
    mean, biased = batch.mean(dim=(0, 2, 3)), batch.var(dim=(0, 2, 3), unbiased=False)
    assert relative_difference(_forward(module, inputs), _batch_norm(inputs, mean, biased, root)) <= 1e-5
    assert torch.allclose(module.running_mean.double(), 0.9 * old_mean.double() + 0.1 * mean, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "kept_scale", "evaluation_scale"), [("Dropout_v1_eval", 1.0, 0.7), ("Dropout_v2_eval", 1 / 0.7, 1.0)]
)
def test_dropout_scales_as_its_lua_version_does(name: str, kept_scale: float, evaluation_scale: float) -> None:
    root, inputs, expected = _case(name)
    module = load_module(root)
    assert (
        torch.allclose(_forward(module, inputs), inputs * evaluation_scale)
        and relative_difference(_forward(module, inputs), expected) <= 1e-6
    )
    torch.manual_seed(0)
    dropped = _forward(module.train(), inputs.repeat(25, 1, 1))
    kept = dropped != 0
    assert 0.5 < kept.float().mean() < 0.9
    assert torch.allclose(dropped[kept], (inputs.repeat(25, 1, 1) * kept_scale)[kept])


def test_train_zero_is_true_for_lua_tests_but_false_when_it_crosses_the_ffi() -> None:
    dropout, inputs, _ = _case("Dropout_v2_eval")
    dropout.fields["train"] = 0  # how OpenCV's test nets were switched "off"
    assert load_module(dropout).training  # Lua: `if self.train` -> 0 is true
    pooling, inputs, _ = _case("SpatialMaxPooling_ceil")
    pooling.fields["ceil_mode"] = 0  # handed to THNN through the LuaJIT FFI: 0 is false
    assert _forward(load_module(pooling), inputs).shape == (2, 3, 3, 3)
    pooling.fields["ceil_mode"] = 1
    assert _forward(load_module(pooling), inputs).shape == (2, 3, 4, 4)


# -- laziness ------------------------------------------------------------------------------------------------
LAZY_CASES = ["Sequential", "nngraph_residual", "dpnn_Inception", "SpatialBatchNormalization_train", "Concat_dim2"]


@pytest.mark.parametrize("name", LAZY_CASES)
def test_translate_reads_no_tensor_payload(name: str) -> None:
    root, _, _ = _case(name)
    assert trap_tensors(root) > 0
    translation = translate(root)
    assert all(tensor.is_meta for tensor in translation.module.state_dict().values())
    assert translation.report.num_parameters == sum(tensor.numel() for tensor in translation.module.parameters())


@pytest.mark.parametrize("name", LAZY_CASES)
def test_load_module_reads_only_weights_and_statistics(name: str) -> None:
    root, inputs, expected = _case(name)
    planted = trap_tensors(root, keep=WEIGHT_FIELDS)
    assert planted > 0  # gradients, outputs, gradInputs, buffers
    module = load_module(root)
    assert not any(tensor.is_meta for tensor in module.state_dict().values())
    assert relative_difference(_forward(module, inputs), expected) <= 1e-5


class _CountedTensor(t7.T7Tensor):
    reads: ClassVar[collections.Counter[int]] = collections.Counter()

    def numpy(self) -> np.ndarray:
        _CountedTensor.reads[id(self)] += 1
        return super().numpy()


def _counted(tensor: t7.T7Tensor) -> _CountedTensor:
    return _CountedTensor(tensor.typename, tensor.size, tensor.stride, tensor.storage_offset, tensor.storage)


def test_a_lua_module_used_twice_is_one_pytorch_module_read_once() -> None:
    linear, inputs, _ = _case("Linear")  # nn.Linear(5, 3)
    linear.fields["weight"], linear.fields["bias"] = _counted(linear["weight"]), _counted(linear["bias"])
    doubling = t7.T7Object(
        "nn.Linear", t7.T7Table({"weight": _counted(t7.T7Tensor.from_numpy(np.eye(3, dtype=np.float32) * 2))})
    )
    root = t7.T7Object("nn.Sequential", t7.T7Table({"modules": t7.T7Table({1: linear, 2: doubling, 3: doubling})}))
    _CountedTensor.reads.clear()
    module = load_module(root)
    assert module[1] is module[2]
    assert sorted(module.state_dict()) == ["0.bias", "0.weight", "1.weight", "2.weight"]
    assert sorted(_CountedTensor.reads.values()) == [1, 1, 1]
    reference = torch.nn.functional.linear(inputs, module[0].weight, module[0].bias) * 4
    assert torch.allclose(_forward(module, inputs), reference)


# -- names ---------------------------------------------------------------------------------------------------
def test_submodules_are_named_after_the_lua_tree() -> None:
    translation = translate(_case("Sequential")[0])
    module = translation.module
    assert [name for name, _ in module.named_children()] == ["0", "1", "2", "3", "4", "5"]
    assert isinstance(module.get_submodule("0"), torch.nn.Conv2d)
    assert isinstance(module.get_submodule("4"), lua_nn.View)
    assert translation.report.lua_paths["5"] == "model.modules[6]" and translation.report.lua_paths[""] == "model"
    assert translation.sources["5.weight"].lua_path == "model.modules[6].weight"
    assert set(translation.sources) == {
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "5.weight",
        "5.bias",
    }
    assert translation.report.module_counts == {
        "nn.Sequential": 1,
        "nn.SpatialConvolution": 1,
        "nn.SpatialBatchNormalization": 1,
        "nn.ReLU": 1,
        "nn.SpatialMaxPooling": 1,
        "nn.View": 1,
        "nn.Linear": 1,
    }


def test_nested_and_graph_modules_are_named_after_their_lua_paths() -> None:
    inception = translate(_case("dpnn_Inception")[0])
    assert inception.report.lua_paths["0.1.0"] == "model.modules[1].modules[2].modules[1]"
    assert isinstance(inception.module.get_submodule("0.1.0"), torch.nn.Conv2d)
    graph = translate(_case("nngraph_residual")[0])
    assert isinstance(graph.module, lua_nn.Graph)
    assert {name: type(child).__name__ for name, child in graph.module.named_children()} == {
        "0": "Identity",
        "1": "Linear",
        "2": "ReLU",
        "3": "CAddTable",
    }
    assert graph.report.lua_paths["1"] == "model.modules[2]"


def test_torchfile_gmodule_with_two_inputs_and_a_split() -> None:
    root = t7.load(fixture_path("torch7", "torchfile", "gmodule_with_linear_identity.t7"))
    module = load_module(root)
    linear = next(lua for lua in root["modules"].as_list() if lua.typename == "nn.Linear")
    weight, bias = (torch.from_numpy(np.array(linear[name].numpy())) for name in ("weight", "bias"))
    first, second = (
        torch.randn(5, weight.shape[1], dtype=weight.dtype),
        torch.randn(5, weight.shape[0], dtype=weight.dtype),
    )
    # nngraph splits the input table: input 1 goes through Identity and Linear, input 2 through Identity,
    # and CAddTable adds them.
    assert torch.allclose(_forward(module, [first, second]), first @ weight.T + bias + second)
    with pytest.raises(ValueError, match="table of 2 inputs"):
        module([first])


def test_opencv_inception_block_reads_weights_once_and_matches() -> None:
    root, inputs, expected = _opencv("net_inception_block")
    trap_tensors(root, keep=WEIGHT_FIELDS)
    assert relative_difference(_forward(load_module(root), inputs), expected) <= 1e-12


# -- genuine DenseNet checkpoints through the general converter ----------------------------------------------
def test_genuine_densenet_checkpoint_reproduces_lua_without_reading_gradients() -> None:
    root = t7.load(fixture_path("torch7", "densenet", "tiny_std.t7"))
    assert trap_tensors(root, keep=WEIGHT_FIELDS) > 0
    module = load_module(root)
    assert module.training  # saved by train.lua with train = true; Lua's reference output is evaluate()'s
    inputs = lua_to_torch(t7.load(fixture_path("torch7", "densenet", "tiny_std.input.t7")))
    expected = lua_to_torch(t7.load(fixture_path("torch7", "densenet", "tiny_std.output.t7")))
    assert relative_difference(_forward(module.eval(), inputs), expected) <= 1e-5


def test_genuine_cifar_densenet_reproduces_lua() -> None:
    folder = fixture_path("torch7", "cifar")
    description = json.loads((folder / "cifar10_densenet_L40_k12.json").read_text())
    raw = {key: np.fromfile(folder / description[key]["raw"], "<f4") for key in ("input", "output")}
    inputs = torch.from_numpy(raw["input"].reshape(description["input"]["shape"]))
    expected = torch.from_numpy(raw["output"].reshape(description["output"]["shape"]))
    module = load_module(folder / description["model"]).eval()
    assert relative_difference(_forward(module, inputs), expected) <= 1e-5


def test_genuine_memory_efficient_densenet_reproduces_lua_with_every_batch_norm_evaluating() -> None:
    """tiny_custom's DenseConnectLayerCustom layers compute with net1/net2, which Lua's m:evaluate() does not reach
    after torch.load (they are not in `modules`); Lua's reference output is the one with every BN evaluating."""
    root = t7.load(fixture_path("torch7", "densenet", "tiny_custom.t7"))
    assert trap_tensors(root, keep=WEIGHT_FIELDS) > 0
    translation = translate(root)
    assert translation.report.lua_paths["4.net1.0"] == "model.modules[5].net1.modules[1]"
    module = translation.materialize()
    assert isinstance(module[4], lua_nn.DenseConnectLayerCustom) and module[4].net1[0].training
    inputs = lua_to_torch(t7.load(fixture_path("torch7", "densenet", "tiny_custom.input.t7")))
    expected = lua_to_torch(t7.load(fixture_path("torch7", "densenet", "tiny_custom.output.t7")))
    assert relative_difference(_forward(module.eval(), inputs), expected) <= 1e-5


# -- semantics the evaluation-mode fixtures do not show ----------------------------------------------------------
def test_instance_normalization_is_per_image_in_both_modes_not_nn_87268255s_affine_map() -> None:
    root, inputs, expected = _case("fns_InstanceNormalization")
    literal = lua_to_torch(
        t7.load(fixture_path("torch7", "nn_modules", "fns_InstanceNormalization.output_nn87268255.t7"))
    )
    module = load_module(root)
    for mode in (module.eval(), module.train()):
        assert relative_difference(_forward(mode, inputs), expected) <= 1e-5
    assert relative_difference(_forward(module, inputs), literal) > 0.1


def test_spatial_dropout_drops_whole_maps_unscaled_while_training() -> None:
    root, inputs, _ = _case("SpatialDropout_eval")  # p = 0.3
    torch.manual_seed(0)
    output = _forward(load_module(root).train(), inputs.repeat(20, 1, 1, 1))
    kept = output.flatten(2).ne(0).any(dim=2)
    assert torch.equal(output, inputs.repeat(20, 1, 1, 1) * kept[:, :, None, None])
    assert 0.55 < kept.float().mean() < 0.85


def test_rrelu_takes_its_mode_through_the_ffi_and_draws_slopes_while_training() -> None:
    root, _, _ = _case("RReLU_eval")  # RReLU(1/8, 1/3)
    root.fields["train"] = 0  # false for THNN
    assert not load_module(root).training
    root.fields["train"] = True
    torch.manual_seed(0)
    negative = -torch.rand(1000) - 0.1
    slopes = _forward(load_module(root), negative) / negative
    assert slopes.min() >= 1 / 8 - 1e-6 and slopes.max() <= 1 / 3 + 1e-6 and slopes.std() > 0.03


def test_gradient_reversal_and_l1_penalty_are_identities_with_lua_gradients() -> None:
    root, inputs, _ = _case("GradientReversal")  # lambda 0.5
    x = inputs.clone().requires_grad_()
    load_module(root)(x).sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, -0.5))
    root, inputs, _ = _case("L1Penalty")  # l1weight 0.1, provideOutput
    x = inputs.clone().requires_grad_()
    output = load_module(root)(x)
    assert torch.equal(output, inputs)
    (output * 2).sum().backward()
    assert torch.allclose(x.grad, 0.1 * inputs.sign() + 2)


def test_copy_follows_a_requested_dtype_like_lua_type_unless_dont_cast() -> None:
    root, inputs, _ = _case("Copy_float_to_double")
    assert _forward(load_module(root), inputs).dtype == torch.float64
    assert _forward(load_module(root, dtype=torch.float32), inputs).dtype == torch.float32
    root.fields["dontCast"] = True
    assert _forward(load_module(root, dtype=torch.float32), inputs).dtype == torch.float64


def test_lookup_table_with_max_norm_renormalises_the_rows_it_reads_like_lua() -> None:
    root, inputs, _ = _case("LookupTable")
    root.fields["maxNorm"] = 0.5
    module = load_module(root)
    output = _forward(module, inputs)
    assert output.norm(dim=-1).max() <= 0.5 + 1e-6
    used = inputs.unique() - 1
    assert torch.allclose(module.weight[used].norm(dim=1), torch.full((len(used),), 0.5), atol=1e-5)
