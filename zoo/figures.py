"""The DenseNet paper's Figure 3: ImageNet top-1 error against parameters and against FLOPs, DenseNets vs ResNets.

Huang et al. (CVPR 2017), Figure 3 compares DenseNet-121/169/201/264 with the ResNet-34/50/101/152
that fb.resnet.torch trained with the same recipe: single-crop top-1 validation error against the
number of parameters (left) and against the multiply-adds of one 224x224 image (right).

Every number is taken from where it lives, never typed in here twice:

* parameters and multiply-adds are counted from the networks themselves (:mod:`zoo.flops`), built on
  the ``meta`` device: the DenseNets from :func:`zoo.create_model`, the ResNets as torchvision's
  ``resnetNN()`` (fb.resnet.torch's architecture: stride in the 3x3 convolution, projection
  shortcuts only where the shape changes; ``tests/figures`` checks both counts against
  fb.resnet.torch's own tree);
* published errors come from the registry manifest (:func:`zoo.evaluation.published.published_error`);
* measured errors come from evaluation records (``densenet-zoo evaluate --json``) in a folder:
  a record counts when it is a single-crop run of the fb.resnet.torch pipeline over the whole
  validation set (50,000 images in wnid folders, no ``--limit``).

Drawing needs matplotlib (``pip install 'densenet-zoo[plot]'``).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from zoo.errors import FigureError

__all__ = [
    "IMAGENET_FIGURE_MODELS",
    "FigureError",
    "FigureModel",
    "ImageNetPoint",
    "MeasuredError",
    "draw_imagenet_figure",
    "imagenet_figure",
    "imagenet_points",
    "read_measured_errors",
    "require_matplotlib",
]

#: What makes an evaluation record comparable with the published single-crop numbers.
VALIDATION_IMAGES = 50_000
RECORD_LIMIT = 1 << 22
#: Figure size in inches; the PNG is ``FIGURE_SIZE * dpi`` pixels.
FIGURE_SIZE = (11.0, 4.5)
FAMILY_STYLES = {"DenseNet": {"color": "tab:blue", "marker": "o"}, "ResNet": {"color": "tab:red", "marker": "s"}}
OUTPUT_FORMATS = (".png", ".pdf", ".svg")


@dataclass(frozen=True)
class FigureModel:
    """One network of the figure: its registry name, the paper's label, its family and how to build it."""

    name: str
    label: str
    family: str
    build: Callable[[], nn.Module]


#: The networks of the paper's Figure 3.
DENSENET_DEPTHS = (121, 169, 201, 264)
RESNET_DEPTHS = (34, 50, 101, 152)


def _densenet(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import zoo

        return zoo.create_model(name)

    return build


def _resnet(depth: int) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return getattr(torchvision.models, f"resnet{depth}")()

    return build


IMAGENET_FIGURE_MODELS = (
    *(FigureModel(f"densenet{d}", f"DenseNet-{d}", "DenseNet", _densenet(f"densenet{d}")) for d in DENSENET_DEPTHS),
    *(FigureModel(f"resnet{d}", f"ResNet-{d}", "ResNet", _resnet(d)) for d in RESNET_DEPTHS),
)


@dataclass(frozen=True)
class MeasuredError:
    """A top-1 error that ``densenet-zoo evaluate`` measured, and the record it was read from."""

    top1_error: float
    record: str


@dataclass(frozen=True)
class ImageNetPoint:
    """One network's place in the figure."""

    name: str
    label: str
    family: str
    parameters: int
    multiply_adds: int
    top1_error: float
    source: str
    measured: tuple[MeasuredError, ...] = ()


def _published(name: str) -> tuple[float, str]:
    from zoo.evaluation.published import published_error

    published = published_error(name)
    if published is None:
        raise FigureError(f"the registry manifest publishes no top-1 error for {name}; the figure needs one")
    return published.top1_error, published.source or "registry manifest"


def _record_problem(record: object, names: set[str]) -> str | None:
    """Why an evaluation record does not count for the figure, or None when it does."""
    from zoo.evaluation.evaluate import RECORD_SCHEMA

    if not isinstance(record, dict) or record.get("schema") != RECORD_SCHEMA:
        return f"not an evaluation record ({RECORD_SCHEMA})"
    if record.get("model") not in names:
        return f"model {record.get('model')!r:.60} is not in the figure"
    whole = (
        record.get("limit") is None
        and record.get("images") == VALIDATION_IMAGES
        and record.get("label_space") == "imagenet-wnids"
    )
    if not whole:
        return f"not the whole validation set ({VALIDATION_IMAGES} images in wnid folders, no --limit)"
    if record.get("crops") != 1 or record.get("preprocess") != "torch7":
        return "not single-crop with the torch7 preprocessing of the published numbers"
    error = record.get("top1_error")
    if isinstance(error, bool) or not isinstance(error, (int, float)) or not 0 <= error <= 100:
        return f"top1_error {error!r:.40} is not a percentage"
    return None


def read_measured_errors(
    folder: str | os.PathLike[str], names: set[str] | None = None
) -> tuple[dict[str, list[MeasuredError]], dict[str, str]]:
    """The measured errors in the ``*.json`` evaluation records of ``folder``, by model name, and the skipped
    files with the reason each was skipped. ``names`` are the models of interest (default: the figure's)."""
    directory = Path(folder)
    if not directory.is_dir():
        raise FigureError(f"records folder {directory} is not a directory; give the folder of evaluate --json records")
    names = names if names is not None else {model.name for model in IMAGENET_FIGURE_MODELS}
    measured: dict[str, list[MeasuredError]] = {}
    skipped: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            with open(path, "rb") as stream:
                text = stream.read(RECORD_LIMIT + 1)
            record = json.loads(text) if len(text) <= RECORD_LIMIT and path.is_file() else None
        except (OSError, ValueError) as error:
            skipped[path.name] = f"unreadable ({error})"
            continue
        problem = _record_problem(record, names)
        if problem:
            skipped[path.name] = problem
            continue
        measured.setdefault(record["model"], []).append(MeasuredError(float(record["top1_error"]), path.name))
    return measured, skipped


def imagenet_points(measured: dict[str, list[MeasuredError]] | None = None) -> list[ImageNetPoint]:
    """Every network of the figure with its counted size and cost, published error and ``measured`` errors."""
    import torch

    from zoo.flops import count_multiply_adds, count_parameters

    points = []
    for model in IMAGENET_FIGURE_MODELS:
        with torch.device("meta"):
            network = model.build()
        error, source = _published(model.name)
        points.append(
            ImageNetPoint(
                name=model.name,
                label=model.label,
                family=model.family,
                parameters=count_parameters(network),
                multiply_adds=count_multiply_adds(network, (3, 224, 224)),
                top1_error=error,
                source=source,
                measured=tuple((measured or {}).get(model.name, ())),
            )
        )
    return points


def require_matplotlib() -> None:
    """Raise :class:`FigureError` saying what to install when matplotlib is missing (before any slow work)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise FigureError("drawing figures needs matplotlib: pip install 'densenet-zoo[plot]'") from None


def _matplotlib_figure():  # -> matplotlib.figure.Figure
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_SIZE)
    FigureCanvasAgg(figure)
    return figure


def _draw_panel(axes, points: list[ImageNetPoint], x_of: Callable[[ImageNetPoint], float], xlabel: str) -> None:
    for family, style in FAMILY_STYLES.items():
        members = sorted((p for p in points if p.family == family), key=x_of)
        xs = [x_of(p) for p in members]
        axes.plot(xs, [p.top1_error for p in members], "-", label=f"{family}s (published)", **style)
        for point, x in zip(members, xs, strict=True):
            axes.annotate(point.label, (x, point.top1_error), textcoords="offset points", xytext=(5, 4), fontsize=8)
            for measured in point.measured:
                axes.plot([x, x], [point.top1_error, measured.top1_error], ":", color=style["color"], linewidth=1)
                axes.plot(x, measured.top1_error, linestyle="none", markerfacecolor="white", **style)
        if any(p.measured for p in members):
            axes.plot([], [], linestyle="none", markerfacecolor="white", label=f"{family}s (measured here)", **style)
    axes.margins(x=0.12, y=0.08)  # room for the labels of the outermost points
    axes.set_xlabel(xlabel)
    axes.set_ylabel("top-1 validation error (%)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)


def imagenet_figure(points: list[ImageNetPoint]):  # -> matplotlib.figure.Figure
    """Figure 3 from ``points``, as a matplotlib ``Figure`` (not attached to pyplot): two panels sharing the error axis;
    published errors as lines, measured ones as hollow markers joined to them by dotted lines."""
    figure = _matplotlib_figure()
    left, right = figure.subplots(1, 2, sharey=True)
    _draw_panel(left, points, lambda p: p.parameters / 1e6, "parameters (millions)")
    _draw_panel(right, points, lambda p: p.multiply_adds / 1e9, "multiply-adds of one 224x224 image (billions)")
    right.set_ylabel("")
    figure.suptitle("ImageNet, single-crop top-1 error: DenseNets vs ResNets (Huang et al. 2017, Figure 3)")
    figure.tight_layout()
    return figure


def draw_imagenet_figure(
    points: list[ImageNetPoint], path: str | os.PathLike[str], *, dpi: int = 150, force: bool = False
) -> Path:
    """Write :func:`imagenet_figure` to ``path`` (.png, .pdf or .svg), atomically; an existing file only with
    ``force``. A PNG is ``FIGURE_SIZE * dpi`` pixels."""
    from densenet_zoo_util.atomic import write_bytes_atomic

    target = Path(path)
    if target.suffix.lower() not in OUTPUT_FORMATS:
        raise FigureError(f"cannot write {target}: the figure is written as {', '.join(OUTPUT_FORMATS)}")
    if not force and os.path.lexists(target):
        raise FileExistsError(f"{target} already exists; pass force=True (CLI: --force) to overwrite it")
    encoded = io.BytesIO()
    imagenet_figure(points).savefig(encoded, format=target.suffix.lower().lstrip("."), dpi=dpi)
    return write_bytes_atomic(target, encoded.getvalue(), force=force)
