"""The run record OUT/result.json: the cell, the recipe and the test error, as the run's own metrics say."""

import json

import pytest
from cifar_files import write_cifar

from zoo import load_weights
from zoo.models.densenet import CIFAR_CONFIGS, DenseNetConfig
from zoo.training import recipe_config, train
from zoo.training.record import RECORD_FORMAT, arch_name, recipe_deviations

TINY = {"growth_rate": 4, "block_config": [1, 1], "num_init_features": 8, "stem": "cifar"}


def cifar_run(tmp_path, dataset, augment, **changes):
    write_cifar(tmp_path / "data", dataset, train_images=16, test_images=8)
    settings = dict(
        model_config=TINY,
        data=str(tmp_path / "data"),
        dataset=dataset,
        augment=augment,
        out=str(tmp_path / "run"),
        epochs=2,
        batch_size=8,
        workers=0,
        progress=False,
        device="cpu",
    )
    return recipe_config(**{**settings, **changes})


def read_record(run):
    return json.loads((run / "result.json").read_text())


@pytest.mark.parametrize(("dataset", "augment", "cell"), [("cifar10", False, "C10"), ("cifar100", True, "C100+")])
def test_a_finished_cifar_run_records_its_cell_and_final_test_error(tmp_path, dataset, augment, cell):
    result = train(cifar_run(tmp_path, dataset, augment))
    record = read_record(tmp_path / "run")
    epochs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epochs = [row for row in epochs if row["kind"] == "epoch"]
    assert (record["format"], record["finished"], record["cell"], record["dataset"]) == (
        RECORD_FORMAT,
        True,
        cell,
        dataset,
    )
    assert record["augment"] is augment and record["drop_rate"] == (0.0 if augment else 0.2)
    assert record["num_classes"] == (10 if dataset == "cifar10" else 100) and record["arch"] is None
    assert record["params"] == sum(parameter.numel() for parameter in load_weights(result.weights).parameters())
    assert (record["epochs"], record["epochs_done"], record["global_step"]) == (2, 2, 4)
    assert record["top1_error"] == epochs[-1]["val_top1_error"] and record["evaluated_on"] == "test"
    assert record["best_top1_error"] == result.best_top1_error == min(row["val_top1_error"] for row in epochs)
    assert record["weights"] == "model.safetensors" and not record["published_recipe"]
    assert "epochs 2 (published 300)" in record["recipe_deviations"]
    assert not any(line.startswith("drop_rate") for line in record["recipe_deviations"])  # the cell's own dropout


def test_an_unfinished_run_has_a_record_of_its_last_epoch(tmp_path):
    train(cifar_run(tmp_path, "cifar10", True, stop_after=3))  # epoch 1 done, epoch 2 half
    record = read_record(tmp_path / "run")
    assert (record["finished"], record["epochs_done"], record["weights"]) == (False, 1, None)
    assert record["top1_error"] is not None and record["cell"] == "C10+"
    train(cifar_run(tmp_path, "cifar10", True, resume=str(tmp_path / "run"), data=None))
    assert read_record(tmp_path / "run")["finished"] is True


def test_the_published_recipe_has_no_deviations():
    for dataset in ("cifar10", "cifar100"):
        for augment in (False, True):
            config = recipe_config(data="/cifar", dataset=dataset, augment=augment).resolved()
            model_config = CIFAR_CONFIGS["densenet_bc_l100_k12"].replace(drop_rate=config.drop_rate)
            assert recipe_deviations(config, model_config, world_size=1) == []
            assert recipe_deviations(config, model_config, world_size=2) == [
                "32 images per BatchNorm batch (published 64: one GPU)"
            ]
    config = recipe_config(data="/cifar", dataset="cifar10", augment=False, drop_rate=0.0, lr_shape="cosine")
    assert recipe_deviations(config.resolved(), CIFAR_CONFIGS["densenet_bc_l100_k12"], 1) == [
        "lr_shape cosine (published multistep)",
        "drop_rate 0.0 (published 0.2)",
    ]


def test_the_arch_is_named_by_the_architecture_trained():
    from_file = recipe_config(data="/cifar", dataset="cifar100", init_weights="earlier.safetensors")
    bc_100 = CIFAR_CONFIGS["densenet_bc_l100_k12"].replace(num_classes=100, drop_rate=0.2)
    assert arch_name(from_file, bc_100) == "densenet_bc_l100_k12"
    assert arch_name(from_file, bc_100.replace(growth_rate=8)) is None
    named = recipe_config(data="/cifar", dataset="cifar10")
    assert arch_name(named, bc_100) == "densenet_bc_l100_k12"
    alias = recipe_config(data="/cifar", dataset="cifar10", arch="densenet_bc_100_12_cifar")
    assert arch_name(alias, bc_100) == "densenet_bc_l100_k12"
    l40 = recipe_config(data="/cifar", dataset="cifar10", arch="densenet_l40_k12")
    assert arch_name(l40, CIFAR_CONFIGS["densenet_l40_k12"]) == "densenet_l40_k12"
    assert arch_name(recipe_config(data="synthetic"), DenseNetConfig()) == "densenet121"
