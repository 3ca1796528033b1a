"""``DenseNetConfig.smallest_input_size`` is the smallest image side a forward pass takes."""

import pytest
import torch

from zoo.models.densenet import DenseNet, DenseNetConfig


@pytest.mark.parametrize("stem", ["cifar", "imagenet"])
@pytest.mark.parametrize("blocks", [1, 2, 3, 4])
def test_smallest_input_size_is_the_smallest_side_a_forward_pass_takes(stem, blocks):
    config = DenseNetConfig(growth_rate=2, block_config=[1] * blocks, num_init_features=4, stem=stem, num_classes=2)
    model = DenseNet(config).eval()
    taken = []
    for side in range(1, 32):
        try:
            model(torch.zeros(1, 3, side, side))
        except RuntimeError:
            continue
        taken.append(side)
    assert taken == list(range(config.smallest_input_size, 32))
