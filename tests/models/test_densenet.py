"""The DenseNet definition: published sizes, torchvision compatibility, Lua behaviour."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from published import PUBLISHED_PARAMETER_COUNTS
from torch import nn
from torch.overrides import TorchFunctionMode

import zoo
from zoo import MODEL_CONFIGS, DenseNet, DenseNetConfig
from zoo.models.densenet import num_parameters, state_dict_mismatch, state_dict_shapes

TORCHVISION_NAMES = ("densenet121", "densenet169", "densenet201", "densenet161")


def tiny_config(**changes) -> DenseNetConfig:
    config = DenseNetConfig(growth_rate=4, block_config=(2, 3, 2), num_init_features=8, num_classes=5)
    return config.replace(**changes)


@pytest.fixture(scope="module")
def densenet121() -> DenseNet:
    torch.manual_seed(0)
    return DenseNet(MODEL_CONFIGS["densenet121"])


def test_the_eight_published_models_are_listed_in_order():
    assert zoo.list_models("densenet") == list(PUBLISHED_PARAMETER_COUNTS)


@pytest.mark.parametrize("name", list(PUBLISHED_PARAMETER_COUNTS))
def test_parameter_count_matches_published_model(name):
    with torch.device("meta"):  # shapes only: no memory, no initialisation work
        model = DenseNet(MODEL_CONFIGS[name])
    assert sum(parameter.numel() for parameter in model.parameters()) == PUBLISHED_PARAMETER_COUNTS[name]


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_state_dict_keys_and_shapes_equal_torchvision(name):
    import torchvision  # a dependency: never skipped

    with torch.device("meta"):
        ours = DenseNet(MODEL_CONFIGS[name]).state_dict()
        theirs = getattr(torchvision.models, name)().state_dict()
    assert list(ours) == list(theirs)
    assert {key: tuple(value.shape) for key, value in ours.items()} == {
        key: tuple(value.shape) for key, value in theirs.items()
    }


def test_densenet121_loads_strictly_into_torchvision_and_gives_identical_outputs(densenet121):
    import torchvision  # a dependency: never skipped

    model = copy.deepcopy(densenet121)
    # Non-trivial BN statistics so that eval mode really uses them.
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    reference = torchvision.models.densenet121()
    reference.load_state_dict(model.state_dict(), strict=True)
    model.eval()
    reference.eval()
    images = torch.randn(2, 3, 64, 64, generator=generator)
    with torch.no_grad():
        ours = model(images)
        theirs = reference(images)
    assert ours.shape == (2, 1000)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_initialisation_follows_the_lua_code(densenet121):
    model = densenet121
    convs = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
    assert len(convs) == 1 + 2 * sum(model.config.block_config) + len(model.config.block_config) - 1
    for conv in convs:
        assert conv.bias is None
        expected_std = math.sqrt(2.0 / (conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels))
        weight = conv.weight.detach()
        # The sample std of n normal draws has relative error ~ 1/sqrt(2n); n >= 4096 here.
        assert weight.std().item() == pytest.approx(expected_std, rel=0.05)
        assert abs(weight.mean().item()) < 5 * expected_std / math.sqrt(weight.numel())
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.bias, torch.zeros_like(module.bias))
            assert torch.equal(module.running_mean, torch.zeros_like(module.running_mean))
            assert torch.equal(module.running_var, torch.ones_like(module.running_var))
            assert (module.eps, module.momentum) == (1e-5, 0.1)
    classifier = model.classifier
    assert torch.equal(classifier.bias, torch.zeros_like(classifier.bias))
    bound = 1.0 / math.sqrt(classifier.in_features)
    assert classifier.weight.abs().max().item() <= bound
    assert classifier.weight.abs().max().item() > 0.9 * bound


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"growth_rate": 0}, "growth_rate"),
        ({"block_config": ()}, "block_config"),
        ({"block_config": (6, 0)}, "block_config"),
        ({"num_init_features": 0}, "num_init_features"),
        ({"bn_size": 0}, "bn_size"),
        ({"compression": 0.0}, "compression"),
        ({"compression": 1.5}, "compression"),
        ({"drop_rate": 1.0}, "drop_rate"),
        ({"drop_rate": -0.1}, "drop_rate"),
        ({"num_classes": 0}, "num_classes"),
        ({"stem": "mnist"}, "stem"),
        # types (issue 9): ints are ints, block_config a list of ints, rates finite numbers
        ({"growth_rate": "32"}, "growth_rate must be an integer from 1 to 1024, got '32'"),
        ({"growth_rate": 1.5}, "growth_rate must be an integer.*got 1.5"),
        ({"growth_rate": 32.0}, "growth_rate must be an integer.*got 32.0"),
        ({"bn_size": True}, "bn_size must be an integer.*got True"),
        ({"num_classes": None}, "num_classes"),
        ({"block_config": "abc"}, "block_config must be a list of layer counts, got 'abc'"),
        ({"block_config": "612"}, "block_config must be a list"),
        ({"block_config": 6}, "block_config must be a list"),
        ({"block_config": {"a": 1}}, "block_config must be a list"),
        ({"block_config": (6, 1.5)}, "block_config must be a list of 1 to 16 integer layer counts"),
        ({"block_config": (6, "12")}, "block_config"),
        ({"compression": "0.5"}, "compression must be a number"),
        ({"compression": math.nan}, "compression"),
        ({"drop_rate": math.inf}, "drop_rate"),
        ({"drop_rate": False}, "drop_rate"),
        ({"stem": ["imagenet"]}, "stem"),
        # upper bounds: nothing absurd is built from a config read from a file
        ({"block_config": (20000,)}, "each from 1 to 500, got \\(20000,\\)"),
        ({"block_config": (1,) * 17}, "1 to 16"),
        ({"block_config": range(10**12)}, "block_config"),
        ({"growth_rate": 10**6}, "growth_rate"),
        ({"num_init_features": 2**31}, "num_init_features"),
        ({"bn_size": 65}, "bn_size"),
        ({"num_classes": 10**9}, "num_classes"),
        # a bool is a bool: no 1, no "false" (which is truthy), no numpy.bool_
        ({"bottleneck": 1}, "bottleneck must be True or False, got 1"),
        ({"bottleneck": "false"}, "bottleneck must be True or False, got 'false'"),
        ({"bottleneck": None}, "bottleneck must be True or False, got None"),
        ({"bottleneck": torch.tensor(True).numpy()[()]}, "bottleneck must be True or False"),
    ],
)
def test_invalid_config_is_refused_with_a_message_naming_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        DenseNetConfig(**changes)


def test_config_problems_are_all_named_and_kept_short():
    with pytest.raises(ValueError) as caught:
        DenseNetConfig(growth_rate="x" * 10_000, block_config=list(range(100_000)), stem=None)
    message = str(caught.value)
    assert "growth_rate" in message and "block_config" in message and "stem" in message
    assert len(message) < 1000


def test_config_normalises_numbers_to_python_types():
    config = DenseNetConfig(
        growth_rate=torch.tensor(4).numpy()[()], block_config=[2, 3], compression=1, drop_rate=0, num_classes=10
    )
    assert type(config.growth_rate) is int and config.block_config == (2, 3)
    assert type(config.compression) is float and type(config.drop_rate) is float
    assert DenseNetConfig.from_dict(json.loads(config.to_json())) == config


@pytest.mark.parametrize("value", [None, [1, 2], "config", 3])
def test_from_dict_refuses_what_is_not_a_dict(value):
    with pytest.raises(ValueError, match="dict"):
        DenseNetConfig.from_dict(value)


@pytest.mark.parametrize(
    "config",
    [
        tiny_config(),
        tiny_config().replace(stem="cifar", drop_rate=0.2, compression=0.7),
        tiny_config().replace(stem="cifar", bottleneck=False, compression=1.0),
        tiny_config().replace(bottleneck=False, bn_size=1),
        MODEL_CONFIGS["densenet121"],
        MODEL_CONFIGS["densenet161"],
    ],
)
def test_state_dict_shapes_are_those_of_the_built_model_in_order(config):
    model = DenseNet(config, init_weights=False)
    built = model.state_dict()
    shapes = state_dict_shapes(config)
    assert list(shapes) == list(built)
    assert all(shapes[key] == tuple(tensor.shape) for key, tensor in built.items())
    assert num_parameters(config) == sum(parameter.numel() for parameter in model.parameters())


def test_state_dict_mismatch_names_missing_unexpected_misshapen_and_wrongly_typed_tensors():
    config = tiny_config()
    state_dict = DenseNet(config).state_dict()
    assert state_dict_mismatch(config, state_dict) is None
    without_counters = {key: value for key, value in state_dict.items() if "num_batches_tracked" not in key}
    assert state_dict_mismatch(config, without_counters) is None
    broken = dict(state_dict)
    del broken["features.norm5.running_var"]
    broken["features.extra"] = torch.zeros(1)
    broken["classifier.bias"] = torch.zeros(3)
    broken["classifier.weight"] = broken["classifier.weight"].int()
    broken["features.norm5.num_batches_tracked"] = torch.zeros(())
    problem = state_dict_mismatch(config, broken)
    for fragment in (
        "missing 1 keys (first: ['features.norm5.running_var'])",
        "unexpected 1 keys",
        "1 shape mismatches (first: ['classifier.bias (3,)",
        "2 tensors of the wrong kind",
        "classifier.weight torch.int32",
        "features.norm5.num_batches_tracked torch.float32",
    ):
        assert fragment in problem, problem
    no_classifier = {key: value for key, value in state_dict.items() if not key.startswith("classifier.")}
    assert state_dict_mismatch(config, no_classifier, optional_prefix="classifier.") is None


def test_config_round_trips_through_dict_and_refuses_unknown_keys():
    config = MODEL_CONFIGS["densenet161"].replace(drop_rate=0.1, num_classes=10)
    assert DenseNetConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["block_config"] == [6, 12, 36, 24]
    original = config.replace(bottleneck=False, compression=1.0)
    assert json.loads(original.to_json())["bottleneck"] is False
    assert DenseNetConfig.from_dict(json.loads(original.to_json())) == original
    older = {key: value for key, value in config.to_dict().items() if key != "bottleneck"}
    assert DenseNetConfig.from_dict(older) == config  # files written before the field existed: DenseNet-BC
    with pytest.raises(ValueError, match="unknown DenseNetConfig keys"):
        DenseNetConfig.from_dict({**config.to_dict(), "depth": 161})


def test_transitions_keep_floor_of_compressed_width():
    config = DenseNetConfig(growth_rate=5, block_config=(3, 3, 3), num_init_features=7, compression=0.5)
    # 7 + 15 = 22 -> 11; 11 + 15 = 26 -> 13; 13 + 15 = 28
    assert config.block_widths() == [(7, 22), (11, 26), (13, 28)]
    model = DenseNet(config)
    assert model.features.transition1.conv.out_channels == 11
    assert model.features.transition2.conv.out_channels == 13
    assert model.classifier.in_features == 28 == config.num_features


def test_cifar_stem_is_one_3x3_convolution_and_keeps_resolution():
    # DenseNet-BC (L=100, k=12) of the CIFAR experiments: 0.8M parameters in the paper.
    config = DenseNetConfig(
        growth_rate=12, block_config=(16, 16, 16), num_init_features=24, num_classes=10, stem="cifar"
    )
    model = DenseNet(config)
    stem = [name for name, _ in model.features.named_children()][:2]
    assert stem == ["conv0", "denseblock1"]
    conv0 = model.features.conv0
    assert (conv0.kernel_size, conv0.stride, conv0.padding, conv0.bias) == ((3, 3), (1, 1), (1, 1), None)
    assert sum(parameter.numel() for parameter in model.parameters()) == 769_162
    model.eval()
    with torch.no_grad():
        images = torch.randn(2, 3, 32, 32)
        assert model.forward_features(images).shape == (2, 342, 8, 8)
        assert model(images).shape == (2, 10)


class _OpRecorder(TorchFunctionMode):
    """Records the torch functions a forward pass calls, in order."""

    NAMES = frozenset({"conv2d", "batch_norm", "relu", "dropout", "max_pool2d", "avg_pool2d", "cat", "linear"})

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.NAMES:
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


def test_dropout_follows_both_convolutions_and_the_transition_convolution_as_in_lua():
    # models/DenseConnectLayer.lua (standard layer) and models/densenet.lua (addTransition):
    # Conv1x1 -> Dropout -> BN ...; Conv3x3 -> Dropout; transition Conv1x1 -> Dropout -> AvgPool.
    model = DenseNet(tiny_config(block_config=(1, 1), drop_rate=0.2)).train()
    recorder = _OpRecorder()
    with recorder:
        model(torch.randn(2, 3, 32, 32))
    layer = ["batch_norm", "relu", "conv2d", "dropout", "batch_norm", "relu", "conv2d", "dropout", "cat"]
    assert recorder.calls == [
        "conv2d",
        "batch_norm",
        "relu",
        "max_pool2d",  # stem
        *layer,
        "batch_norm",
        "relu",
        "conv2d",
        "dropout",
        "avg_pool2d",  # transition1
        *layer,
        "batch_norm",
        "relu",
        "linear",  # norm5, relu, classifier
    ]


def test_a_layer_without_bottleneck_is_bn_relu_conv3x3_with_dropout_after_it_as_in_lua():
    # DenseConnectLayerStandard with opt.bottleneck false: BN, ReLU, Conv3x3(k), Dropout.
    config = tiny_config(block_config=(1, 1), drop_rate=0.2, stem="cifar", bottleneck=False, compression=1.0)
    model = DenseNet(config).train()
    layer = model.features.denseblock1.denselayer1
    assert [name for name, _ in layer.named_children()] == ["norm1", "relu1", "conv1"]
    conv = layer.conv1
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding) == (8, 4, (3, 3), (1, 1))
    assert model.features.transition1.conv.out_channels == 12  # compression 1 keeps every channel
    recorder = _OpRecorder()
    with recorder:
        model(torch.randn(2, 3, 32, 32))
    layer_calls = ["batch_norm", "relu", "conv2d", "dropout", "cat"]
    transition = ["batch_norm", "relu", "conv2d", "dropout", "avg_pool2d"]
    assert recorder.calls == ["conv2d", *layer_calls, *transition, *layer_calls, "batch_norm", "relu", "linear"]


def test_lua_initialisation_of_a_layer_without_bottleneck():
    torch.manual_seed(0)
    model = DenseNet(DenseNetConfig(growth_rate=64, block_config=(2,), stem="cifar", bottleneck=False))
    conv = model.features.denseblock1.denselayer2.conv1
    # ConvInit: N(0, sqrt(2 / (kW * kH * nOutputPlane))) = sqrt(2 / 576) for the 3x3 convolution to k = 64
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / (9 * 64)), rel=0.05)


def test_dropout_is_active_in_training_only():
    torch.manual_seed(0)
    dropping = DenseNet(tiny_config(drop_rate=0.5))
    plain = DenseNet(tiny_config())
    plain.load_state_dict(dropping.state_dict())
    images = torch.randn(2, 3, 32, 32)
    dropping.eval()
    plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(dropping(images), plain(images), rtol=0, atol=0)
    dropping.train()
    plain.train()
    with torch.no_grad():
        assert not torch.allclose(dropping(images), plain(images))


def test_create_model_passes_overrides_to_the_config_and_memory_efficient_to_the_model():
    model = zoo.create_model("densenet121", num_classes=10, memory_efficient=True)
    assert model.config == MODEL_CONFIGS["densenet121"].replace(num_classes=10)
    assert model.memory_efficient == "balanced"
    assert zoo.create_model("densenet121").memory_efficient is None
    with pytest.raises(KeyError, match="densenet121"):
        zoo.create_model("densenet122")
    with pytest.raises(TypeError, match="memory_efficent"):
        zoo.create_model("densenet121", memory_efficent=True)  # a typo is not silently ignored


def test_init_weights_false_builds_shapes_only_and_needs_every_tensor():
    config = tiny_config()
    torch.manual_seed(0)
    source = DenseNet(config).eval()
    empty = DenseNet(config, init_weights=False)
    assert {key: value.shape for key, value in empty.state_dict().items()} == {
        key: value.shape for key, value in source.state_dict().items()
    }
    assert {value.device.type for value in empty.state_dict().values()} == {"meta"}

    loaded = DenseNet(config, init_weights=False)
    loaded.load_state_dict(source.state_dict(), strict=True, assign=True)
    assert {value.device.type for value in loaded.state_dict().values()} == {"cpu"}
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(images), source(images))

    partial = {key: value for key, value in source.state_dict().items() if key != "features.norm5.running_var"}
    with pytest.raises(RuntimeError, match="features.norm5.running_var"):
        DenseNet(config, init_weights=False).load_state_dict(partial, strict=True, assign=True)
    leftover = DenseNet(config, init_weights=False)
    leftover.load_state_dict(partial, strict=False, assign=True)
    with pytest.raises((RuntimeError, NotImplementedError)):  # the tensor without values is never computed with
        leftover.eval()(images)
