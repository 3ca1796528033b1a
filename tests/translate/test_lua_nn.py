"""The contract of ``converters.lua_nn``, which the standalone ``model.py`` export relies on.

Each runtime class imports only torch, math and the standard library, names
the Lua class it mirrors, and is rebuilt exactly from its ``extra_repr``
(keyword arguments; containers take their children positionally first).
"""

from __future__ import annotations

import ast
import inspect
import math

import pytest
import torch
from built_trees import BUILT_CASES
from fixtures import fixture_path
from translate_cases import nn_module_cases, opencv_cases

from converters import lua_nn
from converters.translate import translate

ALLOWED_IMPORTS = {"__future__", "math", "torch", "torch.nn.functional"}
RUNTIME_CLASSES = [getattr(lua_nn, name) for name in lua_nn.__all__]


@pytest.mark.parametrize("module", sorted({inspect.getmodule(cls) for cls in RUNTIME_CLASSES}, key=str))
def test_runtime_files_import_only_torch_and_math(module) -> None:
    tree = ast.parse(inspect.getsource(module))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= ALLOWED_IMPORTS
    top_level = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert all(isinstance(node, ast.ClassDef) for node in top_level), "no module-level helpers"


@pytest.mark.parametrize("cls", RUNTIME_CLASSES, ids=lambda cls: cls.__name__)
def test_runtime_classes_name_their_lua_class(cls) -> None:
    assert "nn." in (cls.__doc__ or "")


def _translated_runtime_modules() -> list[torch.nn.Module]:
    """The runtime modules of every genuine fixture net, the genuine DenseNet with DenseConnectLayerCustom layers,
    and the trees built for classes without a fixture."""
    roots = [case.net for case in [*nn_module_cases(), *opencv_cases()] if not case.ascii]
    roots.append(fixture_path("torch7", "densenet", "tiny_custom.t7"))  # skips (fails under CI) without fixtures
    roots += [build()[0] for build in BUILT_CASES.values()]
    found = []
    for root in roots:
        module = translate(root).module
        found += [sub for sub in module.modules() if type(sub).__module__.startswith("converters.lua_nn")]
    return found


def test_runtime_modules_are_rebuilt_from_their_repr() -> None:
    modules = _translated_runtime_modules()
    assert {type(module) for module in modules} == set(RUNTIME_CLASSES)
    namespace = {"float": float, "math": math}
    for module in modules:
        arguments = eval(f"dict({module.extra_repr()})", namespace)
        rebuilt = type(module)(*module.children(), **arguments)
        assert rebuilt.extra_repr() == module.extra_repr()
