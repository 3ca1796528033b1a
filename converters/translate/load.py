"""Translate a whole Lua module tree (lazily), and load it as a ready ``torch.nn.Module``.

:func:`translate` walks the tree once, building every module on the ``meta``
device and recording a lazy :class:`TensorSource` per parameter and buffer;
no tensor payload is read. Classes without a translator are collected over
the whole tree and reported in one :class:`UnsupportedModuleError`.
:func:`load_module` then materialises each tensor once from the memory-mapped
file and assigns it into the skeleton.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from converters import t7
from converters.errors import ConversionError, UnsupportedModuleError
from converters.translate.context import TranslationState, translate_module
from converters.translate.sources import TensorSource

__all__ = ["ROOT_PATH", "Translation", "TranslationReport", "load_module", "translate"]

#: The Lua path of the root module in reports and errors (children are ``model.modules[1]``, ...).
ROOT_PATH = "model"


@dataclass
class TranslationReport:
    """What a translation found: Lua classes, parameter count, and where each PyTorch module came from."""

    module_counts: dict[str, int] = field(default_factory=dict)
    num_parameters: int = 0
    num_bytes: int = 0
    #: Floating tensor fields no translator read (gradients, activations, ...) -> how many modules hold one.
    ignored_fields: dict[str, int] = field(default_factory=dict)
    #: PyTorch module name (``""`` for the root, ``"4.0"``) -> its Lua path (``model.modules[5].modules[1]``).
    lua_paths: dict[str, str] = field(default_factory=dict)
    #: PyTorch module name -> the Lua class it was translated from (``nn.SpatialConvolution``).
    lua_classes: dict[str, str] = field(default_factory=dict)
    #: Lua class without a translator -> the Lua paths where it occurs (only with ``allow_unsupported=True``).
    unsupported: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (sorted class counts)."""
        return {
            "module_counts": dict(sorted(self.module_counts.items())),
            "num_parameters": self.num_parameters,
            "num_bytes": self.num_bytes,
            "ignored_fields": dict(sorted(self.ignored_fields.items())),
            "lua_paths": dict(self.lua_paths),
            "lua_classes": dict(self.lua_classes),
            "unsupported": {name: list(paths) for name, paths in sorted(self.unsupported.items())},
            "notes": list(self.notes),
        }


@dataclass
class Translation:
    """A translated module tree before any weight is read.

    ``module`` is the skeleton on the ``meta`` device (right classes, shapes,
    dtypes and training flags); ``sources`` maps each of its state-dict names
    to the lazy source of that tensor; ``report`` says what was found.
    """

    module: torch.nn.Module
    sources: dict[str, TensorSource]
    report: TranslationReport

    def materialize(self) -> torch.nn.Module:
        """The module with every tensor read from the file (each Lua tensor once); the skeleton is consumed."""
        state_dict: dict[str, torch.Tensor] = {}
        done: dict[int, torch.Tensor] = {}
        for name, source in self.sources.items():
            if id(source) not in done:
                done[id(source)] = source.materialize()
            state_dict[name] = done[id(source)]
        self.module.load_state_dict(state_dict, strict=True, assign=True)
        return self.module


def translate(
    path_or_t7_object: Any, dtype: torch.dtype | None = None, *, allow_unsupported: bool = False
) -> Translation:
    """Translate a Torch7 module (a ``.t7`` path or a parsed ``T7Object``) without reading its weights.

    Raises :class:`UnsupportedModuleError` listing every class without a
    translator (with the Lua paths where each occurs), and ``ConversionError``
    for a field or tensor that cannot be what Lua used. With
    ``allow_unsupported=True`` (for reports such as ``inspect``) those classes
    are listed in ``report.unsupported`` instead and stand in the skeleton as
    ``torch.nn.Identity``, so the module does not compute what Lua did.
    """
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"expected a floating torch dtype (e.g. torch.float32) or None, found {dtype!r}")
    root = t7.ensure_loaded(path_or_t7_object)
    state = TranslationState(dtype=dtype)
    with torch.device("meta"):
        module = translate_module(root, ROOT_PATH, "", state)
    if state.unsupported and not allow_unsupported:
        raise UnsupportedModuleError(state.unsupported)
    if state.unsupported:  # the tensors inside an unsupported container belong to no module of the skeleton
        kept = module.state_dict(keep_vars=True)
        state.sources = {name: source for name, source in state.sources.items() if name in kept}
    _check_sources(module, state)
    parameters = dict(module.named_parameters(remove_duplicate=False))
    distinct = {id(source): (name, source) for name, source in state.sources.items()}.values()
    report = TranslationReport(
        module_counts=dict(state.module_counts),
        num_parameters=sum(source.numel for name, source in distinct if name in parameters),
        num_bytes=sum(source.nbytes for _, source in distinct),
        ignored_fields=dict(state.ignored_fields),
        lua_paths=dict(state.lua_paths),
        lua_classes=dict(state.lua_classes),
        unsupported={name: list(paths) for name, paths in sorted(state.unsupported.items())},
        notes=list(state.notes),
    )
    return Translation(module=module, sources=dict(state.sources), report=report)


def load_module(path_or_t7_object: Any, dtype: torch.dtype | None = None) -> torch.nn.Module:
    """The PyTorch module that computes what the Lua Torch7 module computed.

    ``path_or_t7_object`` is a ``.t7`` file or a parsed ``converters.t7``
    object. ``forward`` takes what Lua's ``forward`` took (a tensor, or a list
    for table inputs, nested as in Lua) and returns the same. Each module's
    training mode is the one saved in the file (its ``train`` field);
    ``.eval()``/``.train()`` then act as Lua's ``evaluate()``/``training()``.
    Tensors keep their Lua dtype (Double nets run in float64) unless ``dtype``
    is given. Submodules are named after the Lua tree: a container's
    ``modules[i]`` is child ``str(i - 1)``, so Lua ``model.modules[5].modules[1]``
    is ``module.get_submodule("4.0")``.
    """
    return translate(path_or_t7_object, dtype).materialize()


def _check_sources(module: torch.nn.Module, state: TranslationState) -> None:
    """Every parameter and buffer of the skeleton has exactly one source of its shape (translator bugs stop here)."""
    expected = module.state_dict(keep_vars=True)
    missing = [name for name in expected if name not in state.sources]
    extra = [name for name in state.sources if name not in expected]
    if missing or extra:
        where = state.lua_paths.get((missing or extra)[0].rpartition(".")[0], ROOT_PATH)
        raise ConversionError(
            f"the translated module's tensors do not match what its translators read: "
            f"without a source {missing[:5]}, not in the module {extra[:5]}",
            where,
        )
    for name, tensor in expected.items():
        source = state.sources[name]
        if tuple(tensor.shape) != source.shape or tensor.dtype != source.dtype:
            raise ConversionError(
                f"'{name}' is {tuple(tensor.shape)} {tensor.dtype} in the module but {source.shape} {source.dtype} "
                "in the file",
                source.lua_path,
            )
