"""The training engine on CPU with tiny DenseNets: learning, exact resumption, NaN stop, export."""

import math

import pytest
import torch

from converters.export import read_saved_weights
from zoo.models.densenet import DenseNet, DenseNetConfig
from zoo.training.checkpoint import load_checkpoint
from zoo.training.config import TrainConfig
from zoo.training.engine import NonFiniteLossError, train

TINY = {"growth_rate": 4, "block_config": [2, 2], "num_init_features": 8, "stem": "cifar"}


def tiny_run(out, **changes):
    settings = dict(
        arch="tiny",
        model_config=TINY,
        data="synthetic",
        out=str(out),
        epochs=3,
        batch_size=16,
        lr=0.05,
        synthetic_samples=64,
        synthetic_val_samples=32,
        synthetic_classes=4,
        image_size=12,
        workers=0,
        progress=False,
    )
    settings.update(changes)
    return TrainConfig(**settings)


def final_state(out):
    checkpoint = load_checkpoint(out)
    return checkpoint["model"], checkpoint["optimizer"]["state"]


def assert_bitwise_equal(left, right):
    assert left.keys() == right.keys()
    for key in left:
        if isinstance(left[key], dict):
            assert_bitwise_equal(left[key], right[key])
        elif isinstance(left[key], torch.Tensor):
            assert torch.equal(left[key], right[key]), f"{key} differs"
        else:
            assert left[key] == right[key], key


def test_tiny_densenet_learns_the_generated_task(tmp_path):
    result = train(tiny_run(tmp_path, epochs=5))
    losses = [epoch["loss"] for epoch in result.history]
    assert result.status == "finished" and len(losses) == 5
    assert losses[-1] < 0.85 * losses[0], losses
    assert result.best_top1_error < 50.0  # chance is 75%
    state_dict, config = read_saved_weights(result.weights)  # what zoo.load_weights reads
    assert config == DenseNetConfig.from_dict({**TINY, "num_classes": 4})
    model = DenseNet(config)
    model.load_state_dict(state_dict)
    assert_bitwise_equal(model.state_dict(), final_state(tmp_path)[0])
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert any('"kind": "epoch"' in line and '"val_top1_error"' in line for line in lines)


@pytest.mark.parametrize(
    "stop_after",
    [6, 4],  # mid-epoch (epoch 2, step 2 of 4); the last step of epoch 1, before its validation
)
def test_interrupted_and_resumed_run_is_bitwise_identical(tmp_path, stop_after):
    changes = dict(lr_shape="cosine", model_config={**TINY, "drop_rate": 0.2}, checkpoint_every=3)
    whole = train(tiny_run(tmp_path / "whole", **changes))
    first = train(tiny_run(tmp_path / "parts", stop_after=stop_after, **changes))
    assert first.status == "stopped" and first.global_step == stop_after
    assert load_checkpoint(tmp_path / "parts")["global_step"] == stop_after
    # the recipe comes from the checkpoint: a different --epochs on the resume command is ignored
    resumed = train(tiny_run(tmp_path / "parts", resume=str(tmp_path / "parts"), epochs=99))
    assert resumed.status == "finished" and resumed.global_step == whole.global_step == 12
    assert_bitwise_equal(final_state(tmp_path / "whole")[0], final_state(tmp_path / "parts")[0])
    assert_bitwise_equal(final_state(tmp_path / "whole")[1], final_state(tmp_path / "parts")[1])
    assert [h["val_top1_error"] for h in resumed.history] == [h["val_top1_error"] for h in whole.history]


def test_gradient_accumulation_matches_the_big_batch_without_batchnorm_effects(tmp_path):
    # Same global batch: 1 x 16 vs 2 x 8; BN sees different batches, so only the schedule and counts must agree.
    result = train(tiny_run(tmp_path, accumulate=2, epochs=1))
    assert result.global_step == 4 and result.status == "finished"


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError, match="became nan|became inf") as raised:
        train(tiny_run(tmp_path, lr=1e8, checkpoint_every=1))
    checkpoint = load_checkpoint(tmp_path)
    assert f"step {checkpoint['step']}" in str(raised.value)
    assert all(torch.isfinite(tensor).all() for tensor in checkpoint["model"].values() if tensor.is_floating_point())


def test_linear_lr_scaling_and_recipe_defaults():
    config = TrainConfig(data="synthetic", batch_size=512).resolved()
    assert config.lr == pytest.approx(0.2) and config.epochs == 90 and config.lr_shape == "multistep"
    assert config.momentum == 0.9 and config.weight_decay == 1e-4
    cifar = TrainConfig(data="/cifar", dataset="cifar10").resolved()
    assert cifar.batch_size == 64 and cifar.lr == pytest.approx(0.1) and cifar.epochs == 300
    assert math.isclose(TrainConfig(data="synthetic", lr=0.3, batch_size=64).resolved().lr, 0.3)


def test_fine_tuning_replaces_the_classifier_and_freezes_features(tmp_path):
    import zoo

    base = train(tiny_run(tmp_path / "base", epochs=1))
    source = zoo.load_weights(base.weights)  # the exported file loads through the public API
    assert source.config.num_classes == 4
    tuned = train(
        tiny_run(
            tmp_path / "tuned",
            epochs=1,
            model_config=None,
            init_weights=str(base.weights),
            num_classes=3,
            freeze_features=True,
        )
    )
    model = zoo.load_weights(tuned.weights)
    assert model.config.num_classes == 3 and model.classifier.out_features == 3
    before, after = source.state_dict(), model.state_dict()
    features = [key for key in before if key.startswith("features.")]
    assert features and all(torch.equal(before[key], after[key]) for key in features)  # BN statistics too
    with pytest.raises(ValueError, match="freeze_features"):
        TrainConfig(data="synthetic", freeze_features=True)


@pytest.mark.parametrize(("amp", "channels_last", "accumulate"), [("bf16", True, 1), ("fp16", False, 2)])
def test_mixed_precision_channels_last_and_accumulation_run(tmp_path, amp, channels_last, accumulate):
    result = train(tiny_run(tmp_path, epochs=1, amp=amp, channels_last=channels_last, accumulate=accumulate))
    assert result.status == "finished" and result.global_step == 4
    checkpoint = load_checkpoint(tmp_path)
    assert (checkpoint["scaler"] is not None) == (amp == "fp16")
    assert all(torch.isfinite(tensor).all() for tensor in checkpoint["model"].values() if tensor.is_floating_point())


def test_memory_efficient_model_trains_like_the_plain_one(tmp_path):
    plain = train(tiny_run(tmp_path / "plain", epochs=1))
    efficient = train(tiny_run(tmp_path / "efficient", epochs=1, memory_efficient=True))
    assert efficient.status == plain.status == "finished"
    left, right = final_state(tmp_path / "plain")[0], final_state(tmp_path / "efficient")[0]
    for key in left:
        torch.testing.assert_close(left[key], right[key], rtol=1e-4, atol=1e-5, msg=key)


def test_resume_with_a_different_number_of_loader_workers(tmp_path):
    whole = train(tiny_run(tmp_path / "whole", epochs=2))
    train(tiny_run(tmp_path / "parts", epochs=2, stop_after=3))
    train(tiny_run(tmp_path / "parts", resume=str(tmp_path / "parts"), workers=2))  # persistent decode workers
    assert whole.global_step == 8
    assert_bitwise_equal(final_state(tmp_path / "whole")[0], final_state(tmp_path / "parts")[0])


def test_validation_each_epoch_does_not_hash_the_weights(tmp_path, monkeypatch):
    """Per-epoch validation needs top-1/top-5, not the state-dict digest of an evaluation record."""
    import zoo.evaluation.loading

    hashed = []
    digest = zoo.evaluation.loading.state_dict_sha256
    monkeypatch.setattr(zoo.evaluation.loading, "state_dict_sha256", lambda model: hashed.append(1) or digest(model))
    result = train(tiny_run(tmp_path, epochs=2))
    assert len(result.history) == 2 and all("val_top1_error" in epoch for epoch in result.history)
    assert hashed == []
    from zoo.evaluation import evaluate
    from zoo.training.data import ValidationDataset
    from zoo.training.datasets import SyntheticDataset

    val_set = ValidationDataset(SyntheticDataset(8, 4, 12))
    record = evaluate(DenseNet(DenseNetConfig.from_dict({**TINY, "num_classes": 4})), val_set, device="cpu")
    assert len(hashed) == 1 and len(record.state_dict_sha256) == 64  # a plain evaluate() still records it


def test_the_reported_errors_are_errors_of_the_saved_weights(tmp_path):
    """metrics, result, progress line and best.safetensors all speak of top-1 error, and mean the same number."""
    import io
    import json

    from zoo import load_weights
    from zoo.evaluation import evaluate
    from zoo.training.data import ValidationDataset
    from zoo.training.datasets import SyntheticDataset

    shown = io.StringIO()
    result = train(tiny_run(tmp_path, epochs=3, progress=True), progress_stream=shown)
    errors = [epoch["val_top1_error"] for epoch in result.history]
    assert result.best_top1_error == min(errors) and len(set(errors)) > 1  # the epochs differ: best is a choice
    val_set = ValidationDataset(SyntheticDataset(32, 4, 12, seed=0, first_index=64))  # tiny_run's validation set
    best = evaluate(load_weights(tmp_path / "best.safetensors"), val_set, device="cpu")
    assert best.top1_error == result.best_top1_error
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [record["best_top1_error"] for record in records if record["kind"] == "epoch"][-1] == min(errors)
    steps = [record for record in records if record["kind"] == "train"]
    assert steps and all(record["top5_error"] == 0.0 for record in steps)  # 4 classes: the top 5 hold every label
    assert any(record["top1_error"] > 0.0 for record in steps)
    assert f"best top-1 error {min(errors):.2f}%" in shown.getvalue()
    assert "val top-1 error" in shown.getvalue() and "top-1 " not in shown.getvalue().replace("top-1 error", "")
