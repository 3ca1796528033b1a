"""Create models by name, timm-style: ``create_model(name, pretrained=...)``."""

from __future__ import annotations

from typing import Any

from zoo.models.densenet import CIFAR_MODELS, MODEL_CONFIGS, NAMED_CONFIGS, DenseNet, DenseNetConfig

#: The class counts a CIFAR architecture is built with (CIFAR-10, CIFAR-100).
CIFAR_NUM_CLASSES = (10, 100)


def list_models(family: str | None = None) -> list[str]:
    """Names of the registry's models, grouped by family, or those of one ``family``; or the CIFAR architectures.

    ``list_models("densenet")`` gives the eight published DenseNets, in the order
    of the paper and tech report: the models :func:`create_model` builds. With
    no ``family``, every model of the manifest in use follows, grouped as
    ``densenet-zoo list`` shows them (fb.resnet.torch's ResNets, OpenFace,
    fast-neural-style): the models ``zoo.load`` loads.

    ``list_models("cifar")`` gives the nine CIFAR architectures of the published CIFAR and
    Wide-DenseNet tables, in table order: :func:`create_model` builds them (CIFAR-10 by default,
    ``num_classes=100`` for CIFAR-100), but they have no pretrained weights, so they are no registry
    family and not among the models ``zoo.load`` loads.
    """
    if family == "densenet":
        return list(MODEL_CONFIGS)
    if family == "cifar":
        return list(CIFAR_MODELS)
    from zoo.registry.manifest import load_manifest  # imported here: keeps the model layer free of the registry

    grouped = load_manifest().by_family()
    if family is not None:
        return grouped.get(family, [])
    return [name for names in grouped.values() for name in names]


def get_config(name: str) -> DenseNetConfig:
    """The architecture config of a named model; a clear KeyError for unknown names."""
    try:
        return NAMED_CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(NAMED_CONFIGS)}") from None


def _variants(name: str) -> list[DenseNetConfig]:
    """The configs ``name`` stands for: itself; a CIFAR one also with 100 classes and the Lua code's 2k stem."""
    config = NAMED_CONFIGS[name]
    if name not in CIFAR_MODELS:
        return [config]
    stems = {config.num_init_features, CIFAR_MODELS[name].lua_init_features}
    return [
        config.replace(num_classes=classes, num_init_features=stem) for classes in CIFAR_NUM_CLASSES for stem in stems
    ]


def matching_models(config: DenseNetConfig) -> list[str]:
    """Names of the DenseNets whose architecture is ``config``: the eight ImageNet ones, then the CIFAR ones.

    ``drop_rate`` is ignored: dropout has no weights, so a converted checkpoint
    cannot tell it; nor is ``bn_size`` without bottleneck layers (it builds nothing). Several
    names can match (densenet264 and densenet264_cosine differ only in their training schedule);
    none matches a custom architecture. A CIFAR architecture matches with 10 or 100 classes and with
    the paper's or the released Lua code's stem width (2k), as ``create_model(name, num_classes=...,
    num_init_features=...)`` builds it.
    """
    wanted = _ignoring_unseen(config)
    return [name for name in NAMED_CONFIGS if any(_ignoring_unseen(variant) == wanted for variant in _variants(name))]


def describe_matches(config: DenseNetConfig) -> list[str]:
    """:func:`matching_models` as ``inspect`` shows them: each name with the ``create_model`` overrides that
    build ``config`` (a CIFAR model's class count, or the released Lua code's 2k stem), e.g.
    ``densenet_l40_k12 (num_init_features=24: the released Lua code's stem)``."""
    labels = []
    for name in matching_models(config):
        named = NAMED_CONFIGS[name]
        overrides = []
        if config.num_init_features != named.num_init_features:
            overrides.append(f"num_init_features={config.num_init_features}: the released Lua code's stem")
        if config.num_classes != named.num_classes:
            overrides.append(f"num_classes={config.num_classes}")
        labels.append(f"{name} ({'; '.join(overrides)})" if overrides else name)
    return labels


def _ignoring_unseen(config: DenseNetConfig) -> DenseNetConfig:
    """``config`` with what its weights cannot show set to the defaults (drop rate; bn_size without bottleneck)."""
    config = config.replace(drop_rate=0.0)
    return config if config.bottleneck else config.replace(bn_size=DenseNetConfig.bn_size)


def create_model(
    name: str, pretrained: bool = False, memory_efficient: bool | str = False, **overrides: Any
) -> DenseNet:
    """Build the named DenseNet; ``overrides`` replace config fields (e.g. ``num_classes=10``).

    Only DenseNets are built here: the registry's other models (fb.resnet.torch's
    ResNets, OpenFace, fast-neural-style) are published networks, not configs,
    and ``create_model`` raises ``zoo.registry.RegistryError`` naming
    ``zoo.load(name)``, which returns them with their weights.

    With ``pretrained=True`` the published weights are fetched through the
    registry (downloaded, verified and converted once, then cached); the CIFAR
    architectures (:func:`list_models` ``("cifar")``) have none.
    ``memory_efficient`` (False, True/"balanced", "norm", "full") is a way of running the
    model, not part of its architecture: it goes to the ``DenseNet``
    constructor (or :meth:`DenseNet.set_memory_efficient` for pretrained
    models), never into the config.
    """
    if name not in NAMED_CONFIGS:
        _refuse_other_families(name)
    config = get_config(name)
    if overrides:
        config = config.replace(**overrides)
    if pretrained and name in CIFAR_MODELS:
        from zoo.registry.errors import UnknownModelError

        raise UnknownModelError(
            f"{name} has no pretrained weights: the published CIFAR models were not released as checkpoints; "
            f"build it with pretrained=False and train it (densenet-zoo train --arch {name}), or convert "
            "a CIFAR .t7 of your own with densenet-zoo convert"
        )
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
