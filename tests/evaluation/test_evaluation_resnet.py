"""Evaluating the registry's fb.resnet.torch ResNets: ``densenet-zoo evaluate resnet18`` runs the same Torch7-faithful
pipeline as for the DenseNets and compares with the published top-1 and top-5 errors; non-classifiers are refused."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from click.testing import CliRunner
from registry.registry_families import local_manifest, published_tree, saved, without_gradients

from converters import load_module
from zoo import transforms
from zoo.cli import main
from zoo.evaluation import ModelSpecError, evaluate, load_model


@pytest.fixture
def resnet18(tmp_path, monkeypatch):
    """The bundled resnet18 entry, its file (random weights, 224x224) in a mirror directory; the Lua tree."""
    tree = without_gradients(published_tree("fb_resnet18", image_size=224, seed=11))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    content = saved(tree, mirror / "resnet-18.t7").read_bytes()
    served = {"resnet18": ("http://127.0.0.1:9/resnet-18.t7", content), "nn4.small2.v1": ("http://127.0.0.1:9/x", b"")}
    manifest = local_manifest(tmp_path / "m.json", served)
    monkeypatch.setenv("DENSENET_ZOO_MANIFEST", str(manifest))
    monkeypatch.setenv("DENSENET_ZOO_MIRROR", str(mirror))
    monkeypatch.setenv("DENSENET_ZOO_HOME", str(tmp_path / "cache"))
    return tree


@pytest.mark.filterwarnings("ignore:.*has no published sha256", "ignore:.*not all ImageNet wnids")
def test_evaluate_a_resnet_by_registry_name(resnet18, painted_folder, tmp_path):
    root, _ = painted_folder
    record_path = tmp_path / "record.json"
    arguments = ["evaluate", "resnet18", "--data", str(root), "--device", "cpu", "--limit", "1", "-q"]
    result = CliRunner().invoke(main, [*arguments, "--json", str(record_path)])
    assert result.exit_code == 0, result.output
    record = json.loads(record_path.read_text())
    assert record["model"] == "resnet18" and record["preprocess"] == "torch7" and record["images"] == 7
    assert (record["published_top1_error"], record["published_top5_error"]) == (30.43, 10.76)
    assert record["top5_difference"] == pytest.approx(record["top5_error"] - 10.76)
    assert f"published top-5 error 10.76%  difference {record['top5_difference']:+.3f} points" in result.output

    loaded = load_model("resnet18")
    assert loaded.kind == "registry" and loaded.weights_sha256 == record["weights_sha256"]
    predictions = evaluate(loaded.model, root, device="cpu", limit=1, keep_predictions=True).predictions
    assert len(predictions) == 7
    reference = load_module(resnet18).eval()
    transform = transforms("resnet18", kind="torch7")  # the very pipeline of the DenseNets
    paths = sorted(path for path in (root / "val").rglob("*") if path.is_file())
    first_per_class = {path.parent.name: path for path in reversed(paths)}
    for prediction in predictions:
        path = first_per_class[sorted(first_per_class)[prediction["label"]]]
        with torch.no_grad():
            scores = reference(transform(str(path))[None])[0]
        best = scores.topk(5).values
        assert torch.allclose(scores[prediction["top5"]], best, rtol=0, atol=1e-4)  # ties may swap, scores may not


def test_only_imagenet_classifiers_are_evaluated(resnet18):
    with pytest.raises(
        ModelSpecError, match=r"'nn4.small2.v1' \(OpenFace face embedder .*\) is not an ImageNet classifier"
    ):
        load_model("nn4.small2.v1")
    with pytest.raises(ModelSpecError, match="known names: resnet18$"):
        load_model("resnet19")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_model("resnet18").model.pretrained_weights["family"] == "resnet"
