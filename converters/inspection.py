"""What a Torch7 checkpoint holds, for any model: what ``densenet-zoo inspect`` shows.

:func:`inspect_module` translates the module tree without reading a weight
(``converters.translate.translate`` with ``allow_unsupported=True``), so a
model with classes that have no translator is described too, each such class
listed with its Lua paths instead of failing.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

from converters.translate import TranslationReport, translate
from converters.translate.load import ROOT_PATH

__all__ = ["ModuleInspection", "ModuleRow", "inspect_module"]


@dataclass(frozen=True)
class ModuleRow:
    """One module of the tree: its PyTorch name, Lua path and class, and the PyTorch class it became.

    ``torch_class`` is None for a module with no translator and for modules inside one.
    """

    name: str
    lua_path: str
    lua_class: str
    torch_class: str | None


@dataclass
class ModuleInspection:
    """The translation report of a checkpoint, its module rows, and its tensors by dtype."""

    report: TranslationReport
    rows: list[ModuleRow]
    #: dtype name (``float32``) -> number of distinct tensors the module reads.
    tensor_dtypes: dict[str, int]

    @property
    def supported(self) -> bool:
        """Whether every Lua class has a translator (so ``load_module`` and ``convert`` can translate it)."""
        return not self.report.unsupported

    @property
    def root_class(self) -> str:
        return self.report.lua_classes.get("", "?")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``densenet-zoo inspect --json`` prints under ``module``)."""
        return {
            "root_class": self.root_class,
            "supported": self.supported,
            "unsupported": {name: list(paths) for name, paths in self.report.unsupported.items()},
            "module_counts": dict(sorted(self.report.module_counts.items())),
            "num_parameters": self.report.num_parameters,
            "num_bytes": self.report.num_bytes,
            "tensor_dtypes": dict(sorted(self.tensor_dtypes.items())),
            "modules": [
                {"name": row.name, "lua_path": row.lua_path, "lua_class": row.lua_class, "torch_class": row.torch_class}
                for row in self.rows
            ],
            "notes": list(self.report.notes),
        }


def inspect_module(path_or_t7_object: Any) -> ModuleInspection:
    """Describe the Torch7 module ``path_or_t7_object`` (a ``.t7`` path or a parsed object) without reading weights.

    Raises ``ConversionError`` only for what stops the walk itself (a field or
    tensor that cannot be what Lua used); classes without a translator are
    reported in ``report.unsupported``.
    """
    translation = translate(path_or_t7_object, allow_unsupported=True)
    report = translation.report
    modules = dict(translation.module.named_modules(remove_duplicate=False))
    outside = {path for paths in report.unsupported.values() for path in paths}
    rows = []
    for name, lua_path in report.lua_paths.items():
        untranslated = any(lua_path == path or lua_path.startswith(path + ".") for path in outside)
        module = None if untranslated else modules.get(name)
        rows.append(
            ModuleRow(
                name=name,
                lua_path=lua_path or ROOT_PATH,
                lua_class=report.lua_classes.get(name, "?"),
                torch_class=None if module is None else type(module).__name__,
            )
        )
    distinct = {id(source): source for source in translation.sources.values()}.values()
    dtypes = collections.Counter(str(source.dtype).removeprefix("torch.") for source in distinct)
    return ModuleInspection(report=report, rows=rows, tensor_dtypes=dict(dtypes))
