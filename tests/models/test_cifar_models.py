"""The named CIFAR architectures of the published tables (issue 11, items 1 and 2)."""

from __future__ import annotations

import pytest
import torch
from published import CIFAR_PARAMETER_COUNTS, PUBLISHED_PARAMETER_COUNTS

import zoo
from zoo import CIFAR_CONFIGS, CIFAR_MODELS, DenseNet
from zoo.models.densenet import cifar_config
from zoo.registry import UnknownModelError
from zoo.registry.architectures import architecture_names, find_architecture, register_architecture
from zoo.training.recipe import TRAINING_ARCHS


def _count(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@pytest.mark.parametrize("name", list(CIFAR_PARAMETER_COUNTS))
def test_parameter_counts_of_built_models_equal_the_published_table_and_the_lua_code(name):
    stem, c10, c100, lua_c10, lua_c100 = CIFAR_PARAMETER_COUNTS[name]
    growth_rate = CIFAR_MODELS[name].growth_rate
    with torch.device("meta"):  # shapes only
        built = {
            "paper": (zoo.create_model(name), zoo.create_model(name, num_classes=100)),
            "lua": (
                zoo.create_model(name, num_init_features=2 * growth_rate),
                zoo.create_model(name, num_classes=100, num_init_features=2 * growth_rate),
            ),
        }
    assert built["paper"][0].features.conv0.out_channels == stem
    assert [_count(model) for model in built["paper"]] == [c10, c100]
    assert [_count(model) for model in built["lua"]] == [lua_c10, lua_c100]
    assert [model.classifier.out_features for model in built["paper"]] == [10, 100]


def test_list_models_names_the_cifar_architectures_apart_from_the_registry_models():
    assert zoo.list_models("cifar") == list(CIFAR_PARAMETER_COUNTS)
    assert zoo.list_models("densenet") == list(PUBLISHED_PARAMETER_COUNTS)
    assert not set(zoo.list_models()) & set(CIFAR_PARAMETER_COUNTS)  # zoo.load has no weights for them


@pytest.mark.parametrize("name", list(CIFAR_PARAMETER_COUNTS))
def test_named_configs_follow_the_lua_rules(name):
    model = CIFAR_MODELS[name]
    config = zoo.get_config(name)
    assert config == CIFAR_CONFIGS[name] == model.config
    bottleneck = model.family != "DenseNet"
    layers = (model.depth - 4) // (6 if bottleneck else 3)
    assert (config.block_config, config.growth_rate, config.bottleneck) == (
        (layers,) * 3,
        model.growth_rate,
        bottleneck,
    )
    assert (config.compression, config.stem, config.num_classes) == (0.5 if bottleneck else 1.0, "cifar", 10)
    assert model.title == f"{model.family} (L={model.depth}, k={model.growth_rate})"
    depth = 1 + len(config.block_config) - 1 + sum(config.block_config) * (2 if bottleneck else 1) + 1
    assert depth == model.depth  # L counts the stem, every layer's convolutions, the transitions and the classifier


def test_cifar_config_refuses_depths_the_lua_rules_do_not_give():
    assert cifar_config(40, 12, bottleneck=False).block_config == (12, 12, 12)
    for depth, bottleneck in ((41, False), (42, True), (4, True), (True, False), (40.0, False)):
        with pytest.raises(ValueError, match="depth L with L-4 divisible"):
            cifar_config(depth, 12, bottleneck=bottleneck)


def test_the_original_densenet_keeps_every_channel_and_classifies_cifar_images():
    model = zoo.create_model("densenet_l40_k12", num_classes=100).eval()
    assert [model.features.transition1.conv.out_channels, model.features.transition2.conv.out_channels] == [160, 304]
    assert model.config.num_features == 448
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_matching_models_names_a_cifar_architecture_with_either_stem_and_either_class_count():
    for name, config in CIFAR_CONFIGS.items():
        variants = (
            config,
            config.replace(num_classes=100, drop_rate=0.2),
            config.replace(num_init_features=2 * config.growth_rate),
        )
        assert all(zoo.matching_models(variant) == [name] for variant in variants), name
    original = CIFAR_CONFIGS["densenet_l40_k12"]
    assert zoo.matching_models(original.replace(bn_size=2)) == ["densenet_l40_k12"]  # no bottleneck: bn_size unseen
    assert zoo.matching_models(original.replace(num_init_features=20)) == []
    assert zoo.matching_models(original.replace(num_classes=7)) == []
    assert zoo.matching_models(original.replace(compression=0.5)) == []
    assert zoo.matching_models(zoo.get_config("densenet121").replace(num_classes=10)) == []


def test_cifar_architectures_have_no_pretrained_weights():
    with pytest.raises(UnknownModelError, match="densenet_bc_l100_k12 has no pretrained weights.*--arch"):
        zoo.create_model("densenet_bc_l100_k12", pretrained=True)


def test_the_registry_knows_the_cifar_architectures_and_protects_them():
    assert find_architecture("wide_densenet_bc_l40_k48") == CIFAR_CONFIGS["wide_densenet_bc_l40_k48"]
    assert architecture_names()[:17] == [*zoo.list_models("densenet"), *zoo.list_models("cifar")]
    register_architecture("densenet_l40_k12", CIFAR_CONFIGS["densenet_l40_k12"])  # the same config: nothing
    with pytest.raises(ValueError, match="already"):
        register_architecture("densenet_l40_k12", CIFAR_CONFIGS["densenet_l40_k12"].replace(num_classes=100))


def test_the_older_training_name_is_an_alias_of_the_named_config():
    assert TRAINING_ARCHS["densenet_bc_100_12_cifar"] is CIFAR_CONFIGS["densenet_bc_l100_k12"]


def test_the_memory_efficient_flag_reaches_named_cifar_models():
    model = zoo.create_model("densenet_l40_k12", memory_efficient="norm")
    assert model.memory_efficient == "norm" and model.config == CIFAR_CONFIGS["densenet_l40_k12"]
    assert isinstance(model, DenseNet)
