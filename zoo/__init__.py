"""densenet-zoo: the original Lua Torch7 DenseNet ImageNet models in PyTorch.

The public API lives here. Every name is resolved on first use (PEP 562), so
``import zoo`` and the ``densenet-zoo`` command start without importing torch;
``zoo.DenseNet`` or ``from zoo import create_model`` imports the model layer
then. The registry, data, evaluation and training layers are imported inside
the functions that need them, and the model layer never imports them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from densenet_zoo_util.lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    import torch

    from zoo.factory import create_model, get_config, list_models, matching_models
    from zoo.models.densenet import CIFAR_CONFIGS, CIFAR_MODELS, MODEL_CONFIGS, DenseNet, DenseNetConfig

# Public name -> the module that defines it.
_LAZY_EXPORTS = {
    "CIFAR_CONFIGS": "zoo.models.densenet",
    "CIFAR_MODELS": "zoo.models.densenet",
    "MODEL_CONFIGS": "zoo.models.densenet",
    "DenseNet": "zoo.models.densenet",
    "DenseNetConfig": "zoo.models.densenet",
    "create_model": "zoo.factory",
    "get_config": "zoo.factory",
    "list_models": "zoo.factory",
    "matching_models": "zoo.factory",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)


def load(name: str, device: torch.device | str | None = None) -> torch.nn.Module:
    """The published model ``name`` with its pretrained weights, in eval mode (``zoo.load("densenet264")``).

    Downloads and verifies the weights once, then uses the cache. A DenseNet is a :class:`DenseNet`;
    the registry's other models (``zoo.load("resnet50")``, ``"nn4.small2.v1"``, ``"instance_norm_candy"``)
    are the Torch7 networks translated by ``converters.load_module``, checked to be the published
    architecture (see ``zoo.list_models()``). ``zoo.load("hf-hub:ORG/REPO")`` loads a Hugging Face Hub
    repository written by ``densenet-zoo export-hub`` (needs ``pip install 'densenet-zoo[hub]'``).
    See :mod:`zoo.registry`.
    """
    from zoo.registry import load as registry_load

    return registry_load(name, device=device)


def load_weights(path: str | os.PathLike[str], device: torch.device | str | None = None) -> DenseNet:
    """A model (eval mode) from a .t7 checkpoint, a converted .safetensors/.pth file or a torchvision .pth."""
    from zoo.registry import load_weights as registry_load_weights

    return registry_load_weights(path, device=device)


def transforms(name: str | None = None, kind: str = "torch7", ten_crop: bool = False) -> Callable[[Any], Any]:
    """Evaluation preprocessing for ``name``: path/PIL/tensor -> ``[3,224,224]`` (``[10,3,224,224]`` with ten_crop).

    ``kind="torch7"`` reproduces fb.resnet.torch (the published errors); ``"torchvision"`` is
    torchvision's standard pipeline. See :func:`zoo.data.transforms`.
    """
    from zoo.data import transforms as build_transforms

    return build_transforms(name, kind=kind, ten_crop=ten_crop)


__all__ = [
    "CIFAR_CONFIGS",
    "CIFAR_MODELS",
    "MODEL_CONFIGS",
    "DenseNet",
    "DenseNetConfig",
    "__version__",
    "create_model",
    "get_config",
    "list_models",
    "load",
    "load_weights",
    "matching_models",
    "transforms",
]
