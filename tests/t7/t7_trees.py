"""Comparing two parsed Torch7 object trees: same structure, same values, same sharing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from converters import t7

_NODES = (t7.T7Table, t7.T7Object, t7.T7Tensor, t7.T7Storage, t7.T7Function)


def tree_differences(
    left: Any, right: Any, *, left_may_have_more_keys: bool = False, values: bool = True, limit: int = 10
) -> list[str]:
    """Where ``left`` and ``right`` differ (empty when they are the same tree).

    Tables compare by key (table- and object-valued keys pair up in file
    order), numbers by value (NaN equals NaN), storages by element values
    (unless ``values`` is false), and every node of ``left`` must correspond to
    exactly one node of ``right`` and back, so a reference shared in one tree
    is shared the same way in the other. ``left_may_have_more_keys`` lets
    ``left``'s tables hold keys that ``right``'s lack (only common keys compare).
    """
    options = {"extra_keys": left_may_have_more_keys, "values": values}
    pairs: dict[int, Any] = {}
    reverse: dict[int, Any] = {}
    differences: list[str] = []
    stack = [("root", left, right)]
    while stack and len(differences) < limit:
        path, a, b = stack.pop()
        if isinstance(a, _NODES) or isinstance(b, _NODES):
            if type(a) is not type(b):
                differences.append(f"{path}: {type(a).__name__} vs {type(b).__name__}")
                continue
            if id(a) in pairs or id(b) in reverse:
                if pairs.get(id(a)) is not b or reverse.get(id(b)) is not a:
                    differences.append(f"{path}: shared differently")
                continue
            pairs[id(a)], reverse[id(b)] = b, a
            problem = _node_problem(a, b, path, stack, options)
        else:
            problem = _value_problem(a, b)
        if problem:
            differences.append(f"{path}: {problem}")
    return differences


def _value_problem(a: Any, b: Any) -> str | None:
    if type(a) is not type(b):
        return f"{a!r} vs {b!r}"
    if isinstance(a, float):
        same = (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
        return None if same else f"{a!r} vs {b!r}"
    return None if a == b else f"{a!r} vs {b!r}"


def _same_elements(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal elements; for floats NaN equals NaN (whatever its payload) and -0.0 differs from 0.0."""
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    numbers = ~np.isnan(a)
    return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a[numbers]), np.signbit(b[numbers]))


def _node_problem(a: Any, b: Any, path: str, stack: list, options: dict[str, bool]) -> str | None:
    if isinstance(a, t7.T7Table):
        return _table_problem(a, b, path, stack, options["extra_keys"])
    if isinstance(a, t7.T7Object):
        if (a.typename, a.version, a.version_string) != (b.typename, b.version, b.version_string):
            return f"object {a.typename} v{a.version} vs {b.typename} v{b.version}"
        stack.append((f"{path}<{a.typename}>", a.fields, b.fields))
    elif isinstance(a, t7.T7Tensor):
        if (a.typename, a.size, a.stride, a.storage_offset) != (b.typename, b.size, b.stride, b.storage_offset):
            return f"tensor {a!r} vs {b!r}"
        stack.append((f"{path}.storage", a.storage, b.storage))
    elif isinstance(a, t7.T7Storage):
        if (a.typename, a.size) != (b.typename, b.size):
            return f"storage {a!r} vs {b!r}"
        if options["values"] and not _same_elements(a.numpy(), b.numpy()):
            return f"storage values differ (max abs diff {np.nanmax(np.abs(a.numpy() - b.numpy()))})"
    else:
        if (a.dumped, a.typeidx) != (b.dumped, b.typeidx):
            return "function bytecode differs"
        stack.append((f"{path}.upvalues", a.upvalues, b.upvalues))
    return None


def _table_problem(a: t7.T7Table, b: t7.T7Table, path: str, stack: list, extra_keys: bool) -> str | None:
    plain_a = {key for key in a if not isinstance(key, _NODES)}
    plain_b = {key for key in b if not isinstance(key, _NODES)}
    if plain_a != plain_b and not (extra_keys and plain_b <= plain_a):
        return f"keys {sorted(map(repr, plain_a ^ plain_b))[:6]} in only one table"
    for key in plain_b:
        stack.append((f"{path}[{key!r}]", a[key], b[key]))
    node_keys_a = [key for key in a if isinstance(key, _NODES)]
    node_keys_b = [key for key in b if isinstance(key, _NODES)]
    if len(node_keys_a) != len(node_keys_b):
        return f"{len(node_keys_a)} vs {len(node_keys_b)} table-valued keys"
    for number, (key_a, key_b) in enumerate(zip(node_keys_a, node_keys_b, strict=True)):
        stack.append((f"{path}[<key {number}>]", key_a, key_b))
        stack.append((f"{path}[<key {number}> value]", a[key_a], b[key_b]))
    return None
