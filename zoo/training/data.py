"""The datasets and loaders of a run: ImageNet folders, CIFAR pickles, or generated data.

Training: fb.resnet.torch / liuzhuang13 augmentation (:mod:`zoo.data.augment`)
with per-sample generators, a :class:`ResumableSampler` (DistributedSampler
order), pinned memory on GPUs and persistent workers. Validation: a dataset of
``(image, label, index)`` for ``zoo.evaluation.evaluate`` with the deterministic
Torch7 pipeline (ImageNet: Scale(256), ColorNormalize, CenterCrop(224); CIFAR:
ColorNormalize), which shards it over the ranks without padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from zoo.choices import SYNTHETIC
from zoo.data import augment
from zoo.runtime import DistributedContext, default_workers, loader_options
from zoo.training.config import TrainConfig
from zoo.training.datasets import (
    AugmentedDataset,
    CifarDataset,
    DataError,
    ResumableSampler,
    SyntheticDataset,
    batches_per_epoch,
)


@dataclass
class TrainingData:
    """This rank's training loader and its resumable sampler, the validation set (or None), the label count
    and the optimizer steps per epoch."""

    train_sampler: ResumableSampler
    train_loader: DataLoader
    val_dataset: Dataset | None
    num_classes: int
    steps_per_epoch: int
    image_size: int


def model_stem(config: TrainConfig) -> str:
    """``cifar`` or ``imagenet``: the stem of the network the run will build."""
    from zoo.factory import get_config
    from zoo.training.recipe import TRAINING_ARCHS

    if config.model_config is not None:
        return str(config.model_config.get("stem", "imagenet"))
    if config.init_weights:
        from zoo.registry import read_weights  # the reader build_model's zoo.load_weights uses (.t7 included)

        return read_weights(config.init_weights)[1].stem
    if config.arch in TRAINING_ARCHS:
        return TRAINING_ARCHS[config.arch].stem
    return get_config(config.arch).stem


class ValidationDataset(Dataset):
    """``(transform(image), label, index)`` items, the form ``zoo.evaluation.evaluate`` takes."""

    def __init__(self, source: Dataset, transform: Any = None) -> None:
        self.source = source
        self.transform = transform
        self.classes = getattr(source, "classes", None)

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        image, label = self.source[index][:2]
        if self.transform is not None:
            image = self.transform(image)
        return image, label, index


class FolderImages(Dataset):
    """``(uint8 image [3, H, W], label)`` of an ``ImageFolder`` split, decoded as ``image.load`` does."""

    def __init__(self, folder: Dataset) -> None:
        self.folder = folder
        self.classes = folder.classes

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label, _ = self.folder[index]
        return image, label


def _imagenet(config: TrainConfig) -> tuple[Dataset, Dataset | None, int]:
    """Training images of ``DATA/train`` and the evaluation's faithful validation of ``DATA/val``."""
    from zoo import transforms
    from zoo.data.decode import load_image_uint8
    from zoo.data.folder import ImageFolder

    root = Path(config.data)
    if not (root / "train").is_dir():
        raise DataError(
            f"no train/ folder under {root}; expected ImageNet as {root}/train/<class>/*.JPEG and "
            f"{root}/val/<class>/*.JPEG"
        )
    train_folder = ImageFolder(root, transform=load_image_uint8, split="train")
    val_set = None
    if (root / "val").is_dir():
        # The validation labels follow the training folders, so fine-tuning on a subset keeps them aligned.
        size = config.image_size or 224
        if size == 224:  # the evaluation's transform (with its JPEG fast path); items are already (image, label, index)
            val_set = ImageFolder(
                root, transform=transforms(None, kind="torch7"), classes=train_folder.classes, split="val"
            )
        else:  # other crop sizes keep the 256/224 ratio of the Scale
            from zoo.data.torch7 import ValidationTransform

            val_folder = ImageFolder(root, transform=load_image_uint8, classes=train_folder.classes, split="val")
            val_set = ValidationDataset(FolderImages(val_folder), ValidationTransform(round(size * 256 / 224), size))
    return FolderImages(train_folder), val_set, len(train_folder.classes)


def _datasets(config: TrainConfig) -> tuple[Dataset, Dataset | None, Any, int, int]:
    """(train source, val dataset, train transform, num_classes, image side) for the configured data."""
    kind = config.dataset_kind
    if kind == SYNTHETIC:
        image_size = config.image_size or (32 if model_stem(config) == "cifar" else 224)
        classes = config.num_classes or config.synthetic_classes
        train_source = SyntheticDataset(config.synthetic_samples, classes, image_size, seed=config.seed)
        val_set = ValidationDataset(
            SyntheticDataset(
                config.synthetic_val_samples,
                classes,
                image_size,
                seed=config.seed,
                first_index=config.synthetic_samples,
            )
        )
        transform = augment.RandomCompose([augment.HorizontalFlip(0.5)]) if config.augment else None
        return train_source, val_set, transform, classes, image_size
    if kind in ("cifar10", "cifar100"):
        from zoo.data.torch7 import ColorNormalize

        mean, std = (
            (augment.CIFAR10_MEAN, augment.CIFAR10_STD)
            if kind == "cifar10"
            else (augment.CIFAR100_MEAN, augment.CIFAR100_STD)
        )
        train_source = CifarDataset(config.data, train=True, dataset=kind)
        val_set = ValidationDataset(CifarDataset(config.data, train=False, dataset=kind), ColorNormalize(mean, std))
        transform = augment.cifar_train_transform(mean, std, config.augment)
        return train_source, val_set, transform, train_source.num_classes, 32
    train_source, val_set, num_classes = _imagenet(config)
    size = config.image_size or 224
    return train_source, val_set, augment.imagenet_train_transform(size), num_classes, size


def build_training_data(config: TrainConfig, context: DistributedContext, micro_batch: int) -> TrainingData:
    """Loaders for this rank: ``micro_batch`` images per forward pass."""
    train_source, val_set, transform, num_classes, image_size = _datasets(config)
    num_classes = config.num_classes or num_classes
    train_set = AugmentedDataset(train_source, transform, config.seed)
    sampler = ResumableSampler(
        train_set, num_replicas=context.world_size, rank=context.rank, shuffle=config.shuffle, seed=config.seed
    )
    workers = default_workers(context.device) if config.workers is None else max(int(config.workers), 0)
    train_loader = DataLoader(
        train_set,
        batch_size=micro_batch,
        sampler=sampler,
        drop_last=False,
        generator=torch.Generator().manual_seed(config.seed),
        **loader_options(context.device, workers, persistent=True),
    )
    steps = batches_per_epoch(len(train_set), context.world_size, micro_batch, config.accumulate)
    return TrainingData(sampler, train_loader, val_set if config.validate else None, num_classes, steps, image_size)
