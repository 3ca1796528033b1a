"""The architectures a weights manifest may name: the code is their one home, the manifest names them.

A manifest entry says ``"architecture": "densenet121"``, never the config
itself (like torchvision's and timm's weight tables, which point at model
builders). The published architectures are :data:`zoo.MODEL_CONFIGS` (DenseNets;
the CIFAR DenseNets of the published tables, :data:`zoo.CIFAR_CONFIGS`, too)
and :data:`zoo.registry.families.MODULE_ARCHITECTURES` (fb.resnet.torch's
ResNets, OpenFace, fast-neural-style); a custom manifest
(``DENSENET_ZOO_MANIFEST``) serving other models names architectures given to
:func:`register_architecture` first.
"""

from __future__ import annotations

import re

from zoo.models.densenet import NAMED_CONFIGS, DenseNetConfig
from zoo.registry.families import FAMILIES, MODULE_ARCHITECTURES, ModuleArchitecture

__all__ = [
    "NAME_PATTERN",
    "Architecture",
    "architecture_family",
    "architecture_names",
    "find_architecture",
    "register_architecture",
]

#: What an architecture name looks like.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
#: A DenseNet's config, or a published network that ``converters.load_module`` translates.
Architecture = DenseNetConfig | ModuleArchitecture
#: Architectures added with register_architecture, by name; the published ones are never here.
_REGISTERED: dict[str, Architecture] = {}


def register_architecture(name: str, architecture: Architecture) -> None:
    """Let a manifest entry name ``architecture`` as ``"architecture": name`` (e.g. your own fine-tuned models).

    ``architecture`` is a :class:`zoo.DenseNetConfig`, or a
    :class:`~zoo.registry.families.ModuleArchitecture` of a non-DenseNet family
    whose ``name`` is ``name``. Call it before the manifest is loaded. The
    published architectures cannot be redefined; registering a name again with
    the same architecture does nothing, with another raises ``ValueError``.
    """
    if not isinstance(architecture, (DenseNetConfig, ModuleArchitecture)):
        raise TypeError(
            f"expected a zoo.DenseNetConfig or a ModuleArchitecture for architecture {name!r}, "
            f"found {type(architecture).__name__}"
        )
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"architecture names are 1 to 64 lowercase letters, digits and '_' (starting with a letter or digit), "
            f"found {name!r}"
        )
    if isinstance(architecture, ModuleArchitecture):
        family = FAMILIES.get(architecture.family)
        if architecture.name != name or family is None or family.loader != "module":
            modules = [family.name for family in FAMILIES.values() if family.loader == "module"]
            raise ValueError(
                f"a ModuleArchitecture is registered under its own name ({architecture.name!r}, not {name!r}) and "
                f"belongs to one of the families {modules}, not {architecture.family!r}"
            )
    known = find_architecture(name)
    if known is not None and known != architecture:
        raise ValueError(
            f"architecture {name!r} is already {known.to_dict()}; register {architecture.to_dict()} as another name"
        )
    if name not in NAMED_CONFIGS and name not in MODULE_ARCHITECTURES:
        _REGISTERED[name] = architecture


def find_architecture(name: str) -> Architecture | None:
    """The architecture ``name`` (published or registered), or None when there is none."""
    for known in (NAMED_CONFIGS, MODULE_ARCHITECTURES, _REGISTERED):
        if name in known:
            return known[name]
    return None


def architecture_family(architecture: Architecture) -> str:
    """The family an architecture belongs to (``"densenet"`` for every DenseNetConfig)."""
    return architecture.family if isinstance(architecture, ModuleArchitecture) else "densenet"


def architecture_names() -> list[str]:
    """The names of every known architecture: the published ones, then those registered, in order."""
    return [*NAMED_CONFIGS, *MODULE_ARCHITECTURES, *_REGISTERED]
