"""DenseNet model definitions (layer 1: depends on torch only)."""

from zoo.models.densenet import MODEL_CONFIGS, DenseNet, DenseNetConfig

__all__ = ["MODEL_CONFIGS", "DenseNet", "DenseNetConfig"]
