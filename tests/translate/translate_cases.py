"""The genuine Lua reference cases of the general converter, found in the fixture folders, and how to compare.

A case is a Lua net saved by Torch7, the input Lua ran it on and the output
Lua computed. Cases are discovered from the folders (``torch7/nn_modules``:
``NAME.net.t7`` / ``NAME.net.ascii.t7`` + ``NAME.input.t7`` + ``NAME.output.t7``;
``opencv_torch`` and its ``historical/``: ``net_X_net.{dat,txt}`` +
``net_X_input`` + ``net_X_output``), so a new file there is a new test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fixtures import fixtures_root

from converters import t7

#: Relative tolerance of the issue: max abs difference <= 1e-5 of the reference output's largest magnitude.
TOLERANCE = 1e-5

#: OpenCV nets Lua ran with an nn older than commit 919eecae (2017-08): net_batch_norm_train (a training-mode
#: BatchNorm over a batch of ONE, saved in 2018) was normalised with the batch's own statistics, whereas the nn
#: of the nn_modules fixtures (and the last nn release) uses the running statistics there
#: (SpatialBatchNormalization_train_batch1). The file cannot tell which nn saved it; load_module follows the last
#: release, and lua_nn.BatchNormalization(batch_statistics_for_one=True) selects the older behaviour.
NN_BEFORE_919EECAE = {"net_batch_norm_train"}


@dataclass(frozen=True)
class Case:
    """One Lua reference: ``net`` run on ``input`` gave ``output``."""

    id: str
    name: str
    net: Path
    input: Path
    output: Path

    @property
    def ascii(self) -> bool:
        return self.net.name.endswith((".ascii.t7", ".txt"))


def nn_module_cases() -> list[Case]:
    """Every case of ``torch7/nn_modules``, binary and ascii."""
    folder = fixtures_root() / "torch7" / "nn_modules"
    cases = []
    for suffix in (".net.t7", ".net.ascii.t7"):
        for net in sorted(folder.glob(f"*{suffix}")):
            name = net.name[: -len(suffix)]
            kind = "ascii" if "ascii" in suffix else "binary"
            cases.append(Case(f"{name}[{kind}]", name, net, folder / f"{name}.input.t7", folder / f"{name}.output.t7"))
    return cases


def opencv_cases() -> list[Case]:
    """Every net of ``opencv_torch`` (and its ``historical/``) with its input and output.

    ``net_openface_output.dat`` has no net and is not a case; ``net_pool_max_output_2.txt``
    (max-pooling indices minus 1, which no converted module returns) is not compared.
    """
    folder = fixtures_root() / "opencv_torch"
    cases = []
    for net in sorted([*folder.glob("*_net.*"), *folder.glob("historical/*_net.*")]):
        stem = net.stem[: -len("_net")]
        relative = net.relative_to(folder).as_posix()
        cases.append(
            Case(
                relative,
                stem,
                net,
                net.with_name(f"{stem}_input{net.suffix}"),
                net.with_name(f"{stem}_output{net.suffix}"),
            )
        )
    return cases


def lua_to_torch(lua_value: Any) -> Any:
    """A Lua tensor as a torch tensor of the same dtype, a Lua list (nested) as a Python list."""
    if isinstance(lua_value, t7.T7Tensor):
        return torch.from_numpy(np.array(lua_value.numpy()))
    if isinstance(lua_value, t7.T7Table) and lua_value.is_list():
        return [lua_to_torch(item) for item in lua_value.as_list()]
    raise TypeError(f"not a tensor or a list of them: {lua_value!r}")


def relative_difference(actual: Any, expected: Any) -> float:
    """Max abs difference relative to the reference's largest magnitude (structure, shape and dtype must match).

    NaN, +-inf and the dtype's extreme finite values (THNN's empty max-pooling
    windows) must be equal exactly and are left out of the magnitude.
    """
    if isinstance(expected, list):
        assert isinstance(actual, (list, tuple)), f"expected a table of {len(expected)}, got {type(actual).__name__}"
        assert len(actual) == len(expected), f"expected a table of {len(expected)}, got {len(actual)}"
        return max((relative_difference(a, e) for a, e in zip(actual, expected, strict=True)), default=0.0)
    assert isinstance(actual, torch.Tensor), f"expected a tensor, got {type(actual).__name__}"
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != Lua's {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != Lua's {expected.dtype}"
    if not expected.is_floating_point():
        return 0.0 if torch.equal(actual, expected) else math.inf
    extreme = torch.finfo(expected.dtype).max
    special = torch.isnan(expected) | (expected.abs() >= extreme)
    same_special = torch.equal(actual[special].nan_to_num(nan=0.0), expected[special].nan_to_num(nan=0.0))
    assert same_special and torch.equal(torch.isnan(actual), torch.isnan(expected)), "NaN/inf/extreme values differ"
    ordinary, reference = actual[~special].double(), expected[~special].double()
    if reference.numel() == 0:
        return 0.0
    scale = reference.abs().max().item() or 1.0
    return (ordinary - reference).abs().max().item() / scale


class UnreadableTensor(t7.T7Tensor):
    """A Lua tensor whose payload must not be read (planted where a converter has no business reading)."""

    def numpy(self) -> np.ndarray:
        raise AssertionError(f"a {self.typename} of size {self.size} was read")

    def torch(self) -> Any:
        raise AssertionError(f"a {self.typename} of size {self.size} was read")


def trap_tensors(root: Any, keep: frozenset[str] = frozenset()) -> int:
    """Replace every tensor in the tree, except fields named in ``keep``, by an :class:`UnreadableTensor`.

    Returns how many were planted.
    """
    planted = 0
    for value in list(t7.iter_tree(root)):
        table = value.fields if isinstance(value, t7.T7Object) else value
        if not isinstance(table, t7.T7Table):
            continue
        for key, item in list(table.items()):
            if type(item) is t7.T7Tensor and key not in keep:
                table[key] = UnreadableTensor(item.typename, item.size, item.stride, item.storage_offset, item.storage)
                planted += 1
    return planted
