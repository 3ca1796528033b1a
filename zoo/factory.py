"""Create models by name, timm-style: ``create_model(name, pretrained=...)``."""

from __future__ import annotations

from typing import Any

from zoo.models.densenet import MODEL_CONFIGS, DenseNet, DenseNetConfig


def list_models(family: str | None = None) -> list[str]:
    """Names of the registry's models, grouped by family, or those of one ``family``.

    ``list_models("densenet")`` gives the eight published DenseNets, in the order
    of the paper and tech report: the models :func:`create_model` builds. With
    no ``family``, every model of the manifest in use follows, grouped as
    ``densenet-zoo list`` shows them (fb.resnet.torch's ResNets, OpenFace,
    fast-neural-style): the models ``zoo.load`` loads.
    """
    if family == "densenet":
        return list(MODEL_CONFIGS)
    from zoo.registry.manifest import load_manifest  # imported here: keeps the model layer free of the registry

    grouped = load_manifest().by_family()
    if family is not None:
        return grouped.get(family, [])
    return [name for names in grouped.values() for name in names]


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

    Only DenseNets are built here: the registry's other models (fb.resnet.torch's
    ResNets, OpenFace, fast-neural-style) are published networks, not configs,
    and ``create_model`` raises ``zoo.registry.RegistryError`` naming
    ``zoo.load(name)``, which returns them with their weights.

    With ``pretrained=True`` the published weights are fetched through the
    registry (downloaded, verified and converted once, then cached).
    ``memory_efficient`` (False, True/"balanced", "norm", "full") is a way of running the
    model, not part of its architecture: it goes to the ``DenseNet``
    constructor (or :meth:`DenseNet.set_memory_efficient` for pretrained
    models), never into the config.
    """
    if name not in MODEL_CONFIGS:
        _refuse_other_families(name)
    config = get_config(name)
    if overrides:
        config = config.replace(**overrides)
    if pretrained:
        from zoo.registry import load_pretrained  # imported here: keeps the model layer free of the registry

        model = load_pretrained(name, config=config)
        return model.set_memory_efficient(memory_efficient) if memory_efficient else model
    return DenseNet(config, memory_efficient=memory_efficient)


def _refuse_other_families(name: str) -> None:
    """Raise the registry's clear error when ``name`` is a registry model of a family other than DenseNet."""
    from zoo.registry.loading import densenet_entry
    from zoo.registry.manifest import load_manifest

    manifest = load_manifest()
    if name in manifest:
        densenet_entry(manifest, name)
