"""Classify single images: the top-k ImageNet classes with names and probabilities."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from zoo.evaluation.classes import IMAGENET_NUM_CLASSES, imagenet_class_names, imagenet_wnids
from zoo.evaluation.evaluate import resolve_transform
from zoo.runtime import resolve_device

__all__ = ["ClassScore", "ImagePrediction", "predict"]


@dataclass(frozen=True)
class ClassScore:
    """One ranked class: its label number, wnid and name (ImageNet models only) and probability."""

    label: int
    probability: float
    wnid: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ImagePrediction:
    """One image's ranked classes, most probable first."""

    path: str
    classes: list[ClassScore]


def predict(
    model: nn.Module,
    images: Sequence[str | os.PathLike[str]],
    top_k: int = 5,
    preprocess: str | Callable[[str], torch.Tensor] = "torch7",
    ten_crop: bool = False,
    device: torch.device | str | None = None,
) -> list[ImagePrediction]:
    """The ``top_k`` most probable classes of each image.

    Probabilities are the softmax of the network's scores; with ten crops, of the mean
    of the ten crops' scores (the ranking is fb.resnet.torch's sum of scores).
    """
    device = resolve_device(device)
    transform, _ = resolve_transform(preprocess, ten_crop)
    model = model.to(device).eval()
    results = []
    with torch.inference_mode():
        for path in images:
            batch = transform(str(path))
            crops = batch.shape[0] if batch.dim() == 4 else 1
            batch = batch.view(crops, *batch.shape[-3:]).to(device)
            scores = model(batch).float().mean(dim=0)
            probabilities = torch.softmax(scores, dim=0)
            top = probabilities.topk(min(top_k, probabilities.numel()))
            imagenet = probabilities.numel() == IMAGENET_NUM_CLASSES
            classes = [
                ClassScore(
                    label=int(label),
                    probability=float(probability),
                    wnid=imagenet_wnids()[int(label)] if imagenet else None,
                    name=imagenet_class_names()[int(label)] if imagenet else None,
                )
                for probability, label in zip(top.values.tolist(), top.indices.tolist(), strict=True)
            ]
            results.append(ImagePrediction(str(path), classes))
    return results
