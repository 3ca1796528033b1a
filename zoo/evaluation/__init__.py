"""Evaluation: fb.resnet.torch-faithful top-1/top-5 error on image folders, single or multi-process.

``evaluate(model, "/data/imagenet", EvaluationOptions(ten_crop=True))`` (or ``ten_crop=True``) ->
:class:`EvaluationResult`;
``load_model("densenet121" | "densenet-121.t7" | "weights.safetensors")`` resolves what the
command line calls MODEL; ``predict(model, paths)`` gives the top-5 classes of single images.

Names resolve on first use (PEP 562), so that :mod:`zoo.evaluation.errors` imports without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from densenet_zoo_util.lazy import lazy_exports

if TYPE_CHECKING:
    from zoo.evaluation.classes import imagenet_class_names, imagenet_wnids
    from zoo.evaluation.errors import ModelSpecError
    from zoo.evaluation.evaluate import EvaluationOptions, EvaluationResult, evaluate, resolve_transform
    from zoo.evaluation.loading import LoadedModel, load_model, state_dict_sha256
    from zoo.evaluation.metrics import ErrorCounts, aggregate_crops, topk_correct
    from zoo.evaluation.predict import ClassScore, ImagePrediction, predict
    from zoo.evaluation.published import PublishedError, published_error

# Public name -> the module that defines it.
_LAZY_EXPORTS = {
    "ClassScore": "zoo.evaluation.predict",
    "ErrorCounts": "zoo.evaluation.metrics",
    "EvaluationOptions": "zoo.evaluation.evaluate",
    "EvaluationResult": "zoo.evaluation.evaluate",
    "ImagePrediction": "zoo.evaluation.predict",
    "LoadedModel": "zoo.evaluation.loading",
    "ModelSpecError": "zoo.evaluation.errors",
    "PublishedError": "zoo.evaluation.published",
    "aggregate_crops": "zoo.evaluation.metrics",
    "evaluate": "zoo.evaluation.evaluate",
    "imagenet_class_names": "zoo.evaluation.classes",
    "imagenet_wnids": "zoo.evaluation.classes",
    "load_model": "zoo.evaluation.loading",
    "predict": "zoo.evaluation.predict",
    "published_error": "zoo.evaluation.published",
    "resolve_transform": "zoo.evaluation.evaluate",
    "state_dict_sha256": "zoo.evaluation.loading",
    "topk_correct": "zoo.evaluation.metrics",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)

__all__ = [
    "ClassScore",
    "ErrorCounts",
    "EvaluationOptions",
    "EvaluationResult",
    "ImagePrediction",
    "LoadedModel",
    "ModelSpecError",
    "PublishedError",
    "aggregate_crops",
    "evaluate",
    "imagenet_class_names",
    "imagenet_wnids",
    "load_model",
    "predict",
    "published_error",
    "resolve_transform",
    "state_dict_sha256",
    "topk_correct",
]
