"""The ImageNet-1k label space: wnids and human-readable names, in the models' output order.

The published models number the classes like fb.resnet.torch: by the sorted
wnid folder names of the ILSVRC-2012 training set (``n01440764`` is class 0).
``imagenet_wnids.txt`` lists those 1000 wnids in that order (the same list as
timm's ``imagenet_synsets.txt``); the names are torchvision's
``_IMAGENET_CATEGORIES``, which follow the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

__all__ = ["IMAGENET_NUM_CLASSES", "imagenet_class_names", "imagenet_wnids", "label_space"]

IMAGENET_NUM_CLASSES = 1000
_WNIDS_FILE = Path(__file__).resolve().parent / "imagenet_wnids.txt"


@cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 wnids in label order (sorted)."""
    wnids = tuple(_WNIDS_FILE.read_text(encoding="ascii").split())
    if len(wnids) != IMAGENET_NUM_CLASSES:
        raise RuntimeError(
            f"{_WNIDS_FILE} lists {len(wnids)} wnids, expected {IMAGENET_NUM_CLASSES}; reinstall the package"
        )
    return wnids


@cache
def imagenet_class_names() -> tuple[str, ...]:
    """Human-readable names of the 1000 classes in label order (torchvision's list)."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES  # torchvision is heavy: imported on use

    return tuple(_IMAGENET_CATEGORIES)


def label_space(folder_names: Sequence[str], num_outputs: int | None) -> tuple[list[str], str]:
    """The class list that gives labels matching a model's outputs, and how it was chosen.

    A 1000-way model with wnid-named folders uses the full ImageNet wnid list, so that a
    folder holding only some classes still gets the right label numbers ("imagenet-wnids").
    Anything else is numbered by the sorted folder names, as fb.resnet.torch does
    ("sorted-folders").
    """
    wnids = imagenet_wnids()
    if num_outputs == IMAGENET_NUM_CLASSES and set(folder_names) <= set(wnids):
        return list(wnids), "imagenet-wnids"
    return sorted(folder_names), "sorted-folders"
