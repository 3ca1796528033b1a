"""The settings of one training run: :class:`TrainConfig`, and :func:`recipe_config`, which fills in what
``densenet-zoo train``'s options leave to the recipe."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

from zoo.choices import AMP_MODES, DATASETS, LR_SHAPES, SYNTHETIC
from zoo.models.densenet import DenseNetConfig
from zoo.training.recipe import cifar_drop_rate, recipe_for

#: Crops above this side are refused: each sample's float crop alone would take over 200 MB.
MAX_IMAGE_SIZE = 4096
#: Settings that may differ between a run and its resumption (they do not change the result).
RUNTIME_FIELDS = ("out", "resume", "workers", "stop_after", "log_every", "tensorboard", "device", "progress")


@dataclass
class TrainConfig:
    """One training run. ``None`` means "the recipe's default" (see :mod:`zoo.training.recipe`).

    ``batch_size`` is the global batch (all processes and accumulation steps
    together); each process runs ``batch_size / (world_size * accumulate)``
    images per forward pass. ``lr`` defaults to the linearly scaled recipe LR.
    ``stop_after`` ends the run with a checkpoint after that many optimizer
    steps in total (for staged runs and tests). ``model_config`` (a
    ``DenseNetConfig`` dict) replaces ``arch`` for custom architectures, and
    ``init_weights`` (a weights file) builds the architecture the file holds.
    ``shuffle=False`` feeds the training images in file order, the same batches
    every epoch (the Lua loader without its ``randperm``; for step-by-step comparisons).
    """

    arch: str = "densenet121"
    data: str | None = SYNTHETIC
    dataset: str = "imagenet"
    out: str = "runs/train"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    lr_shape: str | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    nesterov: bool = True
    amp: str = "off"
    memory_efficient: bool = False
    channels_last: bool = False
    compile: bool = False
    accumulate: int = 1
    workers: int | None = None
    seed: int = 0
    num_classes: int | None = None
    pretrained: bool = False
    init_weights: str | None = None
    freeze_features: bool = False
    augment: bool = True
    shuffle: bool = True
    drop_rate: float | None = None
    checkpoint_every: int = 0
    stop_after: int | None = None
    model_config: dict[str, Any] | None = None
    synthetic_samples: int = 512
    synthetic_val_samples: int = 128
    synthetic_classes: int = 10
    image_size: int | None = None
    validate: bool = True
    log_every: int = 10
    tensorboard: bool = False
    device: str = "auto"
    progress: bool = True
    resume: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if self.data is None and not self.resume:
            problems.append("data is required: a dataset folder or 'synthetic' (only a resumed run may omit it)")
        if self.data != SYNTHETIC and self.dataset not in DATASETS:
            problems.append(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.lr_shape is not None and self.lr_shape not in LR_SHAPES:
            problems.append(f"lr_shape must be one of {LR_SHAPES}, got {self.lr_shape!r}")
        if self.amp not in AMP_MODES:
            problems.append(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.accumulate < 1:
            problems.append(f"accumulate must be >= 1, got {self.accumulate}")
        if self.freeze_features and not (self.pretrained or self.init_weights or self.resume):
            problems.append(
                "freeze_features only makes sense with trained weights (add --pretrained or --init-weights)"
            )
        if self.pretrained and self.init_weights:
            problems.append("give either pretrained (registry weights) or init_weights (a file), not both")
        if self.init_weights and self.model_config is not None:
            problems.append("give either init_weights (its file holds the architecture) or model_config, not both")
        problems += self._range_problems()
        if self.model_config is not None:
            try:
                DenseNetConfig.from_dict(self.model_config)
            except ValueError as error:
                problems.append(f"model_config: {error}")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    def _range_problems(self) -> list[str]:
        """Numbers outside the range that makes sense (``None`` means the recipe's value)."""
        at_least = {
            "epochs": 1,
            "batch_size": 1,
            "checkpoint_every": 0,
            "stop_after": 1,
            "synthetic_samples": 1,
            "synthetic_val_samples": 1,
            "synthetic_classes": 1,
            "image_size": 1,
            "num_classes": 1,
            "log_every": 1,
        }
        problems = [
            f"{name} must be >= {low}, got {getattr(self, name)}"
            for name, low in at_least.items()
            if getattr(self, name) is not None and getattr(self, name) < low
        ]
        if self.image_size is not None and self.image_size > MAX_IMAGE_SIZE:
            problems.append(f"image_size must be at most {MAX_IMAGE_SIZE} pixels, got {self.image_size}")
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                problems.append(f"{name} must be a finite number >= 0, got {value}")
        if self.drop_rate is not None and not 0 <= self.drop_rate < 1:
            problems.append(f"drop_rate must be in [0, 1), got {self.drop_rate}")
        return problems

    @property
    def dataset_kind(self) -> str:
        """``synthetic`` when the data is generated, else the dataset name."""
        return SYNTHETIC if self.data == SYNTHETIC else self.dataset

    def resolved(self) -> TrainConfig:
        """A copy with every recipe default filled in (linear LR scaling included)."""
        recipe = recipe_for(self.dataset if self.dataset.startswith("cifar") else "imagenet")
        batch_size = self.batch_size if self.batch_size is not None else recipe.batch_size
        return dataclasses.replace(
            self,
            epochs=self.epochs if self.epochs is not None else recipe.epochs,
            batch_size=batch_size,
            lr=self.lr if self.lr is not None else recipe.scaled_lr(batch_size),
            lr_shape=self.lr_shape if self.lr_shape is not None else recipe.lr_shape,
            momentum=self.momentum if self.momentum is not None else recipe.momentum,
            weight_decay=self.weight_decay if self.weight_decay is not None else recipe.weight_decay,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain values (stored in checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The config :meth:`to_dict` stored (e.g. in a checkpoint); keys this version does not know are ignored.

        Every value must have its field's type (ints are ints, not strings or floats); a
        ``ValueError`` names the fields that do not.
        """
        if not isinstance(values, dict):
            raise ValueError(f"invalid training config: expected a dict of settings, found {type(values).__name__}")
        known = {key: value for key, value in values.items() if key in {item.name for item in dataclasses.fields(cls)}}
        problems = type_problems(cls, known)
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))
        return cls(**known)

    def with_runtime_of(self, other: TrainConfig) -> TrainConfig:
        """This run's recipe with ``other``'s runtime settings (used when resuming).

        ``other.data``, when given, replaces the saved data location (a dataset
        that moved); the rest of the recipe always comes from the checkpoint.
        """
        changes = {name: getattr(other, name) for name in RUNTIME_FIELDS}
        if other.data is not None:
            changes["data"] = other.data
        return dataclasses.replace(self, **changes)


def recipe_config(**settings: Any) -> TrainConfig:
    """A :class:`TrainConfig` of ``settings`` (its fields, as ``densenet-zoo train`` passes its options), where
    ``None`` for these leaves the choice to the recipe of the dataset:

    * ``arch``: the recipe's network (DenseNet-121 for ImageNet, DenseNet-BC L=100 k=12 for CIFAR) unless
      ``model_config`` or ``init_weights`` gives the architecture (``arch`` with ``init_weights`` is refused);
    * ``drop_rate``: on CIFAR data, 0.2 without augmentation and 0 with it (liuzhuang13/DenseNet);
    * ``out``: the folder of the run being resumed, else ``runs/train``.

    Epochs, batch size, scaled learning rate and the rest of the optimizer settings are filled in later
    by :meth:`TrainConfig.resolved` (also for a run built without this function).
    """
    values = dict(settings)
    dataset = values.get("dataset", TrainConfig.dataset)
    if values.get("init_weights") and values.get("arch") is not None:
        raise ValueError(
            f"give either arch ({values['arch']}) or init_weights: the weights file holds the architecture it trains"
        )
    if values.get("arch") is None:  # with a model_config or init_weights the architecture is theirs, not arch's
        from_file = values.get("model_config") is not None or values.get("init_weights")
        values["arch"] = TrainConfig.arch if from_file else recipe_for(dataset).arch
    cifar_data = dataset.startswith("cifar") and values.get("data") not in (None, SYNTHETIC)
    if values.get("drop_rate") is None and cifar_data:
        values["drop_rate"] = cifar_drop_rate(values.get("augment", TrainConfig.augment))
    if values.get("out") is None:
        values["out"] = values.get("resume") or TrainConfig.out
    return TrainConfig(**values)


def _is_instance(value: Any, hint: Any) -> bool:
    """``value`` has the annotated type ``hint`` (plain JSON-like types: int, float, bool, str, None,
    ``X | None``, ``dict[str, ...]``, ``tuple[int, ...]``, ``list[...]``); ints fit in 64 bits, floats are finite."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_is_instance(value, argument) for argument in arguments)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(key, str) for key in value)
    if origin in (tuple, list):
        return isinstance(value, (tuple, list)) and all(_is_instance(item, arguments[0]) for item in value)
    return False


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def type_problems(cls: type, values: dict[str, Any]) -> list[str]:
    """One line per value of ``values`` whose type is not the annotated type of ``cls``'s field of that name."""
    hints = typing.get_type_hints(cls)
    return [
        f"{name} must be {_type_name(hints[name])}, got {type(value).__name__} {value!r:.40}"
        for name, value in values.items()
        if name in hints and not _is_instance(value, hints[name])
    ]
