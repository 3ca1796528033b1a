"""Scoring as fb.resnet.torch's computeScore: sum of crop outputs, top-k membership, counts."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.evaluation.metrics import ErrorCounts, aggregate_crops, topk_correct


def test_ten_crop_sums_raw_outputs_not_probabilities():
    # Two crops of one image. Crop A is very sure of class 0; crop B mildly prefers class 1.
    # Summed scores pick class 0; averaged softmax picks class 1 (B's spread is smaller).
    crop_a = torch.tensor([10.0, 0.0, 9.9])
    crop_b = torch.tensor([-3.0, 4.0, -3.0])
    outputs = torch.stack([crop_a, crop_b])
    summed = aggregate_crops(outputs, 2)
    assert summed.argmax(dim=1).item() == 0
    assert (torch.softmax(outputs, dim=1).mean(dim=0)).argmax().item() == 1  # what we must NOT do
    assert torch.equal(summed[0], crop_a + crop_b)


def test_aggregate_groups_consecutive_crops():
    outputs = torch.arange(24, dtype=torch.float32).view(6, 4)
    summed = aggregate_crops(outputs, 3)
    assert torch.equal(summed, torch.stack([outputs[:3].sum(0), outputs[3:].sum(0)]))
    assert aggregate_crops(outputs, 1) is outputs
    with pytest.raises(ValueError, match="whole images"):
        aggregate_crops(outputs, 4)


def test_topk_correct_membership():
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # ranking 0,6,5,4,3,2,1
            [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        ]
    )
    targets = torch.tensor([0, 3, 2])  # 1st, 5th, 6th
    correct = topk_correct(scores, targets)
    assert correct.tolist() == [[True, True], [False, True], [False, False]]


def test_fewer_than_five_classes_counts_all():
    scores = torch.tensor([[0.1, 0.9, 0.5]])
    assert topk_correct(scores, torch.tensor([0])).tolist() == [[False, True]]


def test_error_counts_add_and_percentages():
    counts = ErrorCounts()
    counts.update(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), torch.tensor([0, 0, 1]))
    assert (counts.total, counts.top1_correct, counts.top5_correct) == (3, 1, 3)
    merged = counts + ErrorCounts(2, 2, 2)
    assert merged == ErrorCounts(5, 3, 5)
    assert merged.top1_error == pytest.approx(40.0) and merged.top5_error == 0.0
    assert ErrorCounts.from_tensor(merged.as_tensor()) == merged
    assert math.isnan(ErrorCounts().top1_error)
