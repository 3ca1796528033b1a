"""``densenet-zoo evaluate`` / ``predict`` through click, with saved and genuine Torch7 model files.

The expected numbers are computed here image by image: the model is run on each file's
preprocessed crop in its own loop, outside the harness.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from fixtures import fixture_path

from zoo import DenseNet, DenseNetConfig, transforms
from zoo.cli import main

TINY = DenseNetConfig(growth_rate=4, block_config=(1, 1, 1, 1), num_init_features=8, num_classes=7)


def _images_in_order(root: Path) -> list[tuple[Path, int]]:
    class_root = root / "val"
    classes = sorted(path.name for path in class_root.iterdir() if path.is_dir())
    return [(path, label) for label, name in enumerate(classes) for path in sorted((class_root / name).iterdir())]


def _reference(model: torch.nn.Module, root: Path, limit: int | None = None) -> tuple[int, int, int]:
    """Counts from a plain per-image loop (first ``limit`` files per class)."""
    transform = transforms(None, kind="torch7")
    seen: dict[int, int] = {}
    total = top1 = top5 = 0
    model.eval()
    for path, label in _images_in_order(root):
        seen[label] = seen.get(label, 0) + 1
        if limit is not None and seen[label] > limit:
            continue
        with torch.no_grad():
            scores = model(transform(str(path))[None])[0]
        ranking = scores.argsort(descending=True).tolist()
        total += 1
        top1 += ranking[0] == label
        top5 += label in ranking[:5]
    return total, top1, top5


def _fit_classifier(model: DenseNet, root: Path) -> None:
    """Make the tiny net recognise each class's prototype colour (the first image of each class; 7 classes).

    The classifier is solved by least squares on the pooled features of those images, so the
    net is right on images in their own colour and wrong on the others: its error is neither
    0 nor 100 %, whatever the random initialisation was.
    """
    first_images: dict[int, Path] = {}
    for path, label in _images_in_order(root):
        first_images.setdefault(label, path)
    transform = transforms(None, kind="torch7")
    captured: list[torch.Tensor] = []
    hook = model.classifier.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    with torch.no_grad():
        model(torch.stack([transform(str(first_images[label])) for label in sorted(first_images)]))
        hook.remove()
        features = torch.cat([captured[0].double(), torch.ones(len(first_images), 1, dtype=torch.float64)], dim=1)
        # Own class 10, the others distinct values 0..6 (no ties that float rounding could reorder).
        count = len(first_images)
        targets = torch.tensor(
            [[10.0 if i == j else float((3 * i + 5 * j) % 7) for j in range(count)] for i in range(count)],
            dtype=torch.float64,
        )
        solution = torch.linalg.lstsq(features, targets).solution
        model.classifier.weight.copy_(solution[:-1].T)
        model.classifier.bias.copy_(solution[-1])
        scores = model(torch.stack([transform(str(first_images[label])) for label in sorted(first_images)]))
    assert scores.argmax(dim=1).tolist() == sorted(first_images), "fixture: the tiny net could not be fitted"


@pytest.fixture(scope="module")
def tiny_weights(painted_folder, tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    from converters.export import save_weights

    torch.manual_seed(0)
    model = DenseNet(TINY).eval()
    with torch.no_grad():  # non-trivial BN statistics
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    _fit_classifier(model, painted_folder[0])
    path = save_weights(model.state_dict(), TINY, tmp_path_factory.mktemp("weights") / "tiny.safetensors")
    return path, model


def _parse_errors(output: str) -> tuple[float, float]:
    top1 = float(re.search(r"top-1 error ([\d.]+)%", output).group(1))
    top5 = float(re.search(r"top-5 error ([\d.]+)%", output).group(1))
    return top1, top5


def test_evaluate_converted_file(painted_folder, tiny_weights, tmp_path):
    root, _ = painted_folder
    weights, model = tiny_weights
    record_path = tmp_path / "out" / "tiny.json"

    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(weights),
            "--data",
            str(root),
            "--device",
            "cpu",
            "--batch-size",
            "8",
            "--json",
            str(record_path),
            "-q",
        ],
    )

    assert result.exit_code == 0, result.output
    total, top1, top5 = _reference(model, root)
    record = json.loads(record_path.read_text())
    assert (record["images"], record["top1_correct"], record["top5_correct"]) == (total, top1, top5)
    assert 0 < top1 < total  # the tiny net gets some right and some wrong: the comparison means something
    assert _parse_errors(result.output) == (
        round(100 * (total - top1) / total, 3),
        round(100 * (total - top5) / total, 3),
    )
    assert record["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert record["model"] is None and record["published_top1_error"] is None
    assert "images/s" in result.output


def test_evaluate_plain_state_dict_with_limit_and_ten_crop(painted_folder, tiny_weights, tmp_path):
    root, _ = painted_folder
    _, model = tiny_weights
    pth = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), pth)
    record_path = tmp_path / "tiny.json"

    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(pth),
            "--data",
            str(root),
            "--device",
            "cpu",
            "--limit",
            "1",
            "--json",
            str(record_path),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(record_path.read_text())
    assert (record["images"], record["top1_correct"], record["top5_correct"]) == _reference(model, root, limit=1)
    assert record["limit"] == 1 and record["images"] == 7

    one_image = tmp_path / "one"
    (one_image / "a").mkdir(parents=True)
    (one_image / "a" / "x.JPEG").write_bytes(_images_in_order(root)[0][0].read_bytes())
    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(pth),
            "--data",
            str(one_image),
            "--device",
            "cpu",
            "--ten-crop",
            "--preprocess",
            "torchvision",
            "--json",
            str(record_path),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(record_path.read_text())
    assert record["crops"] == 10 and record["preprocess"] == "torchvision" and record["images"] == 1
    assert "10-crop" in result.output


@pytest.mark.filterwarnings("ignore:.*not all ImageNet wnids")
def test_evaluate_genuine_torch7_checkpoint(painted_folder, tmp_path):
    from zoo.registry import load_weights

    checkpoint = fixture_path("torch7", "densenet", "tiny_std.t7")
    root, _ = painted_folder
    record_path = tmp_path / "t7.json"

    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(checkpoint),
            "--data",
            str(root),
            "--device",
            "cpu",
            "--limit",
            "1",
            "--name",
            "densenet121",
            "--json",
            str(record_path),
            "-q",
        ],
    )

    assert result.exit_code == 0, result.output
    record = json.loads(record_path.read_text())
    assert (record["images"], record["top1_correct"], record["top5_correct"]) == _reference(
        load_weights(checkpoint), root, limit=1
    )
    assert record["published_top1_error"] == 25.0
    assert "published top-1 error 25.00%" in result.output and "difference" in result.output


def test_predict_prints_top5_names(painted_folder):
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from zoo.evaluation import imagenet_wnids
    from zoo.registry import load_weights

    checkpoint = fixture_path("torch7", "densenet", "tiny_std.t7")
    root, _ = painted_folder
    images = [path for path, _ in _images_in_order(root)][:2]

    result = CliRunner().invoke(main, ["predict", str(checkpoint), *map(str, images), "--device", "cpu"])

    assert result.exit_code == 0, result.output
    model = load_weights(checkpoint)
    lines = result.output.splitlines()
    for number, image in enumerate(images):
        block = lines[number * 6 : number * 6 + 6]
        assert block[0] == str(image)
        with torch.no_grad():
            probabilities = torch.softmax(model(transforms(None)(str(image))[None])[0], dim=0)
        top = probabilities.topk(5)
        for rank, (line, probability, label) in enumerate(
            zip(block[1:], top.values, top.indices, strict=True), start=1
        ):
            assert line.strip().startswith(f"{rank}. {probability.item() * 100:6.2f}%".strip())
            assert line.endswith(f"{int(label):4d}  {imagenet_wnids()[label]} {_IMAGENET_CATEGORIES[label]}")


def test_unknown_model_and_bad_folder(tmp_path, tiny_weights):
    result = CliRunner().invoke(main, ["evaluate", "densenet999", "--data", str(tmp_path)])
    assert result.exit_code == 1 and "neither an existing file nor a registry name" in result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "densenet121" in result.output

    result = CliRunner().invoke(main, ["evaluate", str(tiny_weights[0]), "--data", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 1 and "no class folders" in result.output


def test_imagenet_label_space_files():
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from zoo.evaluation import imagenet_class_names, imagenet_wnids

    wnids = imagenet_wnids()
    assert len(wnids) == len(set(wnids)) == 1000 and list(wnids) == sorted(wnids)
    # Well-known ILSVRC-2012 classes at their label numbers.
    assert (wnids[0], wnids[1], wnids[970], wnids[999]) == ("n01440764", "n01443537", "n09193705", "n15075141")
    names = imagenet_class_names()
    assert names == tuple(_IMAGENET_CATEGORIES)
    assert (names[0], names[1], names[970]) == ("tench", "goldfish", "alp")


@pytest.mark.filterwarnings("ignore:.*has no published sha256")
def test_evaluate_registry_name_through_a_local_mirror(painted_folder, tmp_path, monkeypatch):
    """MODEL as a registry name: a test manifest, its Torch7 file served from a mirror directory."""
    from converters import t7
    from converters.synthetic.densenet import densenet_checkpoint
    from zoo.registry import load_weights, register_architecture

    register_architecture("tinynet", TINY)
    root, _ = painted_folder
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    checkpoint = mirror / "tinynet.t7"
    t7.save(densenet_checkpoint(TINY, seed=3), checkpoint)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "schema_version": 2,
                "models": {
                    "tinynet": {
                        "title": "tiny",
                        "architecture": "tinynet",
                        "published": {"top1_error": 42.5, "source": "test"},
                        "sources": [
                            {
                                "type": "url",
                                "url": "http://127.0.0.1:9/tinynet.t7",
                                "filename": "tinynet.t7",
                                "format": "t7",
                                "sha256": None,
                                "size": None,
                            }
                        ],
                    }
                },
            }
        )
    )
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    monkeypatch.setenv("DENSENET_ZOO_MIRROR", str(mirror))
    monkeypatch.setenv("DENSENET_ZOO_HOME", str(tmp_path / "cache"))
    record_path = tmp_path / "registry.json"

    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            "tinynet",
            "--data",
            str(root),
            "--device",
            "cpu",
            "--limit",
            "1",
            "--json",
            str(record_path),
            "-q",
        ],
    )

    assert result.exit_code == 0, result.output
    record = json.loads(record_path.read_text())
    assert record["model"] == "tinynet" and record["published_top1_error"] == 42.5
    assert record["weights_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert (record["images"], record["top1_correct"], record["top5_correct"]) == _reference(
        load_weights(checkpoint), root, limit=1
    )
    assert f"difference {record['top1_error'] - 42.5:+.3f} points" in result.output


def test_amp_and_preprocess_choices_of_the_commands_are_the_librarys() -> None:
    """--amp and --preprocess offer what zoo.choices holds, the tuples the runtime and the transforms check."""
    from zoo import choices
    from zoo.cli.evaluate import evaluate_command, predict_command
    from zoo.cli.train import train_command
    from zoo.data import PREPROCESS_KINDS
    from zoo.runtime import AMP_DTYPES, AMP_MODES

    for command in (evaluate_command, train_command):
        amp = next(option for option in command.params if option.name == "amp")
        assert tuple(amp.type.choices) == AMP_MODES == tuple(AMP_DTYPES) == choices.AMP_MODES
    for command in (evaluate_command, predict_command):
        preprocess = next(option for option in command.params if option.name == "preprocess")
        assert tuple(preprocess.type.choices) == PREPROCESS_KINDS == choices.PREPROCESS_KINDS
