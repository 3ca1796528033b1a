"""Training datasets and the resumable sampler.

Training items are addressed by ``(epoch, index)``: the sampler yields those
pairs and :class:`AugmentedDataset` seeds a fresh generator from
``(seed, epoch, index)`` for each sample, so the augmentation of a sample is a
function of those three numbers alone, whichever worker or rank decodes it and
whether or not the run was resumed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator

import torch
from torch import Tensor
from torch.utils.data import Dataset, DistributedSampler

from zoo.data.augment import sample_generator
from zoo.data.cifar import CIFAR_NUM_CLASSES, read_split
from zoo.training.errors import DataError

#: The class patterns of :class:`SyntheticDataset` are kept in memory: 1000 classes at 224 pixels take 0.6 GB.
MAX_PATTERN_BYTES = 2**30


class SyntheticDataset(Dataset):
    """A learnable generated classification task for smoke tests.

    Each class has a fixed random low-frequency pattern; a sample is its class
    pattern plus independent noise, both drawn from ``seed`` and the index, so
    the dataset needs no storage and is identical in every process.
    Labels cycle through the classes (``index % num_classes``); a validation
    split uses the same ``seed`` (same patterns) and a ``first_index`` past the
    training samples (new noise).
    """

    def __init__(
        self,
        num_samples: int,
        num_classes: int,
        image_size: int,
        seed: int = 0,
        noise: float = 0.5,
        first_index: int = 0,
    ) -> None:
        if num_samples < 1 or num_classes < 1 or image_size < 1:
            raise DataError(
                f"synthetic data needs positive sizes, got {num_samples} samples, {num_classes} classes,"
                f" {image_size} pixels"
            )
        pattern_bytes = num_classes * 3 * image_size**2 * 4
        if pattern_bytes > MAX_PATTERN_BYTES:
            raise DataError(
                f"synthetic data of {num_classes} classes at {image_size} x {image_size} pixels needs"
                f" {pattern_bytes / 2**30:.3g} GiB of class patterns, more than {MAX_PATTERN_BYTES // 2**30} GiB;"
                " use fewer classes or smaller images"
            )
        self.num_samples = int(num_samples)
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.seed = int(seed)
        self.noise = float(noise)
        self.first_index = int(first_index)
        generator = torch.Generator().manual_seed(self.seed)
        coarse = torch.randn(self.num_classes, 3, 4, 4, generator=generator)
        self.patterns = torch.nn.functional.interpolate(
            coarse, size=(self.image_size,) * 2, mode="bilinear", align_corners=False
        )

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} synthetic samples")
        index += self.first_index
        label = index % self.num_classes
        generator = torch.Generator().manual_seed(self.seed * 7919 + 1_000_003 * (index + 1))
        noise = torch.randn(3, self.image_size, self.image_size, generator=generator)
        return self.patterns[label] + self.noise * noise, label


class CifarDataset(Dataset):
    """CIFAR-10/100 from the python-version files, as uint8-valued float ``[3, 32, 32]`` images (0..255).

    ``root`` is the extracted folder (or the folder above it) or the official ``.tar.gz`` archive;
    CIFAR-10 reads ``data_batch_1..5`` / ``test_batch`` (labels ``labels``), CIFAR-100 ``train`` /
    ``test`` (labels ``fine_labels``). The files are read by :func:`zoo.data.cifar.read_split`,
    which never runs code from them and checks every batch. Pixel values stay in 0..255 as in the
    Lua loader (``data[i]:float()``).
    """

    def __init__(self, root: str | os.PathLike, train: bool = True, dataset: str = "cifar10") -> None:
        images, self.labels = read_split(root, train, dataset)
        self.images = torch.from_numpy(images)
        self.num_classes = CIFAR_NUM_CLASSES[dataset]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.images[index].float(), self.labels[index]


class AugmentedDataset(Dataset):
    """Items ``(epoch, index)`` of ``source`` passed through ``transform(image, generator)``.

    ``source[index]`` returns ``(image, label)``; the generator is
    :func:`zoo.data.augment.sample_generator(seed, epoch, index)`.
    """

    def __init__(
        self, source: Dataset, transform: Callable[[Tensor, torch.Generator], Tensor] | None, seed: int
    ) -> None:
        self.source = source
        self.transform = transform
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> tuple[Tensor, int]:
        epoch, index = key
        image, label = self.source[index]
        if self.transform is not None:
            image = self.transform(image, sample_generator(self.seed, epoch, index))
        return image, label


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that yields ``(epoch, index)`` and can start part-way into an epoch.

    The order is DistributedSampler's (a permutation seeded with
    ``seed + epoch``, padded to a multiple of the world size, every
    ``world_size``-th index from ``rank``); :meth:`set_start` skips the first
    ``n`` indices of this rank's share once, for a resumed epoch.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, shuffle: bool = True, seed: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` indices of the current epoch (on this rank)."""
        self.start = int(start)

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        indices = list(super().__iter__())[self.start :]
        return iter([(self.epoch, index) for index in indices])

    def __len__(self) -> int:
        return self.num_samples - self.start


def batches_per_epoch(num_samples: int, world_size: int, micro_batch: int, accumulate: int) -> int:
    """Optimizer steps per epoch: ``ceil(ceil(N / world) / micro_batch / accumulate)`` (Lua keeps the last
    partial batch)."""
    per_rank = math.ceil(num_samples / world_size)
    return math.ceil(math.ceil(per_rank / micro_batch) / accumulate)
