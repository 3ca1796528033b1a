"""Real data on disk: CIFAR python pickles and an ImageNet-style folder of JPEG files."""

import numpy as np
import pytest
import torch
from cifar_files import write_cifar
from PIL import Image

from zoo.data.augment import sample_generator
from zoo.data.cifar import CifarError
from zoo.runtime import DistributedContext
from zoo.training.config import TrainConfig
from zoo.training.data import build_training_data
from zoo.training.datasets import CifarDataset, ResumableSampler
from zoo.training.engine import train

TINY_CIFAR = {"growth_rate": 4, "block_config": [2, 2], "num_init_features": 8, "stem": "cifar"}


def write_cifar10(root, train_images=40, test_images=12):
    """The python-pickle CIFAR-10 layout under ``root``: data_batch_1..2, test_batch."""
    return write_cifar(root, "cifar10", train_images, test_images, train_batches=2)


def test_cifar_pickles_are_read_in_file_order(tmp_path):
    written = write_cifar10(tmp_path)
    train_set = CifarDataset(tmp_path, train=True)
    test_set = CifarDataset(tmp_path, train=False)
    assert len(train_set) == 40 and len(test_set) == 12 and train_set.num_classes == 10
    image, label = train_set[21]  # second file, second row
    expected = written["data_batch_2"][0][1].reshape(3, 32, 32).astype(np.float32)
    assert torch.equal(image, torch.from_numpy(expected)) and label == written["data_batch_2"][1][1]
    assert image.max() > 1  # 0..255, as the Lua loader keeps them
    with pytest.raises(CifarError, match="data_batch"):
        CifarDataset(tmp_path / "nowhere", train=True)


def test_cifar_recipe_runs_through_the_engine(tmp_path):
    write_cifar10(tmp_path / "cifar")
    config = TrainConfig(
        arch="tiny",
        model_config=TINY_CIFAR,
        data=str(tmp_path / "cifar"),
        dataset="cifar10",
        out=str(tmp_path / "run"),
        epochs=2,
        batch_size=8,
        workers=0,
        progress=False,
    )
    resolved = config.resolved()
    assert resolved.lr == pytest.approx(0.1 * 8 / 64)
    result = train(config)
    assert result.status == "finished" and result.global_step == 10
    assert [epoch["lr"] for epoch in result.history] == [
        pytest.approx(0.1 * 8 / 64 * 0.1),
        pytest.approx(0.1 * 8 / 64 * 0.01),
    ]
    assert all(0 <= epoch["val_top1_error"] <= 100 for epoch in result.history)


def test_cifar_training_items_are_augmented_per_epoch_and_index(tmp_path):
    write_cifar10(tmp_path / "cifar")
    config = TrainConfig(
        data=str(tmp_path / "cifar"), dataset="cifar10", batch_size=8, workers=0, model_config=TINY_CIFAR
    ).resolved()
    data = build_training_data(config, DistributedContext(), micro_batch=8)
    dataset = data.train_loader.dataset
    first, _label = dataset[(1, 3)]
    assert torch.equal(first, dataset[(1, 3)][0]) and first.shape == (3, 32, 32)
    raw = dataset.source[3][0]
    normalized = (raw - torch.tensor([125.3, 123.0, 113.9]).view(3, 1, 1)) / torch.tensor([63.0, 62.1, 66.7]).view(
        3, 1, 1
    )
    # flip then 4-pixel padded crop: some window of the (maybe flipped) normalized image
    generator = sample_generator(config.seed, 1, 3)
    flipped = (
        normalized.flip(-1) if torch.rand((), dtype=torch.float64, generator=generator).item() < 0.5 else normalized
    )
    x1 = torch.randint(0, 9, (), generator=generator).item()
    y1 = torch.randint(0, 9, (), generator=generator).item()
    padded = torch.nn.functional.pad(flipped, (4, 4, 4, 4))
    torch.testing.assert_close(first, padded[:, y1 : y1 + 32, x1 : x1 + 32], rtol=0, atol=1e-5)


def test_resumable_sampler_skips_consumed_indices_and_splits_ranks():
    dataset = list(range(10))
    full = [list(ResumableSampler(dataset, 2, rank, seed=4)) for rank in (0, 1)]
    for sampler_output in full:
        assert len(sampler_output) == 5 and all(epoch == 0 for epoch, _ in sampler_output)
    assert sorted(index for rank in full for _, index in rank) == list(range(10))
    sampler = ResumableSampler(dataset, 2, 1, seed=4)
    sampler.set_epoch(0)
    sampler.set_start(3)
    assert list(sampler) == full[1][3:] and len(sampler) == 2
    sampler.set_epoch(1)
    sampler.set_start(0)
    assert [index for _, index in sampler] != [index for _, index in full[1]]


def write_image_folder(root, classes=("cat", "dog"), per_class=4):
    generator = np.random.default_rng(1)
    for split, count in (("train", per_class), ("val", 2)):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = generator.integers(0, 256, size=(30 + 3 * index, 40, 3), dtype=np.uint8)
                pixels[..., label] = 255  # a learnable colour cue per class
                Image.fromarray(pixels).save(folder / f"{index}.JPEG", quality=95)


def test_imagenet_folder_training_with_jpeg_files(tmp_path):
    write_image_folder(tmp_path / "imagenet")
    config = TrainConfig(
        arch="tiny",
        model_config={**TINY_CIFAR, "stem": "imagenet"},
        data=str(tmp_path / "imagenet"),
        out=str(tmp_path / "run"),
        epochs=1,
        batch_size=4,
        image_size=32,
        workers=0,
        progress=False,
    )
    result = train(config)
    assert result.status == "finished" and result.global_step == 2
    assert result.history[0]["val_top1_error"] in (0.0, 25.0, 50.0, 75.0, 100.0)  # 4 validation images, all counted
    dataset = build_training_data(config.resolved(), DistributedContext(), micro_batch=4).train_loader.dataset
    image, label = dataset[(1, 0)]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 0
    assert torch.equal(image, dataset[(1, 0)][0]) and not torch.equal(image, dataset[(2, 0)][0])


def test_imagenet_validation_at_224_pixels_is_the_evaluation_pipeline(tmp_path):
    """At the recipe's crop size the validation items are what ``zoo.transforms`` gives each file, with their index."""
    from zoo import transforms

    write_image_folder(tmp_path / "imagenet")
    config = TrainConfig(
        arch="tiny",
        model_config={**TINY_CIFAR, "stem": "imagenet"},
        data=str(tmp_path / "imagenet"),
        out=str(tmp_path / "run"),
        epochs=1,
        batch_size=4,
        workers=0,
        progress=False,
    )
    val_set = build_training_data(config.resolved(), DistributedContext(), micro_batch=4).val_dataset
    files = sorted((tmp_path / "imagenet" / "val").glob("*/*.JPEG"))
    assert len(val_set) == len(files) == 4
    for index, path in enumerate(files):
        image, label, item_index = val_set[index]
        assert item_index == index and label == ("cat", "dog").index(path.parent.name)
        assert image.shape == (3, 224, 224) and torch.equal(image, transforms(None, kind="torch7")(str(path)))


def test_synthetic_images_take_the_stem_of_torch7_initial_weights(tmp_path):
    """Without --image-size, synthetic images are sized for the network's stem, read from any file
    ``zoo.load_weights`` reads: here a Lua checkpoint written by our Torch7 writer."""
    from converters import t7
    from converters.synthetic.densenet import densenet_checkpoint
    from zoo.models.densenet import DenseNetConfig

    checkpoint = tmp_path / "tiny.t7"
    t7.save(
        densenet_checkpoint(
            DenseNetConfig(growth_rate=4, block_config=(1, 1, 1, 1), num_init_features=8, num_classes=5)
        ),
        checkpoint,
    )
    config = TrainConfig(
        data="synthetic", init_weights=str(checkpoint), out=str(tmp_path / "run"), workers=0, progress=False
    )
    dataset = build_training_data(config.resolved(), DistributedContext(), micro_batch=4).train_loader.dataset
    assert dataset[(1, 0)][0].shape == (3, 224, 224)
