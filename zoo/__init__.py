"""densenet-zoo: the original Lua Torch7 DenseNet ImageNet models in PyTorch.

The public API lives here. The model layer is imported first and stays free of
the layers above it; heavier parts (registry, data, evaluation, training) are
imported inside the functions that need them so that ``import zoo`` is fast.
"""

__version__ = "0.1.0"

from zoo.models.densenet import MODEL_CONFIGS, DenseNet, DenseNetConfig  # noqa: E402
from zoo.factory import create_model, get_config, list_models  # noqa: E402


def transforms(name=None, kind="torch7", ten_crop=False):
    """Evaluation preprocessing for ``name``: path/PIL/tensor -> ``[3,224,224]`` (``[10,3,224,224]`` with ten_crop).

    ``kind="torch7"`` reproduces fb.resnet.torch (the published errors); ``"torchvision"`` is
    torchvision's standard pipeline. See :func:`zoo.data.transforms`.
    """
    from zoo.data import transforms as build_transforms

    return build_transforms(name, kind=kind, ten_crop=ten_crop)


__all__ = ["MODEL_CONFIGS", "DenseNet", "DenseNetConfig", "create_model", "get_config", "list_models", "transforms", "__version__"]
