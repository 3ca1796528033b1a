"""DenseNet model definitions (layer 1: depends on torch only)."""

from zoo.models.densenet import CIFAR_CONFIGS, CIFAR_MODELS, MODEL_CONFIGS, DenseNet, DenseNetConfig

__all__ = ["CIFAR_CONFIGS", "CIFAR_MODELS", "MODEL_CONFIGS", "DenseNet", "DenseNetConfig"]
