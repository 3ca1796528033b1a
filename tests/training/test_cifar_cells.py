"""The cells of the published CIFAR tables through ``densenet-zoo train``: C10, C10+, C100, C100+."""

import numpy as np
import pytest
import torch
from cifar_files import write_cifar
from click.testing import CliRunner

from zoo.cli import main
from zoo.runtime import DistributedContext
from zoo.training import recipe_config
from zoo.training.data import build_training_data

#: liuzhuang13/DenseNet datasets/cifar10.lua and cifar100.lua (fb.resnet.torch's values for CIFAR-10).
LUA_MEANSTD = {
    "cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
    "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4)),
}


def test_missing_cifar_data_is_one_error_line_that_says_where_to_get_it(tmp_path):
    result = CliRunner().invoke(
        main, ["train", "--dataset", "cifar100", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and result.stderr.startswith("error: no CIFAR")
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in result.stderr and "cifar-100-python.tar.gz" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_without_augmentation_a_cell_sees_the_image_normalised_with_its_datasets_lua_constants(tmp_path, dataset):
    written = write_cifar(tmp_path, dataset, train_images=8, test_images=4)
    config = recipe_config(data=str(tmp_path), dataset=dataset, augment=False, model_config={"stem": "cifar"})
    data = build_training_data(config.resolved(), DistributedContext(), micro_batch=4)
    mean, std = (torch.tensor(values, dtype=torch.float32).view(3, 1, 1) for values in LUA_MEANSTD[dataset])
    *train_files, (test_pixels, _) = written.values()  # in the official order, the test file last
    train_pixels = np.concatenate([pixels for pixels, _ in train_files])
    train_labels = [label for _, labels in train_files for label in labels]
    for epoch in (1, 2):  # no augmentation: the same image every epoch
        image, label = data.train_loader.dataset[(epoch, 5)]
        expected = (torch.from_numpy(train_pixels[5]).float().view(3, 32, 32) - mean) / std
        assert torch.equal(image, expected) and label == train_labels[5]
    test_image, _, index = data.val_dataset[3]
    assert index == 3 and torch.equal(
        test_image, (torch.from_numpy(test_pixels[3]).float().view(3, 32, 32) - mean) / std
    )
    assert config.drop_rate == 0.2 and data.num_classes == (10 if dataset == "cifar10" else 100)
