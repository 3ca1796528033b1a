"""Multiply-adds and parameters of a network, counted from its modules.

:func:`count_multiply_adds` runs one forward pass of a single image on the ``meta`` device (shapes
only: no memory for activations, no arithmetic) with a forward hook on every convolution and
linear layer, and adds up their multiply-adds:

* ``Conv1d/2d/3d``: output elements x ``in_channels / groups`` x kernel volume;
* ``ConvTranspose1d/2d/3d``: input elements x ``out_channels / groups`` x kernel volume;
* ``Linear``: output elements x ``in_features``.

Bias additions, normalisation, activations and pooling are not counted. That is the convention of
the ResNet paper's Table 1 ("FLOPs" = multiply-adds) and of torchvision's GFLOPS column, and what
the DenseNet paper's Figure 3 plots against ResNets. A model whose weights are real is not moved:
the pass substitutes meta tensors for its parameters and buffers (``torch.func.functional_call``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["count_multiply_adds", "count_parameters"]

_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _layer_multiply_adds(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """The multiply-adds of one forward call of ``module`` over a batch of one."""
    if isinstance(module, _CONVOLUTIONS):
        return output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, _TRANSPOSED):
        return inputs[0].numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def count_multiply_adds(model: nn.Module, input_shape: Sequence[int] = (3, 224, 224)) -> int:
    """Multiply-adds of convolutions and linear layers for one input of ``input_shape`` (``[C,H,W]``, no batch).

    ``model`` runs in eval mode on the meta device; its own tensors and mode are left as they were.
    """
    counted = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal counted
        counted += _layer_multiply_adds(module, inputs, output)

    layers = (nn.Linear, *_CONVOLUTIONS, *_TRANSPOSED)
    handles = [module.register_forward_hook(hook) for module in model.modules() if isinstance(module, layers)]
    image = torch.empty((1, *input_shape), device="meta")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
            if all(tensor.is_meta for tensor in tensors.values()):
                model(image)
            else:
                meta = {name: torch.empty_like(tensor, device="meta") for name, tensor in tensors.items()}
                torch.func.functional_call(model, meta, (image,))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return counted


def count_parameters(model: nn.Module) -> int:
    """The number of parameters (each shared tensor once)."""
    return sum(parameter.numel() for parameter in model.parameters())
