"""Checks shared by the tests of the Lua-checkpoint writers in ``converters.synthetic``.

``round_trip`` writes a tree with ``converters.t7`` and reads it back;
``assert_parity`` runs ``converters.load_module`` (float32, and float64 via
``dtype=``) against the independent float64 interpreter ``convert.lua_reference``;
``genuine_fields`` collects, per Lua class, the instance fields the genuine
Torch7 fixtures hold; ``trap_gradients`` plants gradient storages that fail
when read.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from convert.lua_reference import lua_forward, relative_error
from fixtures import fixture_path

from converters import load_module, t7

FLOAT32_TOLERANCE = 1e-5
FLOAT64_TOLERANCE = 1e-10
GRADIENT_FIELDS = ("gradWeight", "gradBias")


def round_trip(value: Any) -> Any:
    """``value`` written by ``t7.dumps`` and read back by ``t7.loads``; writing the result again gives the same
    bytes (so nothing of the tree, its sharing included, was lost on the way)."""
    payload = t7.dumps(value)
    loaded = t7.loads(payload)
    assert t7.dumps(loaded) == payload
    return loaded


def assert_parity(lua_module: t7.T7Object, images: torch.Tensor) -> torch.Tensor:
    """The converted module (in evaluation mode) computes what Lua computes, in float32 and in float64."""
    expected = lua_forward(lua_module, images.double())
    module = load_module(lua_module).eval()
    assert next(module.parameters()).dtype == torch.float32
    with torch.no_grad():
        actual = module(images.float())
    assert actual.shape == expected.shape
    assert relative_error(actual, expected) <= FLOAT32_TOLERANCE
    with torch.no_grad():
        precise = load_module(lua_module, dtype=torch.float64).eval()(images.double())
    assert relative_error(precise, expected) <= FLOAT64_TOLERANCE
    return expected


def modules_of(root: t7.T7Object) -> list[t7.T7Object]:
    """Every module object in the tree (in ``modules`` lists and in fields such as ``bn``, ``pool``)."""
    return [value for value in t7.iter_tree(root) if isinstance(value, t7.T7Object)]


@dataclass(frozen=True)
class ClassFields:
    """What the genuine objects of one Lua class hold: the fields all have, the fields some have, and the kinds
    of value (tensor, table, number, ...) each field holds."""

    always: frozenset[str]
    sometimes: frozenset[str]
    kinds: dict[str, frozenset[str]]


def value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


@functools.cache
def genuine_fields() -> dict[str, ClassFields]:
    """Lua class -> what its genuine objects hold. A class the genuine DenseNet checkpoints hold (trained,
    saved as checkpoints are) is described by them alone; the others by the nn_modules cases."""
    checkpoints = [fixture_path("torch7", "densenet", f"{name}.t7") for name in ("tiny_std", "tiny_custom")]
    found = _fields_in(checkpoints)
    for typename, described in _fields_in(sorted(fixture_path("torch7", "nn_modules").glob("*.net.t7"))).items():
        found.setdefault(typename, described)
    return found


def _fields_in(paths: list) -> dict[str, ClassFields]:
    always: dict[str, set[str]] = {}
    kinds: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in paths:
        for lua_module in modules_of(t7.load(path)):
            names = set(lua_module.fields)
            always[lua_module.typename] = always.get(lua_module.typename, names) & names
            for name, value in lua_module.items():
                kinds[lua_module.typename][name].add(value_kind(value))
    return {
        typename: ClassFields(
            frozenset(always[typename]),
            frozenset(kinds[typename]),
            {name: frozenset(found) for name, found in kinds[typename].items()},
        )
        for typename in always
    }


def field_differences(root: Any, allowed: dict[str, set[str]]) -> dict[str, set[str]]:
    """Per class of ``root`` that the genuine files also hold, how our objects differ from the genuine ones:
    ``"-name"`` a field every genuine object has and one of ours lacks, ``"+name"`` a field no genuine object
    has, ``"name:kind"`` a value of a kind no genuine object holds there; the ``allowed`` names of each class
    are left out."""
    genuine = genuine_fields()
    differences: dict[str, set[str]] = defaultdict(set)
    for lua_module in modules_of(root):
        described = genuine.get(lua_module.typename)
        if described is None:
            continue
        names, allowed_names = set(lua_module.fields), allowed.get(lua_module.typename, set())
        found = {f"-{name}" for name in described.always - names - allowed_names}
        found |= {f"+{name}" for name in names - described.sometimes - allowed_names}
        for name in names & described.sometimes - allowed_names:
            kind = value_kind(lua_module[name])
            if kind not in described.kinds[name]:
                found.add(f"{name}:{kind}")
        if found:
            differences[lua_module.typename] |= found
    return dict(differences)


class _UnreadableStorage(t7.T7Storage):
    def numpy(self) -> np.ndarray:
        raise AssertionError("a gradient storage was read")

    def raw_bytes(self) -> memoryview:
        raise AssertionError("a gradient storage was read")


def trap_gradients(root: t7.T7Object) -> int:
    """Point every gradWeight / gradBias at a storage that fails when read; returns how many were trapped."""
    traps: dict[int, _UnreadableStorage] = {}
    trapped = 0
    for lua_module in modules_of(root):
        for name in GRADIENT_FIELDS:
            grad = lua_module.get(name)
            if isinstance(grad, t7.T7Tensor) and grad.storage is not None:
                storage = grad.storage
                if id(storage) not in traps:
                    traps[id(storage)] = _UnreadableStorage.from_numpy(np.zeros(storage.size, storage.dtype))
                grad.storage = traps[id(storage)]
                trapped += 1
    return trapped


def flat_views(root: t7.T7Object, names: tuple[str, ...]) -> tuple[set[int], int]:
    """The storages the ``names`` fields of the modules view (by id) and how many such tensors there are."""
    storages, count = set(), 0
    for lua_module in modules_of(root):
        for name in names:
            tensor = lua_module.get(name)
            if isinstance(tensor, t7.T7Tensor):
                storages.add(id(tensor.storage))
                count += 1
    return storages, count
