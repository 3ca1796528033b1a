"""Create models by name, timm-style: ``create_model(name, pretrained=...)``."""

from __future__ import annotations

from typing import Any

from zoo.models.densenet import MODEL_CONFIGS, DenseNet, DenseNetConfig


def list_models() -> list[str]:
    """Names of the eight published DenseNet models, in the order of the paper and tech report."""
    return list(MODEL_CONFIGS)


def get_config(name: str) -> DenseNetConfig:
    """The architecture config of a named model; a clear KeyError for unknown names."""
    try:
        return MODEL_CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODEL_CONFIGS)}") from None


def matching_models(config: DenseNetConfig) -> list[str]:
    """Names of the published models whose architecture is ``config``, in :func:`list_models` order.

    ``drop_rate`` is ignored: dropout has no weights, so a converted checkpoint
    cannot tell it. Several names can match (densenet264 and densenet264_cosine
    differ only in their training schedule); none matches a custom architecture.
    """
    return [
        name for name, published in MODEL_CONFIGS.items() if published.replace(drop_rate=config.drop_rate) == config
    ]


def create_model(
    name: str, pretrained: bool = False, memory_efficient: bool | str = False, **overrides: Any
) -> DenseNet:
    """Build the named DenseNet; ``overrides`` replace config fields (e.g. ``num_classes=10``).

    With ``pretrained=True`` the published weights are fetched through the
    registry (downloaded, verified and converted once, then cached).
    ``memory_efficient`` (False, True/"balanced", "norm", "full") is a way of running the
    model, not part of its architecture: it goes to the ``DenseNet``
    constructor (or :meth:`DenseNet.set_memory_efficient` for pretrained
    models), never into the config.
    """
    config = get_config(name)
    if overrides:
        config = config.replace(**overrides)
    if pretrained:
        from zoo.registry import load_pretrained  # imported here: keeps the model layer free of the registry

        model = load_pretrained(name, config=config)
        return model.set_memory_efficient(memory_efficient) if memory_efficient else model
    return DenseNet(config, memory_efficient=memory_efficient)
