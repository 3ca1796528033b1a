"""The architectures a weights manifest may name: the code is their one home, the manifest names them.

A manifest entry says ``"architecture": "densenet121"``, never the config
itself (like torchvision's and timm's weight tables, which point at model
builders). The published architectures are :data:`zoo.MODEL_CONFIGS`; a
custom manifest (``DENSENET_ZOO_MANIFEST``) serving other models names
architectures given to :func:`register_architecture` first.
"""

from __future__ import annotations

import re

from zoo.models.densenet import MODEL_CONFIGS, DenseNetConfig

__all__ = ["NAME_PATTERN", "architecture_names", "find_architecture", "register_architecture"]

#: What a model or architecture name in a manifest looks like (it becomes part of cache file names).
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
#: Architectures added with register_architecture, by name; the published ones are never here.
_REGISTERED: dict[str, DenseNetConfig] = {}


def register_architecture(name: str, config: DenseNetConfig) -> None:
    """Let a manifest entry name ``config`` as ``"architecture": name`` (e.g. your own fine-tuned models).

    Call it before the manifest is loaded. The published architectures
    (``zoo.MODEL_CONFIGS``) cannot be redefined; registering a name again with
    the same config does nothing, with another config raises ``ValueError``.
    """
    if not isinstance(config, DenseNetConfig):
        raise TypeError(f"expected a zoo.DenseNetConfig for architecture {name!r}, found {type(config).__name__}")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"architecture names are 1 to 64 lowercase letters, digits and '_' (starting with a letter or digit), "
            f"found {name!r}"
        )
    known = find_architecture(name)
    if known is not None and known != config:
        raise ValueError(
            f"architecture {name!r} is already {known.to_dict()}; register {config.to_dict()} as another name"
        )
    if name not in MODEL_CONFIGS:
        _REGISTERED[name] = config


def find_architecture(name: str) -> DenseNetConfig | None:
    """The config of the architecture ``name`` (published or registered), or None when there is none."""
    return MODEL_CONFIGS.get(name, _REGISTERED.get(name))


def architecture_names() -> list[str]:
    """The names of every known architecture: the published ones, then those registered, in order."""
    return [*MODEL_CONFIGS, *_REGISTERED]
