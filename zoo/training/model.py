"""The network a training run trains: a registry model, a recipe net, an explicit config, or earlier weights.

Kept apart from the loop (:mod:`zoo.training.engine`) because it answers one question, which
network, for a fresh run and for a resumed one alike.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from zoo.models.densenet import DenseNet, DenseNetConfig, lua_init_
from zoo.training.config import TrainConfig

__all__ = ["build_model", "replace_classifier"]


def replace_classifier(model: DenseNet, num_classes: int) -> DenseNet:
    """A fresh ``num_classes``-way classifier (Lua init: U(+-1/sqrt(fan_in)) weight, zero bias)."""
    classifier = nn.Linear(model.classifier.in_features, num_classes)
    lua_init_(classifier)
    model.classifier = classifier
    model.config = model.config.replace(num_classes=num_classes)
    return model


def _densenet(config: DenseNetConfig, memory_efficient: bool) -> DenseNet:
    return DenseNet(config, memory_efficient=True) if memory_efficient else DenseNet(config)


def _with_drop_rate(model: DenseNet, drop_rate: float) -> DenseNet:
    """``model``'s weights in the same architecture with another dropout rate (dropout has no weights)."""
    rebuilt = DenseNet(model.config.replace(drop_rate=drop_rate), init_weights=False)
    rebuilt.load_state_dict(model.state_dict(), strict=True, assign=True)
    return rebuilt


def build_model(config: TrainConfig, num_classes: int, model_config: dict[str, Any] | None = None) -> DenseNet:
    """The network of a run: the weights of an earlier run or a converted checkpoint (``init_weights``, any
    file ``zoo.load_weights`` reads, in the architecture the file holds), an explicit config, a named recipe
    net, or a registry model (optionally pretrained). Pretrained and initial weights get a fresh classifier
    when ``num_classes`` differs, and ``drop_rate`` when the run sets one.

    ``model_config`` (from a checkpoint) wins over everything, so a resumed
    fine-tuning run rebuilds its replaced classifier without downloading.
    """
    from zoo.factory import create_model, get_config
    from zoo.training.recipe import TRAINING_ARCHS

    if model_config is not None:
        return _densenet(DenseNetConfig.from_dict(model_config), config.memory_efficient)
    overrides: dict[str, Any] = {}
    if config.drop_rate is not None:
        overrides["drop_rate"] = config.drop_rate
    if config.init_weights:
        from zoo import load_weights

        model = load_weights(config.init_weights)
        if config.drop_rate is not None and config.drop_rate != model.config.drop_rate:
            model = _with_drop_rate(model, config.drop_rate)
        if config.memory_efficient:
            model.set_memory_efficient(True)
        if model.config.num_classes != num_classes:
            replace_classifier(model, num_classes)
        return model
    if config.model_config is not None:
        architecture = DenseNetConfig.from_dict(config.model_config).replace(num_classes=num_classes, **overrides)
        return _densenet(architecture, config.memory_efficient)
    if config.arch in TRAINING_ARCHS:
        architecture = TRAINING_ARCHS[config.arch].replace(num_classes=num_classes, **overrides)
        return _densenet(architecture, config.memory_efficient)
    get_config(config.arch)  # a clear error for unknown names
    if config.memory_efficient:
        overrides["memory_efficient"] = True
    if config.pretrained:
        model = create_model(config.arch, pretrained=True, **overrides)
        if model.config.num_classes != num_classes:
            replace_classifier(model, num_classes)
        return model
    return create_model(config.arch, num_classes=num_classes, **overrides)
