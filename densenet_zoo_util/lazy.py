"""Package attributes that are imported on first use (PEP 562).

Keeps ``import zoo``, ``import zoo.training`` and ``from converters import t7``
fast: a package lists which module defines each public name, and the module
is imported only when the name is first looked up. Standard library only, so
every layer can use it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` resolving each name in ``exports`` from its module.

    ``exports`` maps a public name to the module that defines it. A resolved
    name is stored in the package's namespace, so later lookups are ordinary.
    Use as ``__getattr__, __dir__ = lazy_exports(__name__, {...})``.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
