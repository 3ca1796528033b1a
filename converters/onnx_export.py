"""Export any Torch7 model to ONNX through ``torch.onnx``, checked with onnxruntime before the file is kept.

Needs the optional packages of the ``onnx`` extra (``pip install
'densenet-zoo[onnx]'``: onnx, onnxruntime, onnxscript). :func:`export_onnx`
loads the model with :func:`converters.load_module` in evaluation mode (ONNX
is an inference format: Lua's ``evaluate()``), runs it on an example input,
exports it, runs the ONNX model with onnxruntime on the same input and writes
the file (atomically) only when both agree: max abs difference at most
``tolerance`` times the largest output magnitude, NaN and infinities in the
same places.

Exporter: first torch's default since 2.9, the ``torch.export``-based one
(``dynamo=True``), which the deprecation of the TorchScript exporter points
to; when it fails to export a model or its export fails the check, the
TorchScript exporter (``dynamo=False``) is tried. Measured on the 200 binary
fixture nets with torch 2.14 and onnxruntime 1.32: ``dynamo=True`` gives a
matching model for 195 (not for LookupTable, whose index check is
data-dependent, RReLU, adaptive max pooling, and an average pooling window
lying wholly in the padding), ``dynamo=False`` for 193 (it bakes traced
shapes: THNN's ceil-mode windows came out with a wrong output size, which the
onnxruntime check caught), the two together for 198. The TorchScript exporter
is about 20 times faster on small nets (0.04 s against 1 s).

The example input is the user's (``input_shapes``: one shape, or several for a
table input), or, for a model whose first layer takes images or vectors
(``Conv2d``, ``Linear``, a BatchNorm), inferred: the channel count from that
layer, the image size the first of 224, 32, 64, 96, 128, 256, 299, 28 on which
a batch of two gives outputs for two (a size that does not fit can still run:
Lua's View folds what is left over into the batch). The ONNX graph has fixed input shapes (those of the example).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from converters import lua_nn
from converters.errors import ConversionError
from converters.export import check_output
from converters.translate import load_module
from densenet_zoo_util.atomic import write_bytes_atomic

__all__ = ["IMAGE_SIZES", "OnnxExport", "OnnxExportError", "example_input", "export_onnx", "infer_input_shapes"]

#: Image sizes tried, in order, when the input shape of an image model is inferred.
IMAGE_SIZES = (224, 32, 64, 96, 128, 256, 299, 28)
#: Largest |ONNX - PyTorch| accepted, relative to the largest |PyTorch output| (float32 kernels differ slightly).
TOLERANCE = 1e-4
#: torch.onnx's exporters, in the order they are tried (see the module docstring).
EXPORTERS = ("dynamo", "torchscript")


class OnnxExportError(ConversionError):
    """The ONNX export failed, its check failed, or the ``onnx`` extra is not installed."""


@dataclass
class OnnxExport:
    """What :func:`export_onnx` wrote and how it was checked."""

    path: Path
    input_shapes: list[tuple[int, ...]]
    exporter: str
    max_difference: float
    num_bytes: int


def export_onnx(
    source: Any,
    path: str | os.PathLike[str],
    *,
    input_shapes: Sequence[Sequence[int]] | None = None,
    dtype: torch.dtype = torch.float32,
    force: bool = False,
    parents: bool = False,
    tolerance: float = TOLERANCE,
) -> OnnxExport:
    """Write the Torch7 model ``source`` (a ``.t7`` path or parsed object) as the ONNX file ``path``.

    ``input_shapes`` gives the example input (one shape per input tensor; a
    table input has several); without it the shape is inferred where the
    first layer makes it obvious. The file is written only after onnxruntime
    reproduced the PyTorch output (see the module docstring). Raises
    :class:`OnnxExportError` (also when the ``onnx`` extra is missing),
    ``ConversionError`` for the checkpoint, ``FileExistsError``/``FileNotFoundError``
    for the output path.
    """
    target = Path(path)
    check_output(target, force, parents)
    onnxruntime = _onnxruntime()
    module = load_module(source, dtype=dtype).eval()
    shapes = [tuple(shape) for shape in input_shapes] if input_shapes else infer_input_shapes(module, dtype)
    example = example_input(shapes, dtype)
    with torch.no_grad():
        expected = _flatten(module(example))
    names = [f"input{index}" for index in range(len(shapes))] if len(shapes) > 1 else ["input"]
    feeds = dict(zip(names, _flatten(example), strict=True))
    failures = []
    for exporter in EXPORTERS:
        try:
            exported = _export(module, example, names, exporter)
            difference = _check(onnxruntime, exported, feeds, expected, tolerance)
            break
        except OnnxExportError as error:
            failures.append(f"{exporter}: {error}")
    else:
        raise OnnxExportError("no ONNX export reproduces the PyTorch model (" + "; ".join(failures) + ")")
    if parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(target, exported, force=force)
    return OnnxExport(target, shapes, exporter, difference, len(exported))


def _onnxruntime() -> Any:
    """The onnxruntime module; a clear error naming the extra when it (or onnx, onnxscript) is missing."""
    try:
        import onnx  # noqa: F401  (torch.onnx needs it)
        import onnxruntime
        import onnxscript  # noqa: F401  (the torch.export-based exporter needs it)
    except ImportError as error:
        raise OnnxExportError(
            f"ONNX export needs the optional packages onnx, onnxruntime and onnxscript ({error}); "
            "install them with: pip install 'densenet-zoo[onnx]'"
        ) from None
    return onnxruntime


def example_input(shapes: Sequence[tuple[int, ...]], dtype: torch.dtype) -> torch.Tensor | list[torch.Tensor]:
    """A reproducible standard-normal input of ``shapes`` (a list for several: a Lua table input)."""
    generator = torch.Generator().manual_seed(0)
    tensors = [torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype) for shape in shapes]
    return tensors[0] if len(tensors) == 1 else tensors


def infer_input_shapes(module: torch.nn.Module, dtype: torch.dtype = torch.float32) -> list[tuple[int, ...]]:
    """The input shape of a model whose first layer says it: ``[(1, in_features)]`` after a ``Linear``, or
    ``[(1, channels, S, S)]`` after a ``Conv2d`` or an image BatchNorm, ``S`` the first of :data:`IMAGE_SIZES`
    on which the model keeps the batch size. Raises :class:`OnnxExportError` asking for ``input_shapes`` otherwise."""
    first = _first_layer(module)
    if isinstance(first, torch.nn.Linear):
        return [(1, first.in_features)]
    channels = None
    if isinstance(first, torch.nn.Conv2d):
        channels = first.in_channels
    elif isinstance(first, lua_nn.BatchNormalization) and first.n_dim == 4:
        channels = first.num_features
    if channels is None:
        raise OnnxExportError(
            f"cannot infer the input shape of a model whose first layer is {type(first).__name__}; "
            "give it (CLI: --input-shape 1,3,224,224, once per input of a table input)"
        )
    for size in IMAGE_SIZES:
        if _runs_on_a_batch(module, (2, channels, size, size), dtype):
            return [(1, channels, size, size)]
    raise OnnxExportError(
        f"the model takes {channels}-channel images, but none of the sizes {IMAGE_SIZES} fits it; "
        "give the input shape (CLI: --input-shape 1,C,H,W)"
    )


def _runs_on_a_batch(module: torch.nn.Module, shape: tuple[int, ...], dtype: torch.dtype) -> bool:
    """Whether ``module`` maps a batch of ``shape`` to outputs with the same batch size (a size that does not fit
    can still run: Lua's View folds what is left over into its batch dimension)."""
    try:
        with torch.no_grad():
            outputs = _flatten(module(example_input([shape], dtype)))
    except (RuntimeError, ValueError, IndexError):
        return False
    return all(output.dim() and output.size(0) == shape[0] for output in outputs)


def _first_layer(module: torch.nn.Module) -> torch.nn.Module:
    """The first module that sees the input: the first child, down through containers passing their input on."""
    passing_on = (torch.nn.Sequential, lua_nn.Concat, lua_nn.DepthConcat, lua_nn.ConcatTable, lua_nn.Inception)
    while isinstance(module, passing_on) and len(module._modules):
        module = next(iter(module._modules.values()))
    return module


def _flatten(value: Any) -> list[torch.Tensor]:
    """The tensors of a nested list output, depth first (the order ONNX lists inputs and outputs in)."""
    if isinstance(value, (list, tuple)):
        return [tensor for item in value for tensor in _flatten(item)]
    return [value]


def _export(module: torch.nn.Module, example: Any, names: list[str], exporter: str) -> bytes:
    """The ONNX bytes of ``module`` on ``example`` made by ``exporter`` (``"dynamo"`` or ``"torchscript"``)."""
    try:
        with _quiet():
            if exporter == "dynamo":
                program = torch.onnx.export(module, (example,), dynamo=True, input_names=names, verbose=False)
                return program.model_proto.SerializeToString()
            buffer = io.BytesIO()
            torch.onnx.export(module, (example,), buffer, dynamo=False, input_names=names)
            return buffer.getvalue()
    except Exception as error:  # whatever an exporter raises for a model it cannot express
        raise OnnxExportError(f"torch.onnx could not export it: {type(error).__name__}: {_first_line(error)}") from None


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' progress lines, warnings and logging (their failures are reported as errors)."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else ""


def _check(
    onnxruntime: Any, exported: bytes, feeds: dict[str, torch.Tensor], expected: list[torch.Tensor], tolerance: float
) -> float:
    """Run the ONNX model with onnxruntime and compare with PyTorch's outputs; the relative max difference."""
    try:
        session = onnxruntime.InferenceSession(exported, providers=["CPUExecutionProvider"])
        used = {item.name for item in session.get_inputs()}  # an input the graph does not use is dropped
        outputs = session.run(None, {name: tensor.numpy() for name, tensor in feeds.items() if name in used})
    except Exception as error:  # onnxruntime's own exception classes
        raise OnnxExportError(f"onnxruntime could not run the exported model: {_first_line(error)}") from None
    if len(outputs) != len(expected):
        raise OnnxExportError(f"the ONNX model has {len(outputs)} outputs, the PyTorch model {len(expected)}")
    worst = 0.0
    for index, (found, reference) in enumerate(zip(outputs, expected, strict=True)):
        reference = reference.numpy()
        problem = _difference(np.asarray(found), reference, tolerance)
        if isinstance(problem, str):
            raise OnnxExportError(f"output {index} of the ONNX model differs from PyTorch's: {problem}")
        worst = max(worst, problem)
    return worst


def _difference(found: np.ndarray, reference: np.ndarray, tolerance: float) -> float | str:
    """The max abs difference relative to the reference's largest finite magnitude, or what is wrong."""
    if found.shape != reference.shape:
        return f"shape {found.shape} instead of {reference.shape}"
    special = ~np.isfinite(reference)
    if not np.array_equal(found[special], reference[special], equal_nan=True) or not np.isfinite(found[~special]).all():
        return "NaN or infinite values in other places"
    if not reference.size or special.all():
        return 0.0
    scale = float(np.abs(reference[~special]).max()) or 1.0
    difference = float(np.abs(found[~special].astype(np.float64) - reference[~special]).max()) / scale
    if not difference <= tolerance or math.isnan(difference):
        return f"max abs difference {difference:.3g} of the largest magnitude (tolerance {tolerance:g})"
    return difference
