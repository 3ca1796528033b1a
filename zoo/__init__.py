"""densenet-zoo: the original Lua Torch7 DenseNet ImageNet models in PyTorch.

The public API lives here. The model layer is imported first and stays free of
the layers above it; heavier parts (registry, data, evaluation, training) are
imported inside the functions that need them so that ``import zoo`` is fast.
"""

__version__ = "0.1.0"

from zoo.models.densenet import MODEL_CONFIGS, DenseNet, DenseNetConfig  # noqa: E402
from zoo.factory import create_model, get_config, list_models  # noqa: E402


def load(name, device=None):
    """The published model ``name`` with its pretrained weights, in eval mode (``zoo.load("densenet264")``).

    Downloads, verifies and converts the weights once, then uses the cache. See :mod:`zoo.registry`.
    """
    from zoo.registry import load as registry_load

    return registry_load(name, device=device)


def load_weights(path, device=None):
    """A model (eval mode) from a .t7 checkpoint, a converted .safetensors/.pth file or a torchvision .pth."""
    from zoo.registry import load_weights as registry_load_weights

    return registry_load_weights(path, device=device)


def transforms(name=None, kind="torch7", ten_crop=False):
    """Evaluation preprocessing for ``name``: path/PIL/tensor -> ``[3,224,224]`` (``[10,3,224,224]`` with ten_crop).

    ``kind="torch7"`` reproduces fb.resnet.torch (the published errors); ``"torchvision"`` is
    torchvision's standard pipeline. See :func:`zoo.data.transforms`.
    """
    from zoo.data import transforms as build_transforms

    return build_transforms(name, kind=kind, ten_crop=ten_crop)


__all__ = ["MODEL_CONFIGS", "DenseNet", "DenseNetConfig", "create_model", "get_config", "list_models", "load", "load_weights", "transforms", "__version__"]
