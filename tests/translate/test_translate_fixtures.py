"""Every genuine Lua reference case converts with ``load_module`` and reproduces Lua's output, in the saved mode.

The cases are generated from the fixture folders (see ``translate_cases``):
one test per ``nn_modules`` case (binary and ascii) and per OpenCV net, so a
new file there is tested without a code change.
"""

from __future__ import annotations

import pytest
import torch
from fixtures import fixture_path
from translate_cases import (
    NN_BEFORE_919EECAE,
    TOLERANCE,
    Case,
    lua_to_torch,
    nn_module_cases,
    opencv_cases,
    relative_difference,
)

from converters import lua_nn, t7
from converters.translate import load_module


def _cases(found: list[Case]) -> list:
    """One test per case; none found gives one test that skips (fails under CI) naming the missing folder."""
    if not found:
        return [pytest.param(None, id="fixtures-missing")]
    return [pytest.param(case, id=case.id) for case in found]


def _check(case: Case | None, folder: tuple[str, ...]) -> Case:
    if case is None:
        fixture_path(*folder)
    return case


def _run(module: torch.nn.Module, case: Case) -> float:
    inputs = lua_to_torch(t7.load(case.input))
    expected = lua_to_torch(t7.load(case.output))
    with torch.no_grad():
        return relative_difference(module(inputs), expected)


@pytest.mark.parametrize("case", _cases(nn_module_cases()))
def test_nn_module_case_reproduces_lua(case: Case | None) -> None:
    case = _check(case, ("torch7", "nn_modules"))
    module = load_module(case.net)
    assert module.training == (t7.load(case.net).get("train") is True)
    assert _run(module, case) <= TOLERANCE


@pytest.mark.parametrize("case", _cases(opencv_cases()))
def test_opencv_net_reproduces_lua(case: Case | None) -> None:
    case = _check(case, ("opencv_torch",))
    module = load_module(case.net)
    if case.name in NN_BEFORE_919EECAE:
        for submodule in module.modules():
            if isinstance(submodule, lua_nn.BatchNormalization):
                submodule.batch_statistics_for_one = True
    assert _run(module, case) <= TOLERANCE
