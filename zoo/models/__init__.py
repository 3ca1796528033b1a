"""DenseNet model definitions (layer 1: depends on torch only)."""
