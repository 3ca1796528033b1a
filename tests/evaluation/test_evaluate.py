"""evaluate() on real JPEG folders with classifiers whose answers are known in advance."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from evaluation_helpers import (
    CLASS_NAMES,
    PROTOTYPES,
    ChannelMeanModel,
    ColorPrototypeModel,
    build_folder,
    expected_counts,
    expected_ranking,
    save_jpeg,
)

from zoo.evaluation import evaluate, imagenet_wnids
from zoo.evaluation.classes import label_space


def test_plan_is_not_trivial(painted_folder):
    _, painted = painted_folder
    total, top1, top5 = expected_counts(painted)
    assert total == 21 and total % 2 == 1
    assert 0 < top1 < top5 < total  # some wrong at top-1, fewer but some wrong at top-5


@pytest.mark.parametrize("preprocess", ["torch7", "torchvision"])
def test_counts_match_the_painted_colours(painted_folder, preprocess):
    root, painted = painted_folder
    result = evaluate(
        ColorPrototypeModel(), root, batch_size=4, device="cpu", preprocess=preprocess, keep_predictions=True
    )

    total, top1, top5 = expected_counts(painted)
    assert (result.images, result.top1_correct, result.top5_correct) == (total, top1, top5)
    assert result.top1_error == pytest.approx(100.0 * (total - top1) / total)
    assert result.top5_error == pytest.approx(100.0 * (total - top5) / total)
    assert result.crops == 1 and result.preprocess == preprocess and result.label_space == "sorted-folders"
    # Image by image, in dataset order (classes sorted, files sorted within a class).
    assert [entry["label"] for entry in result.predictions] == [image.label for image in painted]
    # The top-1 class and the set of five are fixed by the colours (the order inside the five is
    # not guarded against JPEG rounding).
    assert [(entry["top5"][0], sorted(entry["top5"])) for entry in result.predictions] == [
        (expected_ranking(image.color)[0], sorted(expected_ranking(image.color)[:5])) for image in painted
    ]


def test_class_root_layout_and_limit(tmp_path):
    painted = build_folder(tmp_path, CLASS_NAMES, layout="flat")
    for limit in (1, 2):
        result = evaluate(ColorPrototypeModel(), tmp_path, batch_size=5, device="cpu", limit=limit)
        assert (result.images, result.top1_correct, result.top5_correct) == expected_counts(painted, limit)
        assert result.limit == limit
    assert expected_counts(painted, 2) != expected_counts(painted, 1)


def test_ten_crop_scores_the_sum_over_crops(tmp_path):
    # 512x256 (short side already 256: Scale leaves it alone). A red stripe 140 px wide in the
    # middle, blue elsewhere. The centre crop is mostly red; the four corner crops (and their
    # mirror images) are mostly blue, so the sum over ten crops says blue.
    from PIL import Image

    pixels = np.zeros((256, 512, 3), dtype=np.uint8)
    pixels[:] = (20, 20, 230)
    pixels[:, 186:326] = (230, 20, 20)
    for name in ["0_red", "1_green", "2_blue"]:
        (tmp_path / name).mkdir()
    Image.fromarray(pixels).save(tmp_path / "0_red" / "stripe.JPEG", quality=95)
    Image.fromarray(pixels).save(tmp_path / "2_blue" / "stripe.JPEG", quality=95)
    save_jpeg(tmp_path / "1_green" / "flat.JPEG", (20, 230, 20), (300, 280))

    single = evaluate(ChannelMeanModel(), tmp_path, device="cpu", keep_predictions=True)
    model = ChannelMeanModel()
    ten = evaluate(model, tmp_path, batch_size=20, device="cpu", ten_crop=True, keep_predictions=True)

    assert [entry["top5"][0] for entry in single.predictions] == [0, 1, 0]
    assert [entry["top5"][0] for entry in ten.predictions] == [2, 1, 2]
    assert (single.top1_correct, ten.top1_correct) == (2, 2)  # red folder right with 1 crop, blue with 10
    assert ten.crops == 10 and ten.images == 3
    assert all(shape[0] % 10 == 0 and shape[1:] == (3, 224, 224) for shape in model.calls)
    assert sum(shape[0] for shape in model.calls) == 30  # batch_size 20 = 2 images of 10 crops per pass


def test_wnid_folders_keep_imagenet_label_numbers(tmp_path):
    # A 1000-way model and a folder with only three ImageNet classes: label numbers must be
    # the wnids' positions among the 1000, not 0, 1, 2.
    wnids = imagenet_wnids()
    positions = [5, 300, 999]
    plan = {0: [PROTOTYPES[0]], 1: [PROTOTYPES[1], PROTOTYPES[1]], 2: [PROTOTYPES[2]]}
    build_folder(tmp_path, [wnids[position] for position in positions], plan=plan)
    model = ColorPrototypeModel(PROTOTYPES[:3], num_outputs=1000, positions=positions)

    result = evaluate(model, tmp_path, device="cpu", keep_predictions=True)

    assert result.label_space == "imagenet-wnids" and result.num_classes == 1000
    assert [entry["label"] for entry in result.predictions] == [5, 300, 300, 999]
    assert result.top1_correct == 4
    assert label_space(["b", "a"], 1000) == (["a", "b"], "sorted-folders")


def test_non_wnid_folders_with_a_1000_way_model_warn(tmp_path):
    build_folder(tmp_path, ["cat", "dog"], plan={0: [PROTOTYPES[0]], 1: [PROTOTYPES[1]]})
    model = ColorPrototypeModel(PROTOTYPES[:2], num_outputs=1000, positions=[0, 1])
    with pytest.warns(UserWarning, match="not all ImageNet wnids") as caught:
        result = evaluate(model, tmp_path, device="cpu")
    assert result.label_space == "sorted-folders" and result.top1_correct == 2
    assert [warning.filename for warning in caught] == [__file__]  # points at the caller of evaluate()


def test_more_folders_than_outputs_is_an_error(painted_folder):
    root, _ = painted_folder
    with pytest.raises(ValueError, match="7 class folders but the model predicts 3"):
        evaluate(ColorPrototypeModel(PROTOTYPES[:3]), root, device="cpu")


def test_json_record(painted_folder, tmp_path):
    root, painted = painted_folder
    result = evaluate(
        ColorPrototypeModel(),
        root,
        batch_size=8,
        device="cpu",
        model_name="densenet121",
        weights_sha256="ab" * 32,
        limit=3,
    )
    path = result.save(tmp_path / "records" / "run.json")

    record = json.loads(path.read_text())
    total, top1, top5 = expected_counts(painted, 3)
    assert record["schema"] == "densenet-zoo/evaluation/1"
    assert record["model"] == "densenet121" and record["weights_sha256"] == "ab" * 32
    assert len(record["state_dict_sha256"]) == 64
    assert record["preprocess"] == "torch7" and "torch7" in record["transform"]
    assert (record["images"], record["top1_correct"], record["top5_correct"]) == (total, top1, top5)
    assert record["top1_error"] == pytest.approx(100.0 * (total - top1) / total)
    assert record["crops"] == 1 and record["limit"] == 3 and record["data"] == str(root)
    assert record["published_top1_error"] == 25.0  # DenseNet-121's published error (issue 5)
    assert record["top1_difference"] == pytest.approx(record["top1_error"] - 25.0)
    assert record["images_per_second"] > 0 and record["seconds"] > 0
    env = record["environment"]
    assert env["torch"] == torch.__version__ and env["device"] == "cpu" and env["world_size"] == 1
    assert "predictions" not in record
    assert os.listdir(path.parent) == ["run.json"]  # the temporary file was renamed, none left behind
    assert "published top-1 error 25.00%" in result.summary()


def test_ten_crop_is_not_compared_with_the_single_crop_number(painted_folder):
    root, _ = painted_folder
    result = evaluate(
        ColorPrototypeModel(), root, batch_size=30, device="cpu", ten_crop=True, model_name="densenet121", limit=1
    )
    assert result.published_top1_error == 25.0 and result.top1_difference is None
    assert "not compared" in result.summary()


def test_amp_and_channels_last_options(painted_folder):
    root, painted = painted_folder
    result = evaluate(ColorPrototypeModel(), root, device="cpu", amp="bf16", channels_last=True, limit=1)
    assert result.amp == "bf16" and result.channels_last is True
    assert result.images == expected_counts(painted, 1)[0]
    with pytest.raises(ValueError, match="amp"):
        evaluate(ColorPrototypeModel(), root, device="cpu", amp="int8")


def test_workers_give_the_same_counts(painted_folder):
    root, painted = painted_folder
    result = evaluate(ColorPrototypeModel(), root, batch_size=4, device="cpu", workers=2)
    assert (result.images, result.top1_correct, result.top5_correct) == expected_counts(painted)
    assert result.workers == 2


def test_an_options_object_and_named_settings_are_the_same_evaluation(painted_folder):
    from zoo.evaluation import EvaluationOptions

    root, painted = painted_folder
    model = ColorPrototypeModel()
    options = EvaluationOptions(batch_size=5, device="cpu", limit=2, ten_crop=True, keep_predictions=True)
    runs = [
        evaluate(model, root, options),
        evaluate(model, root, batch_size=5, device="cpu", limit=2, ten_crop=True, keep_predictions=True),
        evaluate(
            model,
            root,
            EvaluationOptions(device="cpu", ten_crop=True),
            batch_size=5,
            limit=2,
            keep_predictions=True,
        ),
    ]
    timing = ("seconds", "images_per_second")
    records = [{key: value for key, value in run.to_dict().items() if key not in timing} for run in runs]
    assert records[0] == records[1] == records[2]
    assert (records[0]["crops"], records[0]["batch_size"], records[0]["workers"]) == (10, 5, 0)  # CPU: no workers
    assert records[0]["images"] == expected_counts(painted, 2)[0] and options.workers is None  # options unchanged
    with pytest.raises(TypeError, match="options must be an EvaluationOptions"):
        evaluate(ColorPrototypeModel(), root, 5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'batchsize'"):
        evaluate(ColorPrototypeModel(), root, batchsize=5)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        EvaluationOptions(batch_size=0)
