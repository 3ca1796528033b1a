"""Package attributes that are imported on first use (PEP 562).

Keeps ``import zoo``, ``import zoo.training`` and ``from converters import t7``
fast: a package lists which module defines each public name, and the module
is imported only when the name is first looked up. Standard library only, so
every layer can use it.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


class _LazyPackage(types.ModuleType):
    """A package whose exported names are not shadowed by its submodules of the same name.

    Importing a submodule binds it as an attribute of its package, so once ``zoo.evaluation.evaluate``
    (the module) is imported, ``from zoo.evaluation import evaluate`` would give the module instead of
    the function. A package that imports its exports eagerly rebinds them after its submodules; this
    one declines the binding instead, and the name resolves to the export on its next lookup.
    """

    __lazy_exports__: Mapping[str, str]

    def __setattr__(self, name: str, value: Any) -> None:
        shadows = isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.{name}"
        if shadows and name in self.__lazy_exports__:
            return  # the submodule stays reachable through sys.modules and ``from ... import``
        super().__setattr__(name, value)


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` resolving each name in ``exports`` from its module.

    ``exports`` maps a public name to the module that defines it. A resolved
    name is stored in the package's namespace, so later lookups are ordinary;
    a submodule that shares a name with an export never takes its place (see
    :class:`_LazyPackage`). Use as ``__getattr__, __dir__ = lazy_exports(__name__, {...})``.
    """
    module = sys.modules[package]
    module.__lazy_exports__ = dict(exports)
    module.__class__ = _LazyPackage

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
