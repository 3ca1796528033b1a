"""The memory-efficient DenseNet computes what the plain one does, with less kept for backward."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo import DenseNet, DenseNetConfig
from zoo.models.memory_efficient import MEMORY_EFFICIENT_MODES

MODES = MEMORY_EFFICIENT_MODES


def tiny_config(**changes) -> DenseNetConfig:
    config = DenseNetConfig(growth_rate=4, block_config=(2, 3, 2), num_init_features=8, num_classes=5)
    return config.replace(**changes)


def make_pair(config: DenseNetConfig, mode, dtype=torch.float32, seed=0):
    """A plain model and a memory-efficient copy with the same weights."""
    torch.manual_seed(seed)
    plain = DenseNet(config).to(dtype)
    efficient = copy.deepcopy(plain).set_memory_efficient(mode)
    return plain, efficient


def randomize_norms(model, seed: int):
    """BatchNorm weights of both signs (some zero), biases and running statistics away from their initial values."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                for tensor in (module.weight, module.bias, module.running_mean):
                    tensor.copy_(torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype))
                module.weight[::5] = 0.0
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model


def train_step(model, images, labels, seed=None):
    """Forward and backward in train mode; returns the logits and the input gradient."""
    model.train()
    images = images.clone().requires_grad_(True)
    if seed is not None:
        torch.manual_seed(seed)
    logits = model(images)
    F.cross_entropy(logits.float(), labels).backward()
    return logits, images.grad


def assert_same_training(plain, efficient, images, labels, rtol, atol, seed=None):
    plain_logits, plain_input_grad = train_step(plain, images, labels, seed)
    efficient_logits, efficient_input_grad = train_step(efficient, images, labels, seed)
    torch.testing.assert_close(efficient_logits, plain_logits, rtol=rtol, atol=atol)
    torch.testing.assert_close(efficient_input_grad, plain_input_grad, rtol=rtol, atol=atol)
    plain_parameters = dict(plain.named_parameters())
    for name, parameter in efficient.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.dtype == parameter.dtype, name
        torch.testing.assert_close(parameter.grad, plain_parameters[name].grad, rtol=rtol, atol=atol, msg=name)
    plain_state = plain.state_dict()
    for key, value in efficient.state_dict().items():
        # Running statistics updated exactly once, to the same values.
        torch.testing.assert_close(value, plain_state[key], rtol=rtol, atol=atol, msg=key)


def assert_same_eval_gradients(plain, efficient, images):
    """Eval mode (running statistics) with autograd on: input and parameter gradients agree to float64 rounding."""
    gradients = []
    for model in (plain, efficient):
        model.eval()
        leaf = images.clone().requires_grad_(True)
        model(leaf).square().sum().backward()
        gradients.append([leaf.grad, *(parameter.grad for parameter in model.parameters())])
    for ours, theirs in zip(*gradients, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("stem", ["imagenet", "cifar"])
@pytest.mark.parametrize("mode", MODES)
def test_float64_training_step_matches_plain_model_to_rounding(stem, mode):
    plain, efficient = make_pair(tiny_config(stem=stem), mode, dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(3, 3, 32, 32, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 5, (3,), generator=generator)
    assert_same_training(plain, efficient, images, labels, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("mode", MODES)
def test_float64_gradients_match_plain_model_with_random_norm_parameters(mode, training):
    # Weights of both signs and zeros, biases and running statistics: every term of the BatchNorm backward counts.
    plain, efficient = make_pair(tiny_config(), mode, dtype=torch.float64)
    efficient.load_state_dict(randomize_norms(plain, seed=6).state_dict())
    generator = torch.Generator().manual_seed(7)
    images = torch.randn(3, 3, 32, 32, generator=generator, dtype=torch.float64) * 2 + 1
    if training:
        labels = torch.randint(0, 5, (3,), generator=generator)
        assert_same_training(plain, efficient, images, labels, rtol=1e-10, atol=1e-12)
    else:
        assert_same_eval_gradients(plain, efficient, images)


def original_config(**changes) -> DenseNetConfig:
    """A tiny original DenseNet (no bottleneck, compression 1) with the CIFAR stem."""
    return tiny_config(stem="cifar", bottleneck=False, compression=1.0).replace(**changes)


@pytest.mark.parametrize("drop_rate", [0.0, 0.3])
@pytest.mark.parametrize("mode", MODES)
def test_float64_training_of_layers_without_bottleneck_matches_plain_model(mode, drop_rate):
    plain, efficient = make_pair(original_config(drop_rate=drop_rate), mode, dtype=torch.float64)
    efficient.load_state_dict(randomize_norms(plain, seed=8).state_dict())
    generator = torch.Generator().manual_seed(9)
    images = torch.randn(3, 3, 32, 32, generator=generator, dtype=torch.float64) * 2 + 1
    labels = torch.randint(0, 5, (3,), generator=generator)
    assert_same_training(plain, efficient, images, labels, rtol=1e-10, atol=1e-12, seed=10)
    assert_same_eval_gradients(plain, efficient, images)


def test_gradcheck_of_a_memory_efficient_block_without_bottleneck():
    torch.manual_seed(0)
    config = DenseNetConfig(
        growth_rate=2, block_config=(2, 1), num_init_features=4, num_classes=3, stem="cifar", bottleneck=False
    )
    model = DenseNet(config, memory_efficient="norm").double().train()
    images = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model.forward_features, (images,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_one_value_per_channel_is_refused_like_the_plain_model():
    config = DenseNetConfig(growth_rate=2, block_config=(1, 1), num_init_features=4, num_classes=3, stem="cifar")
    images = torch.randn(1, 3, 2, 2)
    for memory_efficient in (False, True):
        model = DenseNet(config, memory_efficient=memory_efficient).train()
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
            model(images)


@pytest.mark.parametrize("mode", MODES)
def test_float32_gradients_match_plain_model(mode):
    plain, efficient = make_pair(tiny_config(), mode)
    generator = torch.Generator().manual_seed(2)
    images = torch.randn(4, 3, 40, 40, generator=generator)
    labels = torch.randint(0, 5, (4,), generator=generator)
    assert_same_training(plain, efficient, images, labels, rtol=1e-4, atol=1e-6)


def test_running_statistics_update_once_per_forward():
    plain, efficient = make_pair(tiny_config(), True)
    images = torch.randn(2, 3, 32, 32)
    labels = torch.tensor([0, 1])
    for _ in range(2):
        train_step(plain, images, labels)
        train_step(efficient, images, labels)
    for name, buffer in efficient.named_buffers():
        if name.endswith("num_batches_tracked"):
            assert buffer.item() == 2, name
    plain_buffers = dict(plain.named_buffers())
    for name, buffer in efficient.named_buffers():
        torch.testing.assert_close(buffer, plain_buffers[name], rtol=1e-5, atol=1e-6, msg=name)


def test_sgd_steps_keep_models_in_step():
    plain, efficient = make_pair(tiny_config(), True)
    generator = torch.Generator().manual_seed(3)
    images = torch.randn(4, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 5, (4,), generator=generator)
    optimizers = [
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True) for model in (plain, efficient)
    ]
    for _ in range(3):
        for model, optimizer in zip((plain, efficient), optimizers, strict=True):
            optimizer.zero_grad()
            train_step(model, images, labels)
            optimizer.step()
    for (name, ours), theirs in zip(efficient.state_dict().items(), plain.state_dict().values(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("mode", MODES)
def test_dropout_draws_the_same_masks_and_gradients_as_plain_model(mode):
    # On CPU the memory-efficient dropout consumes the RNG exactly like F.dropout.
    plain, efficient = make_pair(tiny_config(drop_rate=0.3), mode, dtype=torch.float64)
    generator = torch.Generator().manual_seed(4)
    images = torch.randn(2, 3, 32, 32, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 5, (2,), generator=generator)
    assert_same_training(plain, efficient, images, labels, rtol=1e-10, atol=1e-12, seed=5)


@pytest.mark.parametrize("mode", MODES)
def test_eval_forward_equals_plain_model(mode):
    plain, efficient = make_pair(tiny_config(), mode)
    images = torch.randn(2, 3, 32, 32)
    train_step(plain, images, torch.tensor([0, 1]))  # non-trivial running statistics
    efficient.load_state_dict(plain.state_dict())
    plain.eval()
    efficient.eval()
    with torch.no_grad():
        expected = plain(images)
        torch.testing.assert_close(efficient(images), expected, rtol=1e-5, atol=1e-6)
    # With autograd on (e.g. saliency maps or frozen-BN fine-tuning) too.
    images.requires_grad_(True)
    torch.testing.assert_close(efficient(images), expected, rtol=1e-5, atol=1e-6)


def test_eval_mode_gradients_match_plain_model():
    plain, efficient = make_pair(tiny_config(), True, dtype=torch.float64)
    images = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    assert_same_eval_gradients(plain, efficient, images)


def test_state_dict_keys_are_identical_and_weights_interchangeable():
    plain = DenseNet(tiny_config())
    efficient = DenseNet(tiny_config(), memory_efficient=True)
    assert list(efficient.state_dict()) == list(plain.state_dict())
    efficient.load_state_dict(plain.state_dict(), strict=True)
    plain.load_state_dict(efficient.state_dict(), strict=True)


def test_frozen_features_and_inputs_without_grad():
    plain, efficient = make_pair(tiny_config(), True)
    for model in (plain, efficient):
        for parameter in model.features.parameters():
            parameter.requires_grad_(False)
    images = torch.randn(2, 3, 32, 32)
    for model in (plain, efficient):
        model.train()
        F.cross_entropy(model(images), torch.tensor([1, 2])).backward()
        assert all(parameter.grad is None for parameter in model.features.parameters())
    torch.testing.assert_close(efficient.classifier.weight.grad, plain.classifier.weight.grad)


def test_gradcheck_of_a_memory_efficient_block_and_transition():
    torch.manual_seed(0)
    config = DenseNetConfig(growth_rate=2, block_config=(2, 1), num_init_features=4, num_classes=3, stem="cifar")
    model = DenseNet(config, memory_efficient="full").double().train()
    images = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model.forward_features, (images,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_channels_last_training_matches_plain_model():
    plain, efficient = make_pair(tiny_config(), True)
    efficient = efficient.to(memory_format=torch.channels_last)
    images = torch.randn(2, 3, 32, 32)
    labels = torch.tensor([3, 4])
    plain_logits, plain_grad = train_step(plain, images, labels)
    efficient_logits, efficient_grad = train_step(
        efficient, images.contiguous(memory_format=torch.channels_last), labels
    )
    torch.testing.assert_close(efficient_logits, plain_logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(efficient_grad, plain_grad, rtol=1e-4, atol=1e-6)
    for (name, ours), theirs in zip(efficient.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_bfloat16_autocast_training_matches_plain_model_within_bfloat16_precision(memory_format):
    plain, efficient = make_pair(tiny_config(), True)
    reference = copy.deepcopy(plain)
    efficient = efficient.to(memory_format=memory_format)
    images = torch.randn(4, 3, 32, 32).contiguous(memory_format=memory_format)
    labels = torch.tensor([0, 1, 2, 3])
    logits = []
    for model, autocast in ((plain, True), (efficient, True), (reference, False)):
        model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits.append(model(images))
        F.cross_entropy(logits[-1].float(), labels).backward()
    assert logits[1].dtype == logits[0].dtype
    torch.testing.assert_close(logits[1].float(), logits[0].float(), rtol=0.02, atol=0.02)
    assert all(parameter.grad.dtype == torch.float32 for parameter in efficient.parameters())

    def flat_grad(model):
        return torch.cat([parameter.grad.flatten() for parameter in model.parameters()])

    plain_grad = flat_grad(plain)
    # bfloat16 itself moves these gradients by ~25% from float32; the two bf16 runs agree far closer.
    bf16_noise = (flat_grad(reference) - plain_grad).norm() / plain_grad.norm()
    difference = (flat_grad(efficient) - plain_grad).norm() / plain_grad.norm()
    assert difference < 0.05
    assert difference < 0.25 * bf16_noise


def saved_bytes(model, images) -> int:
    """Bytes of distinct non-parameter storages autograd keeps after one forward."""
    parameters = {tensor.untyped_storage().data_ptr() for tensor in model.parameters()}
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(images).sum()
    loss.backward()
    return sum(storages.values())


def test_memory_efficient_modes_keep_far_less_for_backward():
    config = DenseNetConfig(growth_rate=8, block_config=(4, 4), num_init_features=16, num_classes=5)
    images = torch.randn(2, 3, 64, 64)
    kept = {}
    for mode in (False, "norm", "balanced", "full"):
        torch.manual_seed(0)
        kept[mode] = saved_bytes(DenseNet(config, memory_efficient=mode).train(), images)
    assert kept["full"] < kept["balanced"] < kept["norm"] < 0.5 * kept[False]
    original = config.replace(bottleneck=False, compression=1.0)
    without_bottleneck = {}
    for mode in (False, "norm", "full"):
        torch.manual_seed(0)
        without_bottleneck[mode] = saved_bytes(DenseNet(original, memory_efficient=mode).train(), images)
    # Without bottleneck there is nothing to keep besides the buffers: "norm" and "full" keep the same.
    assert without_bottleneck["full"] == without_bottleneck["norm"] < 0.5 * without_bottleneck[False]
    # "full" keeps the images, the stem's max-pool positions (int32), the two block
    # buffers and the final ReLU's output (plain autograd after norm5), plus
    # per-channel batch statistics and the pooled features: nothing else of size.
    element_bytes = 4
    pool_positions = 2 * 16 * 16 * 16
    buffers = 2 * (16 + 4 * 8) * 16 * 16 + 2 * (24 + 4 * 8) * 8 * 8
    final_relu = 2 * (24 + 4 * 8) * 8 * 8
    large = element_bytes * (images.numel() + pool_positions + buffers + final_relu)
    assert large <= kept["full"] <= large + 16384


def test_mode_can_be_switched_and_is_validated():
    model = DenseNet(tiny_config())
    assert model.memory_efficient is None
    assert model.set_memory_efficient("full") is model
    assert {block.memory_efficient for name, block in model.features.named_children() if "block" in name} == {"full"}
    model.set_memory_efficient(True)
    modes = [block.memory_efficient for name, block in model.features.named_children() if "block" in name]
    assert modes == ["full", "norm", "norm"]
    model.set_memory_efficient(False)
    assert all(getattr(module, "memory_efficient", None) is None for module in model.modules())
    with pytest.raises(ValueError, match="memory_efficient must be"):
        DenseNet(tiny_config(), memory_efficient="fast")


def test_create_model_memory_efficient_keeps_config_unchanged():
    model = zoo.create_model("densenet121", memory_efficient="norm", num_classes=7)
    assert model.config == zoo.get_config("densenet121").replace(num_classes=7)
    assert "memory_efficient" not in model.config.to_dict()
    assert model.memory_efficient == "norm"
