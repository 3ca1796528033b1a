"""ImageNet-style evaluation that reproduces fb.resnet.torch's validation numbers.

:func:`evaluate` runs a classifier over an image folder (or any dataset yielding
``(image, label, index)``) and returns an :class:`EvaluationResult` with top-1/top-5
error, counts, throughput and the environment, ready to be written as a JSON record.

Faithfulness: by default the Torch7 pipeline preprocesses (``zoo.transforms(kind="torch7")``),
the model runs in float32 without TF32, ten crops are scored by the sum of their
outputs, and the error is taken over every image exactly once.

Speed on a GPU: decode workers, pinned host memory, non-blocking copies, channels_last
and cuDNN autotuning; bf16/fp16 autocast on request (off by default: it changes the
numbers). Under torchrun each process evaluates its own shard (see
:mod:`zoo.evaluation.sharding`) and the counts are summed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from densenet_zoo_util.atomic import write_text_atomic
from zoo.choices import PREPROCESS_KINDS
from zoo.evaluation.metrics import ErrorCounts, aggregate_crops, topk_correct
from zoo.evaluation.sharding import ShardSampler, shard_indices
from zoo.runtime import (
    DistributedContext,
    amp_dtype,
    autocast,
    default_workers,
    init_distributed,
    loader_options,
)

__all__ = ["EvaluationOptions", "EvaluationResult", "evaluate", "resolve_transform"]

RECORD_SCHEMA = "densenet-zoo/evaluation/1"


@dataclass
class EvaluationResult:
    """One evaluation: what was run, on what, how it scored and how fast."""

    model: str | None
    weights_sha256: str | None
    state_dict_sha256: str | None
    data: str | None
    preprocess: str
    transform: str
    crops: int
    limit: int | None
    label_space: str
    num_classes: int
    images: int
    top1_correct: int
    top5_correct: int
    top1_error: float
    top5_error: float
    published_top1_error: float | None
    published_source: str | None
    top1_difference: float | None
    seconds: float
    images_per_second: float
    batch_size: int
    workers: int
    amp: str
    channels_last: bool
    tf32: bool
    environment: dict[str, Any] = field(default_factory=dict)
    predictions: list[dict[str, Any]] | None = None
    published_top5_error: float | None = None
    top5_difference: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: ``schema`` first, then every field (``predictions`` only when kept)."""
        record = {"schema": RECORD_SCHEMA, **asdict(self)}
        if record["predictions"] is None:
            del record["predictions"]
        return record

    def to_json(self, indent: int = 2) -> str:
        """:meth:`to_dict` as JSON text (NaN errors of an empty run stay ``NaN``), newline-terminated."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=True) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON record atomically (temp file in the same directory, then rename)."""
        return write_text_atomic(path, self.to_json())

    def summary(self) -> str:
        """Human-readable lines for a terminal."""
        name = self.model or "model"
        crops = "10-crop" if self.crops == 10 else f"{self.crops}-crop"
        lines = [
            f"{name}: {self.images} images, {self.num_classes} classes, {crops}, preprocess {self.preprocess}",
            f"  top-1 error {self.top1_error:.3f}%  ({self.images - self.top1_correct} wrong)",
            f"  top-5 error {self.top5_error:.3f}%  ({self.images - self.top5_correct} wrong)",
        ]
        if self.published_top1_error is not None:
            if self.top1_difference is not None:
                lines.append(
                    f"  published top-1 error {self.published_top1_error:.2f}%  "
                    f"difference {self.top1_difference:+.3f} points"
                )
            else:
                lines.append(
                    f"  published top-1 error {self.published_top1_error:.2f}% (single crop; not compared with {crops})"
                )
        if self.top5_difference is not None:
            published, difference = self.published_top5_error, self.top5_difference
            lines.append(f"  published top-5 error {published:.2f}%  difference {difference:+.3f} points")
        lines.append(
            f"  {self.images_per_second:.1f} images/s  ({self.seconds:.1f} s, {self.environment.get('device', '?')}, "
            f"world size {self.environment.get('world_size', 1)})"
        )
        return "\n".join(lines)


def resolve_transform(
    preprocess: str | Callable[[str], torch.Tensor], ten_crop: bool = False
) -> tuple[Callable[[str], torch.Tensor], str]:
    """A path -> tensor transform and its kind: ``"torch7"``, ``"torchvision"`` or a callable (``"custom"``)."""
    if callable(preprocess):
        return preprocess, getattr(preprocess, "kind", "custom")
    if preprocess not in PREPROCESS_KINDS:
        raise ValueError(f"preprocess must be one of {', '.join(PREPROCESS_KINDS)} or a callable, got {preprocess!r}")
    from zoo import transforms

    return transforms(None, kind=preprocess, ten_crop=ten_crop), preprocess


def num_outputs(model: nn.Module) -> int | None:
    """The number of classes a classifier predicts: ``model.config.num_classes`` or its last Linear."""
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "num_classes", None):
        return int(config.num_classes)
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    return linears[-1].out_features if linears else None


@contextlib.contextmanager
def _precision(device: torch.device, allow_tf32: bool) -> Iterator[None]:
    """fp32 convolutions and matmuls without TF32 (unless allowed), cuDNN autotuning on."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.allow_tf32 = allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark = saved


def environment(device: torch.device, context: DistributedContext) -> dict[str, Any]:
    """Versions and hardware that a reader of the record needs to judge a number."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        torchvision_version = version("torchvision")
    except PackageNotFoundError:  # pragma: no cover - a dependency, but not needed for scoring
        torchvision_version = None
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "torchvision": torchvision_version,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "world_size": context.world_size,
        "backend": context.backend,
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    else:
        info["device_name"] = platform.processor() or platform.machine()
    try:
        import zoo

        info["densenet_zoo"] = zoo.__version__
    except Exception:  # pragma: no cover - the package is importable wherever this runs
        pass
    return info


@dataclass(frozen=True)
class EvaluationOptions:
    """How to run an evaluation; the defaults reproduce fb.resnet.torch's numbers.

    Attributes:
        batch_size: crops per forward pass, as in fb.resnet.torch: with ten crops each
            batch holds ``batch_size // 10`` images.
        workers: decode processes per rank (default: the CPU cores on a GPU run, 0 on the CPU).
        device: default ``cuda`` (this rank's GPU under torchrun) when available, else ``cpu``.
        ten_crop: score the sum of the outputs of ten crops (centre + corners, and flipped).
        preprocess: ``"torch7"`` (faithful, default), ``"torchvision"``, or a path -> tensor callable.
        amp: ``None``/``"off"`` (float32), ``"bf16"`` or ``"fp16"`` autocast.
        channels_last: NHWC memory format; default on for CUDA.
        limit: only the first ``limit`` images of each class (for quick checks).
        allow_tf32: let CUDA use TF32 for float32 (faster, less exact); off for reproduction.
        keep_predictions: include each image's index, label and top-5 classes in the result.
        hash_state_dict: record ``state_dict_sha256`` (a digest of every tensor, copied to the CPU);
            False leaves it None, for repeated evaluations such as per-epoch validation that need no record.
    """

    batch_size: int = 100
    workers: int | None = None
    device: torch.device | str | None = None
    ten_crop: bool = False
    preprocess: str | Callable[[str], torch.Tensor] = "torch7"
    amp: str | None = None
    channels_last: bool | None = None
    limit: int | None = None
    allow_tf32: bool = False
    keep_predictions: bool = False
    hash_state_dict: bool = True

    def __post_init__(self) -> None:
        amp_dtype(self.amp)  # an unknown mode fails before any process group is joined
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")

    @property
    def crops(self) -> int:
        """Crops per image of the built-in transforms: 10 with ``ten_crop``, else 1."""
        return 10 if self.ten_crop else 1

    def on(self, device: torch.device) -> EvaluationOptions:
        """A copy for ``device``, with the defaults that depend on it (``workers``, ``channels_last``) decided."""
        return dataclasses.replace(
            self,
            device=device,
            workers=default_workers(device) if self.workers is None else self.workers,
            channels_last=device.type == "cuda" if self.channels_last is None else self.channels_last,
        )


@dataclass(frozen=True)
class EvaluationData:
    """What an evaluation runs over: the dataset, where it came from, its preprocessing and label space."""

    dataset: Dataset
    root: str | None
    preprocess: str  # "torch7" | "torchvision" | a custom transform's kind | "dataset"
    transform: Callable[[str], torch.Tensor] | None
    label_space: str
    num_classes: int

    @property
    def built_in_transform(self) -> bool:
        """True when a built-in transform made the crops, so their number must be the options' crops."""
        return self.preprocess in PREPROCESS_KINDS


def evaluation_data(
    data: str | os.PathLike[str] | Dataset, options: EvaluationOptions, model: nn.Module, stacklevel: int = 2
) -> EvaluationData:
    """``data`` as :class:`EvaluationData`: a dataset as it is (it preprocesses by itself; ``preprocess``
    and ``limit`` do not apply), or an image folder read with ``options``' transform and labelled the way
    ``model`` numbers its classes. A folder whose labels a 1000-class model would misread warns with
    ``stacklevel`` (as :func:`warnings.warn` counts: 2 is the caller of this function)."""
    if isinstance(data, Dataset):
        classes = getattr(data, "classes", None)
        root = getattr(data, "root", None) and str(data.root)
        transform = getattr(data, "transform", None)
        return EvaluationData(data, root, "dataset", transform, "dataset", len(classes) if classes else -1)
    from zoo.data.folder import ImageFolder, find_class_root, find_classes
    from zoo.evaluation.classes import IMAGENET_NUM_CLASSES, label_space

    transform, kind = resolve_transform(options.preprocess, options.ten_crop)
    outputs = num_outputs(model)
    class_root = find_class_root(data)
    classes, space = label_space(find_classes(class_root), outputs)
    dataset = ImageFolder(data, transform=transform, limit=options.limit, classes=classes)
    if outputs == IMAGENET_NUM_CLASSES and space == "sorted-folders" and len(classes) != outputs:
        warnings.warn(
            f"{class_root} has {len(classes)} class folders that are not all ImageNet wnids; they are numbered "
            f"0..{len(classes) - 1} in sorted order, which is not the 1000-class model's label order",
            stacklevel=stacklevel,
        )
    if outputs is not None and len(classes) > outputs:
        raise ValueError(
            f"{class_root} has {len(classes)} class folders but the model predicts {outputs} classes; "
            "point --data at a folder whose classes the model knows"
        )
    return EvaluationData(dataset, str(Path(data)), kind, transform, space, len(classes))


def evaluate(
    model: nn.Module,
    data: str | os.PathLike[str] | Dataset,
    options: EvaluationOptions | None = None,
    *,
    model_name: str | None = None,
    weights_sha256: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    **settings: Any,
) -> EvaluationResult:
    """Top-1/top-5 error of ``model`` on an image folder, fb.resnet.torch-style.

    ``evaluate(model, "/data/imagenet")``, ``evaluate(model, DIR, EvaluationOptions(ten_crop=True))``
    or ``evaluate(model, DIR, ten_crop=True)``: any field of :class:`EvaluationOptions` may be given
    by name, and replaces that field of ``options``.

    Args:
        model: a classifier returning scores ``[N, classes]``; moved to the device and set to eval.
        data: ``DIR`` holding ``val/<class>/*`` or ``<class>/*``, or a dataset yielding
            ``(image, label, index)`` with images ``[3, H, W]`` or ``[crops, 3, H, W]``.
        options: how to run it (default: :class:`EvaluationOptions`' faithful settings).
        model_name: registry name, for the record and the published error.
        weights_sha256: sha256 of the weights file, for the record.
        progress: called as ``progress(images_done, images_in_this_shard)`` after each batch.
    """
    if options is not None and not isinstance(options, EvaluationOptions):
        raise TypeError(f"options must be an EvaluationOptions, got {type(options).__name__}; give settings by name")
    options = dataclasses.replace(options or EvaluationOptions(), **settings)
    from zoo.evaluation.loading import state_dict_sha256  # looked up at each call (a test counts the calls)

    with contextlib.closing(init_distributed(options.device)) as context:
        options = options.on(context.device)
        source = evaluation_data(data, options, model, stacklevel=3)  # a warning points at evaluate's caller
        digest = state_dict_sha256(model) if options.hash_state_dict and context.is_main else None
        scores = gather_scores(model, source, options, context, progress)
        return report(scores, source, options, context, model_name, weights_sha256, digest)


@dataclass
class GatheredScores:
    """What all ranks measured together: the counts, the slowest rank's seconds, the crops per image and,
    when kept, every image's prediction in dataset order."""

    counts: ErrorCounts
    seconds: float
    crops: int
    predictions: list[dict[str, Any]] | None


def gather_scores(
    model: nn.Module,
    source: EvaluationData,
    options: EvaluationOptions,
    context: DistributedContext,
    progress: Callable[[int, int], None] | None = None,
) -> GatheredScores:
    """Run ``model`` over this rank's shard of ``source`` and combine the shards of all ranks, checking that
    every image was counted exactly once with the same number of crops."""
    model = model.to(context.device).eval()
    if options.channels_last:
        model = model.to(memory_format=torch.channels_last)
    dataset = source.dataset
    loader = DataLoader(
        dataset,
        batch_size=max(1, options.batch_size // options.crops),
        sampler=ShardSampler(shard_indices(len(dataset), context.rank, context.world_size)),
        **loader_options(context.device, options.workers),
    )
    shard = _score_shard(model, loader, options, context.device, progress)

    counts = ErrorCounts.from_tensor(context.all_reduce(shard.counts))
    seconds = float(context.all_reduce(torch.tensor([shard.seconds], dtype=torch.float64), op="max")[0])
    if counts.total != len(dataset):
        raise RuntimeError(
            f"scored {counts.total} images but the dataset holds {len(dataset)}; every image must be counted once"
        )
    observed = {crops for ranks in context.all_gather_object(sorted(shard.crops_seen)) for crops in ranks}
    if len(observed) != 1:
        raise RuntimeError(f"batches had different numbers of crops per image: {sorted(observed)}")
    crops = observed.pop()
    if source.built_in_transform and crops != options.crops:
        raise RuntimeError(f"ten_crop={options.ten_crop} but the transform produced {crops} crops per image")
    predictions = None
    if options.keep_predictions:
        gathered = context.all_gather_object(shard.predictions)
        predictions = sorted((entry for entries in gathered for entry in entries), key=lambda entry: entry["index"])
        if [entry["index"] for entry in predictions] != list(range(len(dataset))):
            raise RuntimeError("the gathered predictions do not cover each image exactly once")
    return GatheredScores(counts, seconds, crops, predictions)


def report(
    scores: GatheredScores,
    source: EvaluationData,
    options: EvaluationOptions,
    context: DistributedContext,
    model_name: str | None = None,
    weights_sha256: str | None = None,
    state_dict_sha256: str | None = None,
) -> EvaluationResult:
    """The record of ``scores``: errors, the differences from the published top-1 (and top-5, where published)
    errors of the registry model ``model_name`` (when measured with its number of crops), speed, settings and
    environment."""
    from zoo.evaluation.published import published_error

    counts, device = scores.counts, context.device
    published = published_error(model_name)
    difference = top5_difference = None
    if published is not None and scores.crops == published.crops:
        difference = counts.top1_error - published.top1_error
        if published.top5_error is not None:
            top5_difference = counts.top5_error - published.top5_error
    return EvaluationResult(
        model=model_name,
        weights_sha256=weights_sha256,
        state_dict_sha256=state_dict_sha256,
        data=source.root,
        preprocess=source.preprocess,
        transform=repr(source.transform),
        crops=scores.crops,
        limit=options.limit,
        label_space=source.label_space,
        num_classes=source.num_classes,
        images=counts.total,
        top1_correct=counts.top1_correct,
        top5_correct=counts.top5_correct,
        top1_error=counts.top1_error,
        top5_error=counts.top5_error,
        published_top1_error=published.top1_error if published else None,
        published_source=published.source if published else None,
        top1_difference=difference,
        seconds=scores.seconds,
        images_per_second=counts.total / scores.seconds if scores.seconds > 0 else math.inf,
        batch_size=options.batch_size,
        workers=options.workers,
        amp=options.amp or "off",
        channels_last=bool(options.channels_last),
        tf32=bool(options.allow_tf32 and device.type == "cuda"),
        environment=environment(device, context),
        predictions=scores.predictions,
        published_top5_error=published.top5_error if published else None,
        top5_difference=top5_difference,
    )


@dataclass
class _ShardScores:
    """What one rank measured: counts ``[images, top-1 hits, top-5 hits]`` (CPU), seconds, crops per image seen,
    and each image's ``{"index", "label", "top5"}`` when predictions are kept."""

    counts: torch.Tensor
    seconds: float
    crops_seen: set[int]
    predictions: list[dict[str, Any]]


def _score_shard(
    model: nn.Module,
    loader: DataLoader,
    options: EvaluationOptions,
    device: torch.device,
    progress: Callable[[int, int], None] | None,
) -> _ShardScores:
    """Run ``model`` over this rank's batches; the counts stay on the device until the end (no sync per batch)."""
    running = torch.zeros(3, dtype=torch.int64, device=device)  # images, top-1 hits, top-5 hits
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    crops_seen: set[int] = set()
    done, shard_size = 0, len(loader.sampler)
    start = time.perf_counter()
    with _precision(device, options.allow_tf32), torch.inference_mode(), autocast(options.amp, device):
        for images, labels, indices in loader:
            crops = images.shape[1] if images.dim() == 5 else 1
            crops_seen.add(crops)
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            if crops > 1:
                images = images.flatten(0, 1)
            if options.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            scores = aggregate_crops(model(images).float(), crops)
            correct = topk_correct(scores, labels, (1, 5))
            running += torch.stack([torch.tensor(len(labels), device=device), correct[:, 0].sum(), correct[:, 1].sum()])
            if options.keep_predictions:
                kept.append((indices, labels.cpu(), scores.topk(min(5, scores.shape[1]), dim=1).indices.cpu()))
            done += len(indices)
            if progress is not None:
                progress(done, shard_size)
    counts = running.cpu()
    seconds = time.perf_counter() - start
    predictions = [
        {"index": int(index), "label": int(label), "top5": [int(value) for value in top]}
        for batch_indices, batch_labels, batch_top in kept
        for index, label, top in zip(batch_indices.tolist(), batch_labels.tolist(), batch_top.tolist(), strict=True)
    ]
    return _ShardScores(counts, seconds, crops_seen, predictions)
