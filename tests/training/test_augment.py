"""fb.resnet.torch training augmentation: exact outputs for fixed seeds and statistics."""

import math

import numpy as np
import pytest
import torch

from zoo.data import augment
from zoo.data.torch7 import IMAGENET_MEAN, IMAGENET_STD, image_scale


def lua_round(value):
    return math.floor(value + 0.5)  # C round() for the positive values used here


def reference_crop_box(seed, height, width):
    """RandomSizedCrop's draws written out from transforms.lua, on an independent generator."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(low=0.0, high=1.0):
        return low + (high - low) * torch.rand((), dtype=torch.float64, generator=generator).item()

    for _ in range(10):
        target_area = uniform(0.08, 1.0) * height * width
        aspect = uniform(3 / 4, 4 / 3)
        w = lua_round(math.sqrt(target_area * aspect))
        h = lua_round(math.sqrt(target_area / aspect))
        if uniform() < 0.5:
            w, h = h, w
        if h <= height and w <= width:
            y1 = torch.randint(0, height - h + 1, (), generator=generator).item()  # torch.random(0, H - h), inclusive
            x1 = torch.randint(0, width - w + 1, (), generator=generator).item()
            return x1, y1, w, h
    return None


@pytest.mark.parametrize("seed", [0, 1, 7, 123])
def test_random_sized_crop_exact_output(seed):
    image = torch.rand(3, 37, 53, generator=torch.Generator().manual_seed(99))
    x1, y1, w, h = reference_crop_box(seed, 37, 53)
    expected = image_scale(image[:, y1 : y1 + h, x1 : x1 + w].clone(), 24, 24, mode="bicubic")
    output = augment.RandomSizedCrop(24)(image, torch.Generator().manual_seed(seed))
    assert output.shape == (3, 24, 24)
    assert torch.equal(output, expected)


def test_random_sized_crop_falls_back_after_ten_attempts():
    image = torch.rand(3, 2, 300)  # no 8%-area crop with aspect in [3/4, 4/3] fits 2 pixels of height
    generator = torch.Generator().manual_seed(5)
    output = augment.RandomSizedCrop(8)(image, generator)
    scaled = image_scale(image, int(300 / 2 * 8), 8, mode="bicubic")  # Scale(8): short side 8
    left = math.ceil((scaled.shape[2] - 8) / 2)
    assert torch.equal(output, scaled[:, :, left : left + 8])
    replay = torch.Generator().manual_seed(5)
    torch.rand(30, dtype=torch.float64, generator=replay)  # 10 attempts x 3 uniforms, nothing else
    assert torch.equal(generator.get_state(), replay.get_state())


def test_random_sized_crop_statistics():
    crop = augment.RandomSizedCrop(32)
    height, width = 120, 160
    boxes = [crop.crop_box(height, width, torch.Generator().manual_seed(seed)) for seed in range(2000)]
    boxes = [box for box in boxes if box is not None]
    assert len(boxes) > 1800
    fractions, ratios, swapped = [], [], 0
    for x1, y1, w, h in boxes:
        assert 0 <= x1 <= width - w and 0 <= y1 <= height - h
        fractions.append(w * h / (height * width))
        ratio = w / h
        swapped += ratio < 1
        ratios.append(ratio if ratio >= 1 else 1 / ratio)
    assert min(fractions) >= 0.075 and max(fractions) <= 1.0
    # rounding to whole pixels widens [3/4, 4/3] by at most a pixel's worth
    assert min(ratios) >= 1.0 and max(ratios) <= 4 / 3 * 1.05
    assert 0.3 < swapped / len(boxes) < 0.7
    assert np.mean(fractions) > 0.3  # large crops are kept (small images reject more of the large ones)


def test_random_int_includes_both_ends():
    generator = torch.Generator().manual_seed(0)
    values = {augment.random_int(generator, 0, 2) for _ in range(200)}
    assert values == {0, 1, 2}


def test_lua_round_halves_away_from_zero():
    assert augment.lua_round(2.5) == 3 and augment.lua_round(3.5) == 4  # not banker's rounding
    assert augment.lua_round(-2.5) == -3 and augment.lua_round(2.4999) == 2


def reference_jitter(image, seed, strength=0.4):
    """ColorJitter from transforms.lua in float64 numpy with the same draws."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(3, generator=generator).tolist()
    result = image.numpy().astype(np.float64)
    for which in order:
        alpha = 1.0 + (-strength + 2 * strength * torch.rand((), dtype=torch.float64, generator=generator).item())
        gray = 0.299 * result[0] + 0.587 * result[1] + 0.114 * result[2]
        if which == 0:  # brightness: blend with zeros
            other = np.zeros_like(result)
        elif which == 1:  # contrast: blend with the mean luminance
            other = np.full_like(result, gray.mean())
        else:  # saturation: blend with the grayscale image
            other = np.broadcast_to(gray, result.shape)
        result = result * alpha + (1 - alpha) * other
    return result


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_color_jitter_exact_output(seed):
    image = torch.rand(3, 9, 11, generator=torch.Generator().manual_seed(1)) * 1.4 - 0.2
    output = augment.ColorJitter(0.4, 0.4, 0.4)(image, torch.Generator().manual_seed(seed))
    np.testing.assert_allclose(output.numpy(), reference_jitter(image, seed), rtol=0, atol=2e-6)
    assert output.max() > 1.0 or output.min() < 0.0  # no clamping


def test_lighting_exact_output():
    image = torch.rand(3, 5, 4)
    output = augment.Lighting(0.1)(image, torch.Generator().manual_seed(4))
    alpha = torch.empty(3).normal_(0.0, 0.1, generator=torch.Generator().manual_seed(4)).double().numpy()
    eigval = np.array([0.2175, 0.0188, 0.0045])
    eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
    rgb = (eigvec * alpha[None, :] * eigval[None, :]).sum(axis=1)
    np.testing.assert_allclose((output - image).numpy(), np.broadcast_to(rgb[:, None, None], (3, 5, 4)), atol=1e-6)
    assert np.abs(rgb).max() > 0


def test_horizontal_flip_frequency_and_content():
    image = torch.arange(12.0).view(1, 3, 4).expand(3, 3, 4)
    flip = augment.HorizontalFlip(0.5)
    outputs = [flip(image, torch.Generator().manual_seed(seed)) for seed in range(2000)]
    flipped = sum(torch.equal(output, image.flip(-1)) for output in outputs)
    assert sum(torch.equal(output, image) for output in outputs) + flipped == 2000
    assert 0.46 < flipped / 2000 < 0.54


def test_cifar_random_crop_draws_x_then_y():
    image = torch.rand(3, 32, 32)
    output = augment.RandomCrop(32, 4)(image, torch.Generator().manual_seed(8))
    generator = torch.Generator().manual_seed(8)
    x1 = torch.randint(0, 9, (), generator=generator).item()
    y1 = torch.randint(0, 9, (), generator=generator).item()
    padded = torch.zeros(3, 40, 40)
    padded[:, 4:36, 4:36] = image
    assert torch.equal(output, padded[:, y1 : y1 + 32, x1 : x1 + 32])


def test_imagenet_pipeline_order_and_reproducibility():
    image = (torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(2)) * 255).to(torch.uint8)
    pipeline = augment.imagenet_train_transform(size=16)
    names = [type(step).__name__ for step in pipeline.transforms]
    assert names == ["RandomSizedCrop", "ColorJitter", "Lighting", "ColorNormalize", "HorizontalFlip"]
    first = pipeline(image, augment.sample_generator(0, 1, 5))
    again = pipeline(image, augment.sample_generator(0, 1, 5))
    other = pipeline(image, augment.sample_generator(0, 2, 5))
    assert first.shape == (3, 16, 16) and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.equal(first, other)
    # the same steps by hand with one generator give the same tensor
    generator = augment.sample_generator(0, 1, 5)
    by_hand = augment.RandomSizedCrop(16)(image, generator)
    by_hand = augment.ColorJitter(0.4, 0.4, 0.4)(by_hand, generator)
    by_hand = augment.Lighting(0.1)(by_hand, generator)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    by_hand = augment.HorizontalFlip(0.5)((by_hand - mean) / std, generator)
    torch.testing.assert_close(first, by_hand, rtol=0, atol=1e-6)
