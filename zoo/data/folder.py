"""Image-folder datasets in fb.resnet.torch's layout: ``DIR/val/<class>/*.JPEG``.

fb.resnet.torch (``datasets/imagenet-gen.lua``) numbers the classes by the sorted
folder names and takes every file with an image extension (case-insensitive) in
a class folder. :class:`ImageFolder` does the same, accepts either the dataset
root (holding ``val/``) or the class-folder root itself, and can keep only the
first ``limit`` images of every class (sorted by file name) for quick checks.

Items are ``(image, label, index)``: the index is the sample's position in the
dataset, so that evaluation can prove every sample was counted exactly once.
The image is whatever ``transform(path)`` returns: ``[3, H, W]`` for one crop,
``[10, 3, H, W]`` for ten crops (the default collate stacks either).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from zoo.data.errors import DatasetLayoutError

__all__ = ["IMAGE_EXTENSIONS", "DatasetLayoutError", "ImageFolder", "find_class_root", "find_classes"]

#: The split folders of fb.resnet.torch's dataset root.
SPLITS = ("train", "val")
#: The extensions fb.resnet.torch's ``find`` accepts, compared case-insensitively.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp")


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def find_class_root(root: str | os.PathLike[str], split: str = "val") -> Path:
    """The folder whose subfolders are the classes: ``root/split`` when it exists, else ``root``.

    A root that holds the other split (``train/`` or ``val/``) but not ``split`` is an error
    rather than a class-folder root.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(
            f"image folder {root} does not exist or is not a directory; expected {root}/{split}/<class>/*.JPEG "
            f"or {root}/<class>/*.JPEG"
        )
    candidate = root / split
    if candidate.is_dir():
        return candidate
    splits = [name for name in SPLITS if (root / name).is_dir()]
    if splits:
        raise DatasetLayoutError(
            f"{root} holds {', '.join(f'{name}/' for name in splits)} but no {split}/ folder; "
            f"expected {root}/{split}/<class>/*.JPEG"
        )
    return root


def find_classes(class_root: str | os.PathLike[str]) -> list[str]:
    """Sorted names of the class folders (hidden folders skipped), as fb.resnet.torch orders them."""
    class_root = Path(class_root)
    classes = sorted(entry.name for entry in os.scandir(class_root) if entry.is_dir() and not _is_hidden(entry.name))
    if not classes:
        raise DatasetLayoutError(
            f"no class folders in {class_root}; expected {class_root}/<class>/*.JPEG "
            "(for ImageNet: one folder per wnid, e.g. n01440764/ILSVRC2012_val_00000293.JPEG)"
        )
    return classes


def _list_images(class_dir: Path) -> list[Path]:
    return sorted(
        Path(entry.path)
        for entry in os.scandir(class_dir)
        if entry.is_file() and not _is_hidden(entry.name) and entry.name.lower().endswith(IMAGE_EXTENSIONS)
    )


class ImageFolder(Dataset):
    """``(transform(path), label, index)`` for every image below ``root``'s class folders.

    Args:
        root: the dataset root holding ``split/`` (fb.resnet.torch layout) or the class-folder root.
        transform: maps an image path to a tensor (e.g. ``zoo.transforms(None, kind="torch7")``);
            ``None`` returns the decoded float ``[3, H, W]`` image in [0, 1].
        limit: keep only the first ``limit`` images of each class, in sorted file-name order.
        classes: the label space, in label order. Default: the sorted class folders. Passing the
            1000 ImageNet wnids keeps labels right when ``root`` holds only some of the classes;
            every folder must then be one of ``classes``.
        split: the subfolder of ``root`` that holds the class folders when it exists.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        transform: Callable[[str], torch.Tensor] | None = None,
        limit: int | None = None,
        classes: Sequence[str] | None = None,
        split: str = "val",
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be a positive number of images per class, got {limit}")
        self.root = Path(root)
        self.class_root = find_class_root(self.root, split)
        folders = find_classes(self.class_root)
        self.classes = list(classes) if classes is not None else folders
        self.class_to_idx = {name: label for label, name in enumerate(self.classes)}
        unknown = [name for name in folders if name not in self.class_to_idx]
        if unknown:
            raise DatasetLayoutError(
                f"{len(unknown)} class folder(s) in {self.class_root} are not in the given class list "
                f"(first: {unknown[:3]}); remove them or pass the matching class list"
            )
        self.limit = limit
        self.transform = transform
        self.samples: list[tuple[str, int]] = []
        for name in folders:
            images = _list_images(self.class_root / name)
            if limit is not None:
                images = images[:limit]
            self.samples.extend((str(path), self.class_to_idx[name]) for path in images)
        if not self.samples:
            raise DatasetLayoutError(
                f"no images ({', '.join(IMAGE_EXTENSIONS)}, any case) in the class folders of {self.class_root}"
            )

    @property
    def targets(self) -> list[int]:
        """Every sample's label, in dataset order (torchvision's ``ImageFolder.targets``)."""
        return [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        path, label = self.samples[index]
        if self.transform is None:
            from zoo.data.decode import load_image

            image = load_image(path)
        else:
            image = self.transform(path)
        return image, label, index

    def __repr__(self) -> str:
        limit = f", limit={self.limit}" if self.limit is not None else ""
        return (
            f"ImageFolder({str(self.class_root)!r}, {len(self.samples)} images, "
            f"{len(self.classes)} classes{limit}, transform={self.transform!r})"
        )
