"""Converters from the original Lua Torch7 DenseNet checkpoints to PyTorch.

``converters.t7`` reads and writes the Torch7 binary format and knows nothing
of DenseNet; the DenseNet mapping on top of it turns a Lua module tree into a
``zoo.DenseNetConfig`` and a state dict.
"""
