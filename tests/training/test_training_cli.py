"""``densenet-zoo train`` through click, in this process."""

import json

import pytest
from click.testing import CliRunner

from zoo.cli import main

TINY = '{"growth_rate": 4, "block_config": [2, 2], "num_init_features": 8, "stem": "cifar"}'


def arguments(out, *extra):
    return [
        "train",
        "--data",
        "synthetic",
        "--model-config",
        TINY,
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--synthetic-samples",
        "32",
        "--synthetic-classes",
        "3",
        "--image-size",
        "12",
        "--workers",
        "0",
        "--lr",
        "0.05",
        *extra,
    ]


def test_train_stop_and_resume_without_repeating_the_recipe(tmp_path):
    runner = CliRunner()
    first = runner.invoke(main, arguments(tmp_path, "--stop-after", "3", "--quiet"))
    assert first.exit_code == 0, first.output
    assert json.loads(first.output.strip().splitlines()[-1])["status"] == "stopped"
    resumed = runner.invoke(main, ["train", "--resume", str(tmp_path), "--workers", "0"])
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.output.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["global_step"] == 4
    assert "ETA" in resumed.output and "epoch 2/2" in resumed.output  # progress lines (stderr is mixed in here)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "top1_error", "top5_error", "lr", "images_per_s", "gpu_memory_mb"} <= set(records[0])


def test_missing_data_and_bad_values_are_usage_errors(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["train", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "--data is required" in missing.output
    not_json = runner.invoke(
        main, ["train", "--data", "synthetic", "--model-config", "{growth_rate: 4}", "--out", str(tmp_path)]
    )
    assert not_json.exit_code == 2 and "--model-config" in not_json.output and "invalid JSON" in not_json.output
    nested = runner.invoke(main, ["train", "--data", "synthetic", "--model-config", "[" * 50_000 + "]" * 50_000])
    assert nested.exit_code == 2 and "invalid JSON" in nested.output
    bad = runner.invoke(main, arguments(tmp_path, "--batch-size", "10", "--accumulate", "4"))
    assert bad.exit_code == 1 and "multiple of 4" in bad.output and bad.stderr.startswith("error: ")


def test_diverging_run_exits_with_a_clear_message(tmp_path):
    result = CliRunner().invoke(main, arguments(tmp_path, "--lr", "1e8", "--quiet"))
    assert result.exit_code == 3 and result.stderr.startswith("error: ")
    assert "the training loss became" in result.output and "Lower --lr" in result.output


def test_option_choices_are_the_librarys():
    """--dataset, --lr-shape and --amp offer what zoo.choices holds, the tuples the library checks against."""
    from zoo import choices
    from zoo.cli.train import train_command
    from zoo.runtime import AMP_MODES
    from zoo.training.config import TrainConfig
    from zoo.training.schedule import LR_SHAPES

    offered = {
        option.name: tuple(option.type.choices) for option in train_command.params if hasattr(option.type, "choices")
    }
    assert offered == {"dataset": choices.DATASETS, "lr_shape": choices.LR_SHAPES, "amp": choices.AMP_MODES}
    assert AMP_MODES is choices.AMP_MODES and LR_SHAPES is choices.LR_SHAPES
    for field, value in (("dataset", "imagenet21k"), ("lr_shape", "linear"), ("amp", "int8")):
        with pytest.raises(ValueError, match=f"{field} must be one of"):
            TrainConfig(data="/data", **{field: value})


def test_the_command_line_starts_without_torch():
    import subprocess
    import sys

    code = "import sys, zoo.cli; print([m for m in ('torch', 'torchvision', 'PIL') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_model_configs_of_the_wrong_types_and_out_of_range_options_are_error_lines(tmp_path):
    runner = CliRunner()
    for model_config, problem in [
        ('{"growth_rate": "4", "block_config": [2, 2]}', "growth_rate must be an integer from 1 to 1024, got '4'"),
        ('{"growth_rate": 4.5, "block_config": [2, 2]}', "growth_rate must be an integer from 1 to 1024, got 4.5"),
        ('{"growth_rate": 4, "block_config": "ab"}', "block_config must be a list of layer counts, got 'ab'"),
        ('{"growth_rate": 4, "block_config": [null]}', "block_config must be a list of 1 to 16 integer layer counts"),
        ('{"growth_rate": 4, "depth": 100}', "unknown DenseNetConfig keys"),
    ]:
        result = runner.invoke(
            main, ["train", "--data", "synthetic", "--model-config", model_config, "--out", str(tmp_path)]
        )
        assert result.exit_code == 1 and result.stderr.startswith("error: ") and problem in result.stderr, result.output
    for option, value, problem in [
        ("--epochs", "0", "epochs must be >= 1"),
        ("--batch-size", "-16", "batch_size must be >= 1"),
        ("--lr", "nan", "lr must be a finite number >= 0"),
        ("--drop-rate", "1.5", "drop_rate must be in [0, 1)"),
    ]:
        result = runner.invoke(main, arguments(tmp_path, option, value))
        assert result.exit_code == 1 and result.stderr.startswith("error: ") and problem in result.stderr, result.output
    assert not (tmp_path / "checkpoint.pt").exists()


def test_recipe_config_leaves_the_network_dropout_and_run_folder_to_the_recipe():
    """What the train command's options leave out (None), zoo.training.recipe_config decides."""
    from zoo.training import recipe_config

    cifar = recipe_config(data="/data/cifar", dataset="cifar10", augment=False)
    assert (cifar.arch, cifar.drop_rate, cifar.out) == ("densenet_bc_l100_k12", 0.2, "runs/train")
    assert recipe_config(data="/data/cifar", dataset="cifar100", augment=True).drop_rate == 0.0
    assert recipe_config(data="synthetic", dataset="cifar10", augment=False).drop_rate is None  # generated data
    imagenet = recipe_config(data="/data/imagenet", resume="runs/d121", augment=False)
    assert (imagenet.arch, imagenet.drop_rate, imagenet.out) == ("densenet121", None, "runs/d121")
    chosen = recipe_config(data="/data/cifar", dataset="cifar10", arch="densenet121", drop_rate=0.1, out="o")
    assert (chosen.arch, chosen.drop_rate, chosen.out) == ("densenet121", 0.1, "o")
