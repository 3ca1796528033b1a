"""The datasets and loaders of a run: ImageNet folders, CIFAR pickles, or generated data.

Training: fb.resnet.torch / liuzhuang13 augmentation (:mod:`zoo.data.augment`)
with per-sample generators, a :class:`ResumableSampler` (DistributedSampler
order), pinned memory on GPUs and persistent workers. Validation: the
deterministic Torch7 pipeline of the evaluation (ImageNet: Scale(256),
ColorNormalize, CenterCrop(224); CIFAR: ColorNormalize), sharded over ranks
without padding so the counts are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from zoo.data import augment
from zoo.training.config import TrainConfig
from zoo.training.datasets import (
    AugmentedDataset,
    CifarDataset,
    DataError,
    ResumableSampler,
    ShardSampler,
    SyntheticDataset,
    batches_per_epoch,
)
from zoo.training.distributed import DistributedContext


@dataclass
class TrainingData:
    train_sampler: ResumableSampler
    train_loader: DataLoader
    val_loader: DataLoader | None
    num_classes: int
    steps_per_epoch: int


def model_stem(config: TrainConfig) -> str:
    """``cifar`` or ``imagenet``: the stem of the network the run will build."""
    from zoo.factory import get_config
    from zoo.training.recipe import TRAINING_ARCHS

    if config.model_config is not None:
        return str(config.model_config.get("stem", "imagenet"))
    if config.arch in TRAINING_ARCHS:
        return TRAINING_ARCHS[config.arch].stem
    return get_config(config.arch).stem


class TransformedDataset(Dataset):
    """``(transform(image), label)`` for each ``(image, label)`` of ``source`` (deterministic transforms)."""

    def __init__(self, source: Dataset, transform: Any) -> None:
        self.source = source
        self.transform = transform

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.source[index]
        return self.transform(image), label


class ImageFileDataset(Dataset):
    """Decoded images ``(uint8 [3, H, W], label)`` from a list of ``(path, label)``."""

    def __init__(self, samples: list[tuple[str, int]]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from zoo.data.decode import load_image_uint8

        path, label = self.samples[index]
        return load_image_uint8(path), label


def _imagenet_split(root: Path, split: str) -> tuple[list[tuple[str, int]], list[str]]:
    from zoo.data.folder import ImageFolder

    directory = root / split
    if not directory.is_dir():
        raise DataError(f"no {split}/ folder under {root}; expected ImageNet as {root}/train/<class>/*.JPEG and {root}/val/<class>/*.JPEG")
    folder = ImageFolder(directory)
    return [(str(path), int(label)) for path, label in folder.samples], list(folder.classes)


def _datasets(config: TrainConfig) -> tuple[Dataset, Dataset | None, Any, int]:
    """(train source, val dataset, train transform, num_classes) for the configured data."""
    kind = config.dataset_kind
    if kind == "synthetic":
        image_size = config.image_size or (32 if model_stem(config) == "cifar" else 224)
        classes = config.num_classes or config.synthetic_classes
        train_source = SyntheticDataset(config.synthetic_samples, classes, image_size, seed=config.seed)
        val_set = SyntheticDataset(config.synthetic_val_samples, classes, image_size, seed=config.seed, first_index=config.synthetic_samples)
        transform = augment.RandomCompose([augment.HorizontalFlip(0.5)]) if config.augment else None
        return train_source, val_set, transform, classes
    if kind in ("cifar10", "cifar100"):
        from zoo.data.torch7 import ColorNormalize

        mean, std = (augment.CIFAR10_MEAN, augment.CIFAR10_STD) if kind == "cifar10" else (augment.CIFAR100_MEAN, augment.CIFAR100_STD)
        train_source = CifarDataset(config.data, train=True, dataset=kind)
        val_set = TransformedDataset(CifarDataset(config.data, train=False, dataset=kind), ColorNormalize(mean, std))
        return train_source, val_set, augment.cifar_train_transform(mean, std, config.augment), train_source.num_classes
    from zoo.data.torch7 import validation_transform

    root = Path(config.data)
    train_samples, classes = _imagenet_split(root, "train")
    val_set = None
    if (root / "val").is_dir():
        val_samples, val_classes = _imagenet_split(root, "val")
        if val_classes != classes:
            raise DataError(f"{root}/val has classes {val_classes[:3]}... but {root}/train has {classes[:3]}...; they must match")
        val_set = TransformedDataset(ImageFileDataset(val_samples), validation_transform())
    size = config.image_size or 224
    return ImageFileDataset(train_samples), val_set, augment.imagenet_train_transform(size), len(classes)


def build_training_data(config: TrainConfig, context: DistributedContext, micro_batch: int) -> TrainingData:
    """Loaders for this rank: ``micro_batch`` images per forward pass."""
    train_source, val_set, transform, num_classes = _datasets(config)
    num_classes = config.num_classes or num_classes
    train_set = AugmentedDataset(train_source, transform, config.seed)
    sampler = ResumableSampler(train_set, num_replicas=context.world_size, rank=context.rank, shuffle=True, seed=config.seed)
    use_cuda = context.device.type == "cuda"
    workers = max(int(config.workers), 0)
    loader_options: dict[str, Any] = {
        "num_workers": workers,
        "pin_memory": use_cuda,
        "persistent_workers": workers > 0,
    }
    if workers > 0:
        loader_options["prefetch_factor"] = 4
    train_loader = DataLoader(
        train_set, batch_size=micro_batch, sampler=sampler, drop_last=False,
        generator=torch.Generator().manual_seed(config.seed), **loader_options,
    )
    val_loader = None
    if val_set is not None and config.validate:
        val_loader = DataLoader(
            val_set, batch_size=micro_batch, sampler=ShardSampler(len(val_set), context.world_size, context.rank),
            generator=torch.Generator().manual_seed(config.seed), **loader_options,
        )
    steps = batches_per_epoch(len(train_set), context.world_size, micro_batch, config.accumulate)
    return TrainingData(sampler, train_loader, val_loader, num_classes, steps)
