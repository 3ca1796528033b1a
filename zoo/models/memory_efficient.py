"""Memory-efficient training forward/backward for :class:`zoo.models.densenet.DenseNet`.

The plain DenseNet keeps, per dense layer, the concatenated input, the
BatchNorm-ReLU outputs and the bottleneck activations for backward: memory
that grows quadratically with depth. torchvision's ``memory_efficient=True``
checkpoints concat+BN+ReLU+conv1 but still keeps the bottleneck's BN input
and ReLU output (``4k`` channels twice per layer) and the transitions' concats.

This module goes further, in the spirit of the original ``-optMemory 4``
(``DenseConnectLayerCustom``) and Pleiss et al., "Memory-Efficient
Implementation of DenseNets" (2017):

* every dense block writes its input and each layer's new features into one
  pre-allocated ``[N, C_out, H, W]`` buffer (no repeated concatenation);
* one autograd Function per block keeps only that buffer (and, where the
  mode says so, each layer's bottleneck convolution output) and recomputes
  BatchNorm and ReLU (and otherwise the 1x1 bottleneck convolution) in
  backward, calling the convolution and BatchNorm backward kernels directly
  and applying ReLU's backward in place;
* transitions keep only their input (the block buffer, kept anyway): average
  pooling's backward needs no activations, so only BatchNorm-ReLU is
  recomputed;
* the ImageNet stem keeps only the images and recomputes its 7x7 convolution
  (about 4% of the forward FLOPs), BatchNorm, ReLU and max pooling.

What keeps it as fast as the plain model, although it recomputes:

* a channel of a block buffer has the same batch statistics for every layer
  that reads it, so they are computed once, when the channel is written, and
  each layer's BatchNorm is one per-channel affine map followed by ReLU (the
  plain model recomputes the statistics of all its input channels per layer);
* in backward the part of a layer's input gradient that flows through the
  batch statistics is, per channel, ``slope * (x - mean) + offset`` with the
  channel's shared mean, so the layers' slopes and offsets are summed as
  vectors and applied once per channel; each layer adds only
  ``scale * grad`` to the accumulated buffer gradient (no per-layer BatchNorm
  input gradient, no contiguous copy of the layer input).

BatchNorm running statistics are updated exactly once per forward, as
``nn.BatchNorm2d`` updates them. Dropout masks are kept as bool tensors and
drawn exactly like ``F.dropout`` draws them. Everything kept for backward goes
through ``ctx.save_for_backward`` (nothing hides on ``ctx``), so
``torch.autograd.graph.saved_tensors_hooks`` see all of it. Autocast settings
are recorded in forward and restored in backward.

Modules, parameters and state-dict keys are those of the plain model: the mode
only changes how ``forward`` runs, so weights are interchangeable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.choices import MEMORY_EFFICIENT_MODES  # what each mode recomputes is said there

if TYPE_CHECKING:  # pragma: no cover - imported for annotations only
    from zoo.models.densenet import DenseBlock, DenseLayer, Transition


def resolve_mode(memory_efficient: bool | str | None) -> str | None:
    """Normalise the ``memory_efficient`` argument: False/None -> None, True -> "balanced"."""
    if memory_efficient is None or memory_efficient is False:
        return None
    if memory_efficient is True:
        return "balanced"
    if isinstance(memory_efficient, str) and memory_efficient in MEMORY_EFFICIENT_MODES:
        return memory_efficient
    raise ValueError(
        f"memory_efficient must be True, False or one of {MEMORY_EFFICIENT_MODES}, got {memory_efficient!r}"
    )


def _needs_graph(tensors: Sequence[Tensor]) -> bool:
    return torch.is_grad_enabled() and any(tensor is not None and tensor.requires_grad for tensor in tensors)


# ---------------------------------------------------------------------------
# BatchNorm-ReLU as statistics plus a per-channel affine map
# ---------------------------------------------------------------------------


def _uses_batch_stats(norm: nn.BatchNorm2d, training: bool) -> bool:
    return training or norm.running_mean is None


def _channel_shape(features: Tensor) -> tuple[int, ...]:
    """The shape that broadcasts a per-channel vector over ``features``."""
    return (1, -1) + (1,) * (features.dim() - 2)


def _values_per_channel(features: Tensor) -> int:
    return features.numel() // features.shape[1]


def _batch_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel batch mean and biased variance of ``features`` (float32 or float64), nothing normalised.

    On CPU, contiguous NCHW input is passed as an H/W-transposed view: the
    statistics kernel accumulates contiguous input one scalar at a time and
    runs two to three times faster on strided input (same values to rounding).
    """
    if _values_per_channel(features) < 2:  # as F.batch_norm checks, else the unbiased variance divides by zero
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {features.shape}")
    if features.dtype not in (torch.float32, torch.float64):  # reduced precision: statistics in float32
        features = features.float()
    if features.device.type == "cpu" and features.dim() == 4 and features.is_contiguous():
        features = features.transpose(2, 3)
    return torch.batch_norm_update_stats(features, None, None, 0.0)


def _update_running_statistics(norm: nn.BatchNorm2d, mean: Tensor, var: Tensor, count: int) -> None:
    """What a training-mode ``norm`` does to its running statistics, given the batch's (``count`` values each)."""
    if not norm.track_running_stats or norm.running_mean is None:
        return
    norm.num_batches_tracked.add_(1)
    momentum = norm.momentum if norm.momentum is not None else 1.0 / float(norm.num_batches_tracked)
    norm.running_mean.mul_(1.0 - momentum).add_(mean, alpha=momentum)
    norm.running_var.mul_(1.0 - momentum).add_(var, alpha=momentum * count / (count - 1))


def _statistics(norm: nn.BatchNorm2d, training: bool, mean: Tensor | None, var: Tensor | None) -> tuple[Tensor, Tensor]:
    """The (mean, invstd) ``norm`` normalises with: the batch's (given) or its running statistics."""
    if _uses_batch_stats(norm, training):
        assert mean is not None and var is not None
        return mean, torch.rsqrt(var + norm.eps)
    return norm.running_mean, torch.rsqrt(norm.running_var + norm.eps)


def _scale_shift(norm: nn.BatchNorm2d, mean: Tensor, invstd: Tensor) -> tuple[Tensor, Tensor]:
    """``norm`` with these statistics as a per-channel affine map: ``norm(x) = x * scale + shift``."""
    scale = invstd if norm.weight is None else invstd * norm.weight
    shift = -mean * scale if norm.bias is None else torch.addcmul(norm.bias, mean, scale, value=-1)
    return scale, shift


def _affine_relu(features: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """``relu(features * scale + shift)`` per channel, in the dtype of ``features``."""
    shape = _channel_shape(features)
    scale, shift = scale.view(shape), shift.view(shape)
    if features.device.type == "cpu" and features.dtype == scale.dtype:
        # Two passes; CPU addcmul is about twice as slow as mul with a broadcast operand.
        return torch.ops.aten._add_relu_(features * scale, shift)
    # Elsewhere, or bf16/fp16 features: computed in float32 like the BatchNorm kernels, rounded once.
    return torch.addcmul(shift, features, scale).to(features.dtype).relu_()


def _norm_relu(features: Tensor, norm: nn.BatchNorm2d, training: bool) -> tuple[Tensor, Tensor, Tensor]:
    """relu(norm(features)) and the (mean, invstd) it normalised with; running statistics updated as ``norm`` does."""
    mean = var = None
    if _uses_batch_stats(norm, training):
        mean, var = _batch_statistics(features)
        _update_running_statistics(norm, mean, var, _values_per_channel(features))
    mean, invstd = _statistics(norm, training, mean, var)
    return _affine_relu(features, *_scale_shift(norm, mean, invstd)), mean, invstd


def _renormalize_relu(features: Tensor, norm: nn.BatchNorm2d, mean: Tensor, invstd: Tensor) -> Tensor:
    """Recompute ``relu(norm(features))`` in backward from the (mean, invstd) the forward normalised with."""
    return _affine_relu(features, *_scale_shift(norm, mean, invstd))


def _relu_backward_(grad_activated: Tensor, activated: Tensor) -> Tensor:
    """ReLU's backward, in place on ``grad_activated`` (saves one full-size temporary).

    ``threshold_backward`` writing into its own gradient input: an elementwise
    kernel, many times faster on CPU than ``masked_fill_`` with a bool mask.
    """
    if grad_activated.dtype != activated.dtype:
        return torch.ops.aten.threshold_backward(grad_activated.to(activated.dtype), activated, 0)
    return torch.ops.aten.threshold_backward.grad_input(grad_activated, activated, 0, grad_input=grad_activated)


def _norm_backward(
    grad_normalized: Tensor, features: Tensor, norm: nn.BatchNorm2d, training: bool, mean: Tensor, invstd: Tensor
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Gradients of ``norm(features)`` w.r.t. features, BN weight and bias."""
    return torch.ops.aten.native_batch_norm_backward(
        grad_normalized.to(features.dtype),
        features.contiguous(memory_format=_memory_format_of(grad_normalized)),
        norm.weight,
        norm.running_mean,
        norm.running_var,
        mean,
        invstd,
        _uses_batch_stats(norm, training),
        norm.eps,
        [
            True,
            norm.weight is not None and norm.weight.requires_grad,
            norm.bias is not None and norm.bias.requires_grad,
        ],
    )


def _norm_grad_sums(
    grad_normalized: Tensor, features: Tensor, norm: nn.BatchNorm2d, mean: Tensor, invstd: Tensor
) -> tuple[Tensor, Tensor]:
    """Per channel ``sum(grad * (features - mean) * invstd)`` and ``sum(grad)``: ``norm``'s weight and bias grads.

    ``features`` (a channel slice of a block buffer) is copied to contiguous
    memory first: the CPU kernel is about three times slower on strided input
    than the copy costs.
    """
    # Both sums are needed even without a weight (the input gradient uses them); CUDA's kernel wants one.
    weight = norm.weight if norm.weight is not None else torch.ones_like(mean)
    _, weighted, total = torch.ops.aten.native_batch_norm_backward(
        grad_normalized.to(features.dtype),
        features.contiguous(memory_format=_memory_format_of(grad_normalized)),
        weight,
        None,
        None,
        mean,
        invstd,
        True,
        norm.eps,
        [False, True, True],
    )
    return weighted, total


# ---------------------------------------------------------------------------
# Convolution and dropout
# ---------------------------------------------------------------------------


def _conv(features: Tensor, conv: nn.Conv2d) -> Tensor:
    return F.conv2d(features, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def _dropout(features: Tensor, drop_rate: float, training: bool) -> tuple[Tensor, Tensor | None]:
    """Dropout that also returns its keep-mask (None when nothing is dropped).

    ``aten.native_dropout`` draws the same mask as ``F.dropout`` for a given
    RNG state, so a seeded memory-efficient model drops what the plain one does.
    """
    if drop_rate <= 0 or not training:
        return features, None
    dropped, mask = torch.ops.aten.native_dropout(features, drop_rate, True)
    return dropped, mask


def _apply_dropout_mask(grad: Tensor, mask: Tensor | None, drop_rate: float) -> Tensor:
    """``tensor * mask / (1 - p)``: dropout's backward, and its forward with a known mask."""
    if mask is None:
        return grad
    return torch.ops.aten.native_dropout_backward(grad, mask, 1.0 / (1.0 - drop_rate))


def _conv_backward(
    grad_output: Tensor, conv_input: Tensor, conv: nn.Conv2d, need_input_grad: bool = True
) -> tuple[Tensor | None, Tensor | None]:
    """Input and weight gradients of ``conv`` at ``conv_input`` without rebuilding its forward.

    Under autocast the forward ran in the autocast dtype (the dtype of its
    output); the same casts are applied here, and the weight gradient is
    returned in the parameter's dtype, as autocast's cast would have done.
    """
    compute_dtype = grad_output.dtype
    weight = conv.weight
    need_weight_grad = weight.requires_grad
    if not (need_input_grad or need_weight_grad):
        return None, None
    grad_input, grad_weight, _ = torch.ops.aten.convolution_backward(
        grad_output,
        conv_input.to(compute_dtype),
        weight.to(compute_dtype),
        None,
        list(conv.stride),
        list(conv.padding),
        list(conv.dilation),
        False,
        [0, 0],
        conv.groups,
        [need_input_grad, need_weight_grad, False],
    )
    if grad_input is not None:
        grad_input = grad_input.to(conv_input.dtype)
    if grad_weight is not None:
        grad_weight = grad_weight.to(weight.dtype)
    return grad_input, grad_weight


def _layer_parameters(layer: DenseLayer) -> list[Tensor]:
    """The layer's parameters in the order backward returns their gradients (norm2 and conv2 with bottleneck)."""
    norm1, conv1 = layer.norm1, layer.conv1
    if not layer.bottleneck:
        return [norm1.weight, norm1.bias, conv1.weight]
    return [norm1.weight, norm1.bias, conv1.weight, layer.norm2.weight, layer.norm2.bias, layer.conv2.weight]


# ---------------------------------------------------------------------------
# Dense blocks
# ---------------------------------------------------------------------------


def _run_block(
    block_input: Tensor, layers: Sequence[DenseLayer], training: bool, keep_bottlenecks: bool
) -> tuple[Tensor, Tensor | None, Tensor | None, list[Tensor], list[Tensor | None], list[Tensor]]:
    """Forward a block into one shared buffer.

    Returns the buffer; the per-channel batch mean and biased variance of its
    channels (None when no layer normalises with batch statistics); the
    bottleneck convolution outputs (after dropout, i.e. norm2's inputs) when
    ``keep_bottlenecks``; the dropout masks (two per layer: after the
    bottleneck convolution and after the layer's last convolution; None when
    not dropping); norm2's (mean, invstd) per layer. A layer without
    bottleneck has None for its bottleneck output, first mask and statistics.
    """
    in_channels = block_input.shape[1]
    total = in_channels + sum(layer.growth_rate for layer in layers)
    count = _values_per_channel(block_input)
    mean = var = None
    if any(_uses_batch_stats(layer.norm1, training) for layer in layers):
        input_mean, input_var = _batch_statistics(block_input)
        mean, var = input_mean.new_empty(total), input_var.new_empty(total)
        mean[:in_channels], var[:in_channels] = input_mean, input_var
    buffer: Tensor | None = None
    bottlenecks: list[Tensor] = []
    masks: list[Tensor | None] = []
    statistics: list[Tensor] = []
    channels = in_channels
    for layer in layers:
        features = block_input if buffer is None else buffer[:, :channels]
        if _uses_batch_stats(layer.norm1, training):
            _update_running_statistics(layer.norm1, mean[:channels], var[:channels], count)
        mean1, invstd1 = _statistics(layer.norm1, training, *_channel_statistics(mean, var, channels))
        activated = _affine_relu(features, *_scale_shift(layer.norm1, mean1, invstd1))
        hidden = _conv(activated, layer.conv1)
        del activated
        hidden, mask1 = _dropout(hidden, layer.drop_rate, training)
        if not layer.bottleneck:  # conv1 was the layer's 3x3 convolution
            new_features, hidden, mask1, mask2, mean2, invstd2 = hidden, None, None, mask1, None, None
        else:
            activated, mean2, invstd2 = _norm_relu(hidden, layer.norm2, training)
            new_features = _conv(activated, layer.conv2)
            del activated
            new_features, mask2 = _dropout(new_features, layer.drop_rate, training)
        if keep_bottlenecks:
            bottlenecks.append(hidden)
        masks.extend((mask1, mask2))
        statistics.extend((mean2, invstd2))
        if buffer is None:
            # Allocated once the dtype of the new features is known (autocast), with cat's type promotion.
            buffer = torch.empty(
                (block_input.shape[0], total, *block_input.shape[2:]),
                dtype=torch.promote_types(block_input.dtype, new_features.dtype),
                device=block_input.device,
                memory_format=_memory_format_of(block_input),
            )
            buffer[:, :in_channels].copy_(block_input)
        written = buffer[:, channels : channels + new_features.shape[1]]
        written.copy_(new_features)
        if mean is not None:  # the new channels' statistics, shared by every later layer
            mean[channels : channels + written.shape[1]], var[channels : channels + written.shape[1]] = (
                _batch_statistics(written)
            )
        channels += new_features.shape[1]
    assert buffer is not None
    return buffer, mean, var, bottlenecks, masks, statistics


def _channel_statistics(mean: Tensor | None, var: Tensor | None, channels: int) -> tuple[Tensor | None, Tensor | None]:
    """The block statistics of the first ``channels`` channels (a layer's input)."""
    if mean is None or var is None:
        return None, None
    return mean[:channels], var[:channels]


def _memory_format_of(tensor: Tensor) -> torch.memory_format:
    if tensor.dim() == 4 and tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def _autocast_state(tensor: Tensor) -> tuple[str, bool, torch.dtype]:
    """The autocast settings the forward ran under, to be restored in backward.

    Backward may run on another thread (CUDA), where autocast is off by default.
    """
    device_type = tensor.device.type
    if hasattr(torch, "get_autocast_dtype"):  # torch >= 2.4
        return device_type, torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)
    if device_type == "cpu":
        return device_type, torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
    return device_type, torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()


def _autocast(state: tuple[str, bool, torch.dtype]):
    device_type, enabled, dtype = state
    return torch.autocast(device_type, dtype=dtype, enabled=enabled)


class _BufferGradient:
    """The gradient of a block buffer, built in backward from the last layer to the first.

    Each layer's norm1 gradient w.r.t. its input ``x`` (channels ``[0, c)``)
    is, per channel, ``scale * g + slope * (x - mean) + offset``, where ``g``
    is the gradient at norm1's output and ``slope``/``offset`` come from the
    batch statistics. ``mean`` is the channel's and the same for every layer,
    so only ``scale * g`` is added to the full-width gradient per layer;
    slopes and offsets are summed as per-channel vectors and applied to a
    group of channels once, when the layer that wrote it is reached (every
    later layer has contributed by then).
    """

    def __init__(self, grad_buffer: Tensor, buffer: Tensor, mean: Tensor | None, count: int) -> None:
        self.grad_buffer = grad_buffer.to(buffer.dtype)
        self.buffer = buffer
        self.mean = mean
        self.count = count
        self.accumulated: Tensor | None = None  # channels [0, c) of the layers seen so far
        self.slope = None if mean is None else torch.zeros_like(mean)
        self.offset = None if mean is None else torch.zeros_like(mean)

    def channels(self, start: int, stop: int) -> Tensor:
        """The complete gradient of channels ``[start, stop)``: no layer still to come reads them."""
        if self.accumulated is None:
            return self.grad_buffer[:, start:stop]
        grad = self.accumulated[:, start:stop]
        if self.mean is None:
            return grad
        shape = _channel_shape(grad)
        centred = self.buffer[:, start:stop] - self.mean[start:stop].view(shape)
        batch_terms = torch.addcmul(self.offset[start:stop].view(shape), centred, self.slope[start:stop].view(shape))
        return batch_terms.add_(grad).to(self.buffer.dtype)

    def add_norm_input_grad(
        self, grad_normalized: Tensor, scale: Tensor, invstd: Tensor | None, sums: tuple[Tensor, Tensor]
    ) -> None:
        """Add a norm1's input gradient; ``invstd`` None when it normalised with running statistics.

        ``sums``: per channel ``sum(grad * normalized)`` and ``sum(grad)`` (see :func:`_norm_grad_sums`).
        """
        channels = grad_normalized.shape[1]
        direct = scale.view(_channel_shape(grad_normalized))
        if self.accumulated is None:
            self.accumulated = torch.addcmul(self.grad_buffer[:, :channels], grad_normalized, direct).to(
                self.buffer.dtype
            )
        else:
            self.accumulated[:, :channels].addcmul_(grad_normalized, direct)
        if invstd is not None:
            weighted, total = sums
            self.slope[:channels].addcmul_(scale * invstd, weighted, value=-1.0 / self.count)
            self.offset[:channels].addcmul_(scale, total, value=-1.0 / self.count)


class _DenseBlockFunction(torch.autograd.Function):
    """A whole dense block; keeps the output buffer (+ bottlenecks in mode "norm")."""

    @staticmethod
    def forward(ctx, block_input: Tensor, block: DenseBlock, mode: str, training: bool, *parameters: Tensor) -> Tensor:
        layers = list(block.values())
        ctx.autocast = _autocast_state(block_input)
        ctx.keep_bottlenecks = mode == "norm"
        buffer, mean, var, bottlenecks, masks, statistics = _run_block(
            block_input, layers, training, ctx.keep_bottlenecks
        )
        ctx.layers = layers
        ctx.training = training
        ctx.in_channels = block_input.shape[1]
        ctx.input_dtype = block_input.dtype
        ctx.num_bottlenecks = len(bottlenecks)
        ctx.num_masks = len(masks)
        ctx.save_for_backward(buffer, mean, var, *bottlenecks, *masks, *statistics)
        return buffer

    @staticmethod
    def backward(ctx, grad_buffer: Tensor):
        with _autocast(ctx.autocast), torch.no_grad():
            return _DenseBlockFunction._backward(ctx, grad_buffer)

    @staticmethod
    def _backward(ctx, grad_buffer: Tensor):
        buffer, mean, var, *rest = ctx.saved_tensors
        bottlenecks = rest[: ctx.num_bottlenecks]
        masks = rest[ctx.num_bottlenecks : ctx.num_bottlenecks + ctx.num_masks]
        statistics = rest[ctx.num_bottlenecks + ctx.num_masks :]
        layers: list[DenseLayer] = ctx.layers
        training: bool = ctx.training
        gradient = _BufferGradient(grad_buffer, buffer, mean, _values_per_channel(buffer))
        parameter_grads: list[Tensor | None] = []
        channels = buffer.shape[1]
        for index in reversed(range(len(layers))):
            layer = layers[index]
            norm1 = layer.norm1
            growth = layer.growth_rate
            channels -= growth
            mask1, mask2 = masks[2 * index], masks[2 * index + 1]
            grad_new = _apply_dropout_mask(gradient.channels(channels, channels + growth), mask2, layer.drop_rate)

            layer_input = buffer[:, :channels]
            mean1, invstd1 = _statistics(norm1, training, *_channel_statistics(mean, var, channels))
            scale1, shift1 = _scale_shift(norm1, mean1, invstd1)
            relu1 = _affine_relu(layer_input, scale1, shift1)
            bottleneck_grads: list[Tensor | None] = []
            if layer.bottleneck:
                kept = bottlenecks[index] if ctx.keep_bottlenecks else None
                grad_new, bottleneck_grads = _bottleneck_backward(
                    grad_new, relu1, kept, layer, training, mask1, statistics[2 * index : 2 * index + 2]
                )
            grad_relu1, grad_conv1 = _conv_backward(grad_new, relu1, layer.conv1)
            del grad_new
            grad_normalized1 = _relu_backward_(grad_relu1, relu1)
            del relu1, grad_relu1
            weighted, total = _norm_grad_sums(grad_normalized1, layer_input, norm1, mean1, invstd1)
            batch_invstd = invstd1 if _uses_batch_stats(norm1, training) else None
            gradient.add_norm_input_grad(grad_normalized1, scale1, batch_invstd, (weighted, total))
            del grad_normalized1
            parameter_grads[:0] = [
                weighted if norm1.weight is not None and norm1.weight.requires_grad else None,
                total if norm1.bias is not None and norm1.bias.requires_grad else None,
                grad_conv1,
                *bottleneck_grads,
            ]
        grad_input = gradient.channels(0, ctx.in_channels).to(ctx.input_dtype)
        return (grad_input, None, None, None, *parameter_grads)


def _bottleneck_backward(
    grad_new: Tensor,
    relu1: Tensor,
    bottleneck: Tensor | None,
    layer: DenseLayer,
    training: bool,
    mask1: Tensor | None,
    statistics2: Sequence[Tensor],
) -> tuple[Tensor, list[Tensor | None]]:
    """Backward through norm2-relu2-conv2 (and dropout) of a bottleneck layer.

    ``bottleneck`` is the kept conv1 output (after dropout), or None to recompute it from ``relu1``.
    Returns the gradient at conv1's output and the gradients of norm2's weight and bias and conv2's weight.
    """
    if bottleneck is None:
        bottleneck = _apply_dropout_mask(_conv(relu1, layer.conv1), mask1, layer.drop_rate)
    mean2, invstd2 = statistics2
    relu2 = _renormalize_relu(bottleneck, layer.norm2, mean2, invstd2)
    grad_relu2, grad_conv2 = _conv_backward(grad_new, relu2, layer.conv2)
    del grad_new
    grad_normalized2 = _relu_backward_(grad_relu2, relu2)
    del relu2, grad_relu2
    grad_bottleneck, grad_norm2_weight, grad_norm2_bias = _norm_backward(
        grad_normalized2, bottleneck, layer.norm2, training, mean2, invstd2
    )
    del grad_normalized2, bottleneck
    return _apply_dropout_mask(grad_bottleneck, mask1, layer.drop_rate), [
        grad_norm2_weight,
        grad_norm2_bias,
        grad_conv2,
    ]


def dense_block_forward(block: DenseBlock, block_input: Tensor, mode: str) -> Tensor:
    """Memory-efficient forward of a :class:`DenseBlock` (same output as the plain one).

    ``mode`` is the block's own: "norm" (keep bottleneck outputs) or "full".
    """
    if mode not in ("norm", "full"):
        raise ValueError(f"a dense block's memory-efficient mode must be 'norm' or 'full', got {mode!r}")
    layers = list(block.values())
    parameters = [parameter for layer in layers for parameter in _layer_parameters(layer)]
    if not _needs_graph([block_input, *parameters]):
        with torch.no_grad():
            return _run_block(block_input, layers, block.training, keep_bottlenecks=False)[0]
    return _DenseBlockFunction.apply(block_input, block, mode, block.training, *parameters)


# ---------------------------------------------------------------------------
# Transitions
# ---------------------------------------------------------------------------


def _transition_drop_rate(transition: Transition) -> float:
    drop = getattr(transition, "drop", None)
    return float(drop.p) if drop is not None else 0.0


def _run_transition(
    features: Tensor, transition: Transition, training: bool
) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
    """The pooled output, the dropout mask and the (mean, invstd) the transition's norm normalised with."""
    activated, mean, invstd = _norm_relu(features, transition.norm, training)
    hidden = _conv(activated, transition.conv)
    del activated
    hidden, mask = _dropout(hidden, _transition_drop_rate(transition), training)
    return F.avg_pool2d(hidden, kernel_size=2, stride=2), mask, mean, invstd


def _avg_pool2x2_backward(grad_output: Tensor, input_shape: Sequence[int]) -> Tensor:
    """Gradient of ``avg_pool2d(kernel=2, stride=2)``: needs only the input's shape."""
    height, width = grad_output.shape[-2:]
    spread = (grad_output / 4).repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    memory_format = _memory_format_of(grad_output)
    if tuple(input_shape[-2:]) == (2 * height, 2 * width):
        return spread.contiguous(memory_format=memory_format)
    grad_input = grad_output.new_zeros(tuple(input_shape)).contiguous(memory_format=memory_format)
    grad_input[..., : 2 * height, : 2 * width] = spread
    return grad_input


class _TransitionFunction(torch.autograd.Function):
    """BN-ReLU-Conv1x1-(Dropout)-AvgPool; keeps only its input (the previous block's buffer)."""

    @staticmethod
    def forward(ctx, features: Tensor, transition: Transition, training: bool, *parameters: Tensor) -> Tensor:
        ctx.autocast = _autocast_state(features)
        pooled, mask, mean, invstd = _run_transition(features, transition, training)
        ctx.transition = transition
        ctx.training = training
        ctx.conv_output_shape = (*pooled.shape[:2], *features.shape[2:])
        ctx.save_for_backward(features, mask, mean, invstd)
        return pooled

    @staticmethod
    def backward(ctx, grad_pooled: Tensor):
        features, mask, mean, invstd = ctx.saved_tensors
        transition: Transition = ctx.transition
        with _autocast(ctx.autocast), torch.no_grad():
            activated = _renormalize_relu(features, transition.norm, mean, invstd)
            grad_conv_output = _avg_pool2x2_backward(grad_pooled, ctx.conv_output_shape)
            grad_conv_output = _apply_dropout_mask(grad_conv_output, mask, _transition_drop_rate(transition))
            grad_activated, grad_conv = _conv_backward(grad_conv_output, activated, transition.conv)
            del grad_conv_output
            grad_normalized = _relu_backward_(grad_activated, activated)
            del activated, grad_activated
            grad_features, grad_norm_weight, grad_norm_bias = _norm_backward(
                grad_normalized, features, transition.norm, ctx.training, mean, invstd
            )
        return (grad_features, None, None, grad_norm_weight, grad_norm_bias, grad_conv)


def transition_forward(transition: Transition, features: Tensor) -> Tensor:
    """Memory-efficient forward of a :class:`Transition` (same output as the plain one)."""
    parameters = [transition.norm.weight, transition.norm.bias, transition.conv.weight]
    if not _needs_graph([features, *parameters]):
        with torch.no_grad():
            return _run_transition(features, transition, transition.training)[0]
    return _TransitionFunction.apply(features, transition, transition.training, *parameters)


# ---------------------------------------------------------------------------
# ImageNet stem: norm0-relu0-pool0 after conv0
# ---------------------------------------------------------------------------


def _pool_arguments(pool: nn.MaxPool2d) -> tuple[list[int], list[int], list[int], list[int], bool]:
    def pair(value: int | Sequence[int]) -> list[int]:
        return [value, value] if isinstance(value, int) else list(value)

    stride = pool.stride if pool.stride is not None else pool.kernel_size
    return pair(pool.kernel_size), pair(stride), pair(pool.padding), pair(pool.dilation), pool.ceil_mode


def _run_stem(
    images: Tensor, conv: nn.Conv2d, norm: nn.BatchNorm2d, pool: nn.MaxPool2d, training: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The pooled output, the max-pool indices and the (mean, invstd) norm0 normalised with."""
    activated, mean, invstd = _norm_relu(_conv(images, conv), norm, training)
    pooled, indices = torch.ops.aten.max_pool2d_with_indices(activated, *_pool_arguments(pool))
    return pooled, indices, mean, invstd


class _StemFunction(torch.autograd.Function):
    """Conv7x7-BN-ReLU-MaxPool; keeps the images and the pooling's argmax positions.

    The 7x7 convolution is about 4% of the forward FLOPs; its output is as large
    as the whole first dense block's buffer, so it is recomputed rather than kept.
    The argmax positions (int32, a quarter of the convolution output's size)
    spare recomputing the max pooling, which is slow on CPUs.
    """

    @staticmethod
    def forward(
        ctx,
        images: Tensor,
        conv: nn.Conv2d,
        norm: nn.BatchNorm2d,
        pool: nn.MaxPool2d,
        training: bool,
        *parameters: Tensor,
    ) -> Tensor:
        ctx.autocast = _autocast_state(images)
        ctx.modules = (conv, norm, pool)
        ctx.training = training
        pooled, indices, mean, invstd = _run_stem(images, conv, norm, pool, training)
        # Positions inside a 112x112 map fit int32: half the bytes of int64.
        plane = images.shape[-2] * images.shape[-1]  # indices point into a plane no larger than this
        compact = indices.to(torch.int32) if plane < 2**31 else indices
        ctx.save_for_backward(images, compact, mean, invstd)
        return pooled

    @staticmethod
    def backward(ctx, grad_pooled: Tensor):
        images, indices, mean, invstd = ctx.saved_tensors
        conv, norm, pool = ctx.modules
        with _autocast(ctx.autocast), torch.no_grad():
            conv_output = _conv(images, conv)
            activated = _renormalize_relu(conv_output, norm, mean, invstd)
            grad_activated = torch.ops.aten.max_pool2d_with_indices_backward(
                grad_pooled.to(activated.dtype), activated, *_pool_arguments(pool), indices.long()
            )
            grad_normalized = _relu_backward_(grad_activated, activated)
            del activated, grad_activated
            grad_conv_output, grad_weight, grad_bias = _norm_backward(
                grad_normalized, conv_output, norm, ctx.training, mean, invstd
            )
            del grad_normalized, conv_output
            grad_images, grad_conv = _conv_backward(
                grad_conv_output, images, conv, need_input_grad=ctx.needs_input_grad[0]
            )
        return (grad_images, None, None, None, None, grad_conv, grad_weight, grad_bias)


def stem_forward(images: Tensor, conv: nn.Conv2d, norm: nn.BatchNorm2d, pool: nn.MaxPool2d) -> Tensor:
    """Memory-efficient ``pool(relu(norm(conv(images))))`` (same output as the plain modules)."""
    parameters = [conv.weight, norm.weight, norm.bias]
    if conv.bias is not None:
        raise ValueError("the memory-efficient stem expects conv0 without bias, as DenseNet builds it")
    if not _needs_graph([images, *parameters]):
        with torch.no_grad():
            return _run_stem(images, conv, norm, pool, norm.training)[0]
    return _StemFunction.apply(images, conv, norm, pool, norm.training, *parameters)
