"""Shared parts of the evaluation tests: real JPEG folders and classifiers whose answers are known.

The images are flat colours (or colour stripes) saved as real JPEG files. A flat colour
survives any resize and crop, and the Torch7 and torchvision pipelines both normalise with
the ImageNet mean/std, so :class:`ColorPrototypeModel` can undo the normalisation and
classify by the distance of the crop's mean colour to one prototype colour per class.
The expected top-1/top-5 answers are then computed here from the colours the images were
painted with, without running any pipeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: One prototype colour per class (RGB, 0..255), chosen so that for every colour painted below the
#: gaps between the 1st/2nd, 5th/6th and 6th/7th nearest prototypes exceed 0.04 (in [0,1]^2 units),
#: ten times what JPEG rounding can move a squared distance.
PROTOTYPES = np.array(
    [(195, 194, 86), (43, 207, 62), (200, 47, 222), (123, 30, 30), (199, 85, 136), (171, 145, 66), (130, 60, 81)],
    dtype=np.float64,
)
#: Sizes (width, height) the images cycle through: upscaled, downscaled and already-256 short sides.
SIZES = [(40, 30), (48, 64), (300, 260), (256, 320), (97, 61)]


class ColorPrototypeModel(nn.Module):
    """Scores class k by minus the squared distance of the crop's mean colour to prototype k."""

    def __init__(
        self, prototypes: np.ndarray = PROTOTYPES, num_outputs: int | None = None, positions: list[int] | None = None
    ) -> None:
        super().__init__()
        self.register_buffer("prototypes", torch.tensor(prototypes / 255.0, dtype=torch.float32))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3))
        self.num_outputs = num_outputs or len(prototypes)
        self.positions = positions or list(range(len(prototypes)))
        self.linear = nn.Linear(1, self.num_outputs)  # marks the output width, as a classifier's last layer

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        color = images.float().mean(dim=(2, 3)) * self.std + self.mean
        distances = ((color[:, None, :] - self.prototypes[None]) ** 2).sum(dim=2)
        scores = torch.full((images.shape[0], self.num_outputs), -1e4, device=images.device)
        scores[:, self.positions] = -distances
        return scores


class ChannelMeanModel(nn.Module):
    """Scores the classes red, green, blue by the crop's mean of that (un-normalised) channel."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3))
        self.calls: list[tuple[int, ...]] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(images.shape))
        return images.float().mean(dim=(2, 3)) * self.std + self.mean


def expected_ranking(color: np.ndarray, prototypes: np.ndarray = PROTOTYPES) -> list[int]:
    """Classes ordered from nearest to farthest prototype: what ColorPrototypeModel must answer."""
    distances = ((prototypes - color[None]) ** 2).sum(axis=1)
    return [int(k) for k in np.argsort(distances, kind="stable")]


def save_jpeg(path: Path, color, size: tuple[int, int], quality: int = 95) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, tuple(int(c) for c in color)).save(path, format="JPEG", quality=quality)


@dataclass
class PaintedImage:
    class_name: str
    label: int
    file_name: str
    color: np.ndarray

    def expected_top1(self) -> bool:
        return expected_ranking(self.color)[0] == self.label

    def expected_top5(self) -> bool:
        return self.label in expected_ranking(self.color)[:5]


def painting_plan() -> dict[int, list[np.ndarray]]:
    """Per class, the colours of its images in file-name order (odd counts: 3+3+5+1+3+3+3 = 21).

    Most images show their own class's prototype; some show another class's prototype or a
    mixture, so that some are wrong at top-1 and some (e.g. class 2's prototype in class 1,
    whose prototype is the farthest) are wrong at top-5. Which ones is computed, not assumed.
    """
    p = PROTOTYPES
    return {
        0: [p[0], p[0], p[5]],
        1: [p[1], p[2], p[1]],
        2: [p[2], p[2], p[3], p[2], (p[2] + p[5]) / 2],
        3: [p[3]],
        4: [p[4], (p[0] + p[3]) / 2, p[4]],
        5: [p[5], p[1], p[5]],
        6: [p[6], p[6], p[0]],
    }


def build_folder(
    root: Path, class_names: list[str], plan: dict[int, list[np.ndarray]] | None = None, layout: str = "val"
) -> list[PaintedImage]:
    """Write the planned JPEGs under ``root/val/<class>/`` (layout "val") or ``root/<class>/`` ("flat")."""
    plan = plan or painting_plan()
    class_root = root / "val" if layout == "val" else root
    painted = []
    counter = 0
    for label, colors in plan.items():
        for position, color in enumerate(colors):
            color = np.round(np.asarray(color, dtype=np.float64))
            # Names sort in plan order; the counter makes sizes cycle across classes.
            file_name = f"img_{position:02d}.JPEG" if position % 2 == 0 else f"img_{position:02d}.jpg"
            save_jpeg(class_root / class_names[label] / file_name, color, SIZES[counter % len(SIZES)])
            painted.append(PaintedImage(class_names[label], label, file_name, color))
            counter += 1
    return painted


def expected_counts(painted: list[PaintedImage], limit: int | None = None) -> tuple[int, int, int]:
    kept = [image for image in painted if limit is None or int(image.file_name[4:6]) < limit]
    return len(kept), sum(image.expected_top1() for image in kept), sum(image.expected_top5() for image in kept)


CLASS_NAMES = [f"n0{index:07d}" for index in range(len(PROTOTYPES))]


def evaluation_record(**changes):  # -> zoo.evaluation.EvaluationResult
    """A record as ``densenet-zoo evaluate --json`` writes it: densenet121 on the whole ImageNet validation set
    (50,000 images in wnid folders, one crop, the torch7 pipeline); ``changes`` replace fields."""
    from zoo.evaluation import EvaluationResult

    record = EvaluationResult(
        model="densenet121",
        weights_sha256=None,
        state_dict_sha256=None,
        data="/data/imagenet/val",
        preprocess="torch7",
        transform="ValidationTransform(256, 224)",
        crops=1,
        limit=None,
        label_space="imagenet-wnids",
        num_classes=1000,
        images=50000,
        top1_correct=37512,
        top5_correct=46000,
        top1_error=24.976,
        top5_error=8.0,
        published_top1_error=25.0,
        published_source="DenseNet README",
        top1_difference=-0.024,
        seconds=100.0,
        images_per_second=500.0,
        batch_size=256,
        workers=8,
        amp="none",
        channels_last=True,
        tf32=False,
    )
    return dataclasses.replace(record, **changes)
