"""Classes without a genuine fixture (cudnn namesakes whose semantics differ from nn's, DataParallelTable, THNN
window rules) reproduce the independent float64 reference ``lua_reference.lua_forward`` on trees built here."""

from __future__ import annotations

import pytest
import torch
from built_trees import BUILT_CASES, module, sample, tensor
from convert.lua_reference import lua_forward
from translate_cases import relative_difference

from converters import lua_nn
from converters.errors import ConversionError
from converters.translate import load_module, translate


def _forward(torch_module: torch.nn.Module, value):
    with torch.no_grad():
        return torch_module(value)


@pytest.mark.parametrize("name", list(BUILT_CASES))
def test_built_tree_reproduces_the_reference(name: str) -> None:
    root, inputs = BUILT_CASES[name]()
    converted = load_module(root)
    assert {tensor.dtype for tensor in converted.state_dict().values()} <= {torch.float64}
    assert relative_difference(_forward(converted, inputs), lua_forward(root, inputs)) <= 1e-12


def test_cudnn_softmax_normalises_each_image_as_a_whole_unlike_nn() -> None:
    inputs = sample(2, 3, 4, 4)
    instance = _forward(load_module(module("cudnn.SoftMax")), inputs)
    channels = _forward(load_module(module("nn.SoftMax")), inputs)
    assert torch.allclose(instance.sum(dim=(1, 2, 3)), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(channels.sum(dim=1), torch.ones(2, 4, 4, dtype=torch.float64))
    assert not torch.allclose(instance, channels)


def test_cudnn_batch_norm_trains_on_a_batch_of_one_with_its_statistics_nn_with_the_running_ones() -> None:
    inputs = sample(1, 3, 4, 4)
    mean, variance = inputs.mean(dim=(0, 2, 3)), inputs.var(dim=(0, 2, 3), unbiased=False)
    expected = (inputs - mean.reshape(1, -1, 1, 1)) / (variance.reshape(1, -1, 1, 1) + 1e-5).sqrt()
    fields = dict(train=True, eps=1e-5, momentum=0.1, running_mean=tensor(3), running_var=tensor(3, low=0.5, high=2.0))
    cudnn = load_module(module("cudnn.SpatialBatchNormalization", **fields))
    assert torch.allclose(_forward(cudnn, inputs), expected)
    nn = load_module(module("nn.SpatialBatchNormalization", **fields))
    assert not torch.allclose(_forward(nn, inputs), expected)


def test_adaptive_max_pooling_uses_thnn_windows_where_torch_differs() -> None:
    root, inputs = BUILT_CASES["nn.SpatialAdaptiveMaxPooling_13"]()
    builtin = torch.nn.functional.adaptive_max_pool2d(inputs, (6, 13))
    assert not torch.equal(builtin, lua_forward(root, inputs))  # so the test above can tell them apart
    assert torch.equal(_forward(load_module(root), inputs), lua_forward(root, inputs))


def test_data_parallel_table_becomes_its_model_named_after_it() -> None:
    root, inputs = BUILT_CASES["nn.DataParallelTable"]()
    translation = translate(root)
    assert isinstance(translation.module, torch.nn.Sequential)
    assert sorted(translation.sources) == ["0.bias", "0.weight"]
    assert translation.report.lua_paths[""] == "model.modules[1]"
    assert translation.report.lua_paths["0"] == "model.modules[1].modules[1]"
    root.typename = "cunn.DataParallelTable"  # a GPU namesake resolves to the nn class's translator
    assert torch.equal(_forward(load_module(root), inputs), _forward(translation.materialize(), inputs))


def test_cudnn_volumetric_pooling_in_ceil_mode_is_refused() -> None:
    root, _ = BUILT_CASES["cudnn.VolumetricMaxPooling"]()
    root.fields["ceil_mode"] = True
    with pytest.raises(ConversionError, match="ceil mode is not supported") as raised:
        translate(root)
    assert raised.value.path == "model"


def test_cudnn_lrn_reads_the_old_capital_k() -> None:
    old = translate(module("cudnn.SpatialCrossMapLRN", size=4, alpha=1e-4, beta=0.75, K=2.0)).module
    assert isinstance(old, lua_nn.SpatialCrossMapLRN) and (old.k, old.look_behind) == (2.0, 1)


def test_an_unknown_cudnn_softmax_mode_is_refused() -> None:
    with pytest.raises(ConversionError, match="expected a cuDNN softmax mode in field 'mode'"):
        translate(module("cudnn.SpatialSoftMax", mode="CUDNN_SOFTMAX_MODE_BOGUS"))
