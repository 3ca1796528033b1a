"""CIFAR datasets on disk in the official python-version layout, generated for tests.

The files are what ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` hold, on a small scale:
protocol-2 pickles of dicts with byte-string keys, ``data`` a uint8 array of N x 3072 values (1024 red,
1024 green, 1024 blue), the labels a list of ints (``labels`` for CIFAR-10, ``fine_labels`` and
``coarse_labels`` for CIFAR-100), plus the ``batches.meta`` / ``meta`` file.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

#: The folder each official archive extracts to.
FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def _split_files(dataset: str, train_images: int, test_images: int, train_batches: int) -> dict[str, int]:
    """File name -> image count, in the official order."""
    if dataset == "cifar100":
        return {"train": train_images, "test": test_images}
    per_batch, extra = divmod(train_images, train_batches)
    files = {f"data_batch_{index + 1}": per_batch + (index < extra) for index in range(train_batches)}
    return {**files, "test_batch": test_images}


def write_cifar(
    root: Path,
    dataset: str = "cifar10",
    train_images: int = 40,
    test_images: int = 12,
    train_batches: int = 5,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Write random images and labels as ``root/<official folder>/...``; returns each file's (data, labels)."""
    generator = np.random.default_rng(seed)
    folder = Path(root) / FOLDERS[dataset]
    folder.mkdir(parents=True, exist_ok=True)
    classes = 10 if dataset == "cifar10" else 100
    written = {}
    for name, count in _split_files(dataset, train_images, test_images, train_batches).items():
        data = generator.integers(0, 256, size=(count, 3072), dtype=np.uint8)
        labels = [int(label) for label in generator.integers(0, classes, size=count)]
        batch = {b"data": data, b"batch_label": name.encode(), b"filenames": [b"x.png"] * count}
        if dataset == "cifar10":
            batch[b"labels"] = labels
        else:
            batch |= {b"fine_labels": labels, b"coarse_labels": [label // 5 for label in labels]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = (data, labels)
    meta_name, meta = (
        ("batches.meta", {b"label_names": [b"class"] * 10, b"num_vis": 3072})
        if dataset == "cifar10"
        else ("meta", {b"fine_label_names": [b"class"] * 100, b"coarse_label_names": [b"group"] * 20})
    )
    (folder / meta_name).write_bytes(pickle.dumps(meta, protocol=2))
    return written
