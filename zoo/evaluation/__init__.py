"""Evaluation: fb.resnet.torch-faithful top-1/top-5 error on image folders, single or multi-process.

``evaluate(model, "/data/imagenet", ten_crop=False)`` -> :class:`EvaluationResult`;
``load_model("densenet121" | "densenet-121.t7" | "weights.safetensors")`` resolves what the
command line calls MODEL; ``predict(model, paths)`` gives the top-5 classes of single images.
"""

from zoo.evaluation.classes import imagenet_class_names, imagenet_wnids
from zoo.evaluation.evaluate import EvaluationResult, evaluate, resolve_transform
from zoo.evaluation.loading import LoadedModel, ModelSpecError, load_model, state_dict_sha256
from zoo.evaluation.metrics import ErrorCounts, aggregate_crops, topk_correct
from zoo.evaluation.predict import ClassScore, ImagePrediction, predict
from zoo.evaluation.published import PublishedError, published_error

__all__ = [
    "ClassScore",
    "ErrorCounts",
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
