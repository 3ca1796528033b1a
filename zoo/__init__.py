"""densenet-zoo: the original Lua Torch7 DenseNet ImageNet models in PyTorch.

The public API lives here. The model layer is imported first and stays free of
the layers above it; heavier parts (registry, data, evaluation, training) are
imported inside the functions that need them so that ``import zoo`` is fast.
"""

__version__ = "0.1.0"

from zoo.models.densenet import MODEL_CONFIGS, DenseNet, DenseNetConfig  # noqa: E402
from zoo.factory import create_model, get_config, list_models  # noqa: E402

__all__ = ["MODEL_CONFIGS", "DenseNet", "DenseNetConfig", "create_model", "get_config", "list_models", "__version__"]
