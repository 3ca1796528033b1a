"""Checkpoint variants the original code and older Torch7 versions produce."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lua_reference import lua_forward, relative_error

from converters import t7
from converters.densenet import convert
from converters.synthetic.densenet import densenet_checkpoint
from zoo import DenseNet, DenseNetConfig

CONFIG = DenseNetConfig(growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=6)
IMAGES = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(5))


def _modules(root: t7.T7Object, kind: str, mirrors: bool = True) -> list[t7.T7Object]:
    """Every module whose class name ends with ``kind`` (walking modules, net1 and net2).

    ``mirrors=False`` skips the ``modules`` copies of a DenseConnectLayerCustom's net1/net2.
    """
    found, stack, seen = [], [root], set()
    while stack:
        lua_module = stack.pop()
        if id(lua_module) in seen:
            continue
        seen.add(id(lua_module))
        if lua_module.typename.endswith(kind):
            found.append(lua_module)
        for name in ("modules", "net1", "net2"):
            if name == "modules" and not mirrors and "net1" in lua_module:
                continue
            value = lua_module.get(name)
            if isinstance(value, t7.T7Object):
                stack.append(value)
            elif isinstance(value, t7.T7Table):
                stack.extend(value.values())
    return found


def _output(conversion) -> torch.Tensor:
    model = DenseNet(conversion.config)
    model.load_state_dict(conversion.state_dict, strict=True)
    with torch.no_grad():
        return model.eval()(IMAGES)


def _assert_matches_reference(root: t7.T7Object) -> None:
    conversion = convert(root)
    assert relative_error(_output(conversion), lua_forward(root, IMAGES.double())) <= 1e-5


@pytest.mark.parametrize("layout", ["standard", "custom"])
def test_batchnorm_with_running_std_from_old_nn(layout: str, tmp_path) -> None:
    root = densenet_checkpoint(CONFIG, layout=layout, seed=1)
    expected = convert(root).state_dict
    for norm in _modules(root, "SpatialBatchNormalization"):
        variance = norm["running_var"].numpy().astype(np.float64)
        running_std = (1.0 / np.sqrt(variance + norm["eps"])).astype(np.float32)
        norm.fields["running_std"] = t7.T7Tensor.from_numpy(running_std, "torch.FloatTensor")
        del norm.fields["running_var"]
        norm.version = 1
    path = tmp_path / "old_bn.t7"
    t7.save(root, path)
    reloaded = t7.load(path)
    conversion = convert(reloaded)
    assert conversion.report.batchnorm_format == "running_std"
    for key, tensor in expected.items():
        torch.testing.assert_close(conversion.state_dict[key], tensor, rtol=2e-6, atol=1e-7, msg=key)
    assert relative_error(_output(conversion), lua_forward(reloaded, IMAGES.double())) <= 1e-5


def test_running_std_in_a_version_2_batchnorm_is_refused() -> None:
    from converters import ConversionError

    root = densenet_checkpoint(CONFIG, seed=1)
    norm = root["modules"][2]
    norm.fields["running_std"] = norm.fields.pop("running_var")
    with pytest.raises(ConversionError, match=r"model\.modules\[2\].*running_var"):
        convert(root)


@pytest.mark.parametrize("tensor_type", ["torch.DoubleTensor", "torch.CudaTensor"])
@pytest.mark.parametrize("layout", ["standard", "custom"])
def test_double_and_cuda_checkpoints(tensor_type: str, layout: str, tmp_path) -> None:
    path = tmp_path / "typed.t7"
    t7.save(densenet_checkpoint(CONFIG, layout=layout, seed=2, tensor_type=tensor_type), path)
    conversion = convert(path)
    assert set(conversion.report.tensor_types) == {tensor_type}
    reference = convert(densenet_checkpoint(CONFIG, layout=layout, seed=2)).state_dict
    for key, tensor in conversion.state_dict.items():
        assert tensor.dtype == reference[key].dtype
        assert torch.equal(tensor, reference[key]), key


def _add_conv_biases(root: t7.T7Object, scale: float) -> int:
    rng = np.random.default_rng(0)
    convs = _modules(root, "SpatialConvolution", mirrors=False)
    for conv in convs:
        bias = (rng.standard_normal(conv["nOutputPlane"]) * scale).astype(np.float32)
        conv.fields["bias"] = t7.T7Tensor.from_numpy(bias, "torch.FloatTensor")
    return len(convs)


@pytest.mark.parametrize("layout", ["standard", "custom"])
def test_nonzero_conv_biases_are_folded_into_batchnorm(layout: str) -> None:
    root = densenet_checkpoint(CONFIG, layout=layout, seed=3)
    count = _add_conv_biases(root, 0.5)
    conversion = convert(root)
    assert conversion.report.conv_biases_folded == count and conversion.report.conv_biases_dropped == 0
    assert not any("conv" in key and key.endswith("bias") for key in conversion.state_dict)
    _assert_matches_reference(root)


def test_zero_conv_biases_are_dropped() -> None:
    root = densenet_checkpoint(CONFIG, seed=3)
    count = _add_conv_biases(root, 0.0)
    conversion = convert(root)
    assert conversion.report.conv_biases_dropped == count and conversion.report.conv_biases_folded == 0
    assert torch.equal(
        conversion.state_dict["features.norm5.running_mean"],
        convert(densenet_checkpoint(CONFIG, seed=3)).state_dict["features.norm5.running_mean"],
    )


def test_batchnorm_eps_other_than_pytorch_default_is_absorbed() -> None:
    root = densenet_checkpoint(CONFIG, seed=4)
    for norm in _modules(root, "SpatialBatchNormalization"):
        norm.fields["eps"] = 1e-3
    conversion = convert(root)
    assert any("eps" in note for note in conversion.report.notes)
    _assert_matches_reference(root)


@pytest.mark.parametrize("layout", ["standard", "custom"])
def test_dropout_rate_is_inferred_and_inactive_in_evaluation(layout: str) -> None:
    root = densenet_checkpoint(CONFIG.replace(drop_rate=0.3), layout=layout, seed=5)
    conversion = convert(root)
    assert conversion.config.drop_rate == 0.3
    assert conversion.report.dropout_modules == (2 * sum(CONFIG.block_config) + 1 if layout == "standard" else 1)
    _assert_matches_reference(root)


class _UnreadableTensor(t7.T7Tensor):
    def numpy(self):
        raise AssertionError("a gradient payload was read")

    def torch(self):
        raise AssertionError("a gradient payload was read")


def test_gradient_payloads_are_never_read() -> None:
    root = densenet_checkpoint(CONFIG, layout="custom", seed=6)
    trapped = 0
    for kind in ("SpatialConvolution", "SpatialBatchNormalization", "Linear"):
        for lua_module in _modules(root, kind):
            for name in ("gradWeight", "gradBias"):
                grad = lua_module.get(name)
                if grad is not None:
                    lua_module.fields[name] = _UnreadableTensor(
                        grad.typename, grad.size, grad.stride, grad.storage_offset, grad.storage
                    )
                    trapped += 1
    assert trapped > 0
    conversion = convert(root)
    assert conversion.report.ignored_fields["gradWeight"] > 0


def test_data_parallel_table_wrapper_is_unwrapped() -> None:
    root = densenet_checkpoint(CONFIG, seed=7)
    wrapper = t7.T7Object("nn.DataParallelTable", t7.T7Table({"modules": t7.T7Table({1: root}), "train": True}))
    assert convert(wrapper).config == CONFIG
    root["modules"][3] = t7.T7Object("nn.Tanh", t7.T7Table({"train": True}))
    from converters import ConversionError

    with pytest.raises(ConversionError, match=r"model\.modules\[1\]\.modules\[3\]"):
        convert(wrapper)


def test_old_spatial_convolution_mm_with_2d_weights() -> None:
    root = densenet_checkpoint(CONFIG, seed=8)
    expected = convert(root).state_dict
    for conv in _modules(root, "SpatialConvolution"):
        weight = conv["weight"]
        flat_size = (weight.size[0], weight.numel() // weight.size[0])
        conv.fields["weight"] = t7.T7Tensor(
            weight.typename, flat_size, (flat_size[1], 1), weight.storage_offset, weight.storage
        )
        conv.typename = "nn.SpatialConvolutionMM"
    conversion = convert(root)
    assert conversion.report.module_counts["nn.SpatialConvolutionMM"] > 0
    assert all(torch.equal(tensor, expected[key]) for key, tensor in conversion.state_dict.items())


def test_batchnorm_without_affine_parameters_gets_identity_scale() -> None:
    root = densenet_checkpoint(CONFIG, seed=9)
    norm = root["modules"][2]
    for name in ("weight", "bias", "gradWeight", "gradBias"):
        del norm.fields[name]
    norm.fields["affine"] = False
    conversion = convert(root)
    assert torch.equal(conversion.state_dict["features.norm0.weight"], torch.ones(CONFIG.num_init_features))
    assert torch.equal(conversion.state_dict["features.norm0.bias"], torch.zeros(CONFIG.num_init_features))
    _assert_matches_reference(root)
