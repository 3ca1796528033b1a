"""Top-1/top-5 scoring exactly as fb.resnet.torch's ``Trainer:computeScore`` does it.

* Ten-crop: the network outputs (the final ``nn.Linear``'s scores, no softmax: the
  ``:exp()`` in ``computeScore`` is commented out) of the ten crops of an image are
  SUMMED, then ranked.
* A sample is top-k correct when its label is among the ``min(k, classes)`` highest
  scores (``topk(5, 2, true, true)``).
* The error is the percentage of samples that are not correct, over all samples.

Counts (not running averages) are kept, so that shards of a distributed run add up
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ErrorCounts", "aggregate_crops", "topk_correct"]


def aggregate_crops(outputs: torch.Tensor, num_crops: int) -> torch.Tensor:
    """Sum the scores of each image's crops: ``[B * num_crops, C]`` -> ``[B, C]``.

    Crops of one image are consecutive (``batch:view(B * nCrops, ...)`` in fb.resnet.torch).
    """
    if num_crops == 1:
        return outputs
    if outputs.dim() != 2 or outputs.shape[0] % num_crops:
        raise ValueError(
            f"expected scores [images * {num_crops}, classes] with whole images, got shape {tuple(outputs.shape)}"
        )
    return outputs.view(outputs.shape[0] // num_crops, num_crops, outputs.shape[1]).sum(dim=1)


def topk_correct(scores: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> torch.Tensor:
    """``[B, len(ks)]`` booleans: is the target among the ``min(k, classes)`` highest scores."""
    largest = min(max(ks), scores.shape[1])
    top = scores.topk(largest, dim=1, largest=True, sorted=True).indices
    hits = top.eq(targets.view(-1, 1).to(top.device))
    return torch.stack([hits[:, : min(k, scores.shape[1])].any(dim=1) for k in ks], dim=1)


@dataclass
class ErrorCounts:
    """How many samples were scored and how many were top-1 / top-5 correct."""

    total: int = 0
    top1_correct: int = 0
    top5_correct: int = 0

    def update(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Score a batch of aggregated scores ``[B, C]``; returns its ``[B, 2]`` correctness."""
        correct = topk_correct(scores, targets, (1, 5))
        totals = correct.sum(dim=0).tolist()
        self.total += int(scores.shape[0])
        self.top1_correct += int(totals[0])
        self.top5_correct += int(totals[1])
        return correct

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.total + other.total,
            self.top1_correct + other.top1_correct,
            self.top5_correct + other.top5_correct,
        )

    def as_tensor(self) -> torch.Tensor:
        """``[total, top1_correct, top5_correct]`` as int64, the form ranks all-reduce."""
        return torch.tensor([self.total, self.top1_correct, self.top5_correct], dtype=torch.int64)

    @classmethod
    def from_tensor(cls, counts: torch.Tensor) -> ErrorCounts:
        """The counts :meth:`as_tensor` (or a reduction of several) holds."""
        total, top1, top5 = (int(value) for value in counts.tolist())
        return cls(total, top1, top5)

    @property
    def top1_error(self) -> float:
        """Top-1 error in percent (NaN when nothing was scored)."""
        return 100.0 * (self.total - self.top1_correct) / self.total if self.total else float("nan")

    @property
    def top5_error(self) -> float:
        """Top-5 error in percent (NaN when nothing was scored)."""
        return 100.0 * (self.total - self.top5_correct) / self.total if self.total else float("nan")
