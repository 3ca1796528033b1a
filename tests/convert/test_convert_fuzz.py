"""A bounded fuzz run of the convert and weights-loading paths (issue 9); ``fuzz_inputs.py`` holds the mutators.

Each target runs in a child process with an address-space limit and a per-case alarm, so a runaway
allocation, a hang or a crash (the SIGSEGV of issue 9, item 1) fails the test instead of the machine.
Larger campaigns: ``python tests/convert/fuzz_inputs.py --target t7 --cases 3000``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures import fixture_path

HERE = Path(__file__).resolve().parent


def _campaign(target: str, cases: int, seed: int) -> dict:
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz_inputs.py"), "--target", target, "--cases", str(cases), "--seed", str(seed)],
        cwd=HERE.parents[1],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), f"the fuzz process died ({result.returncode}): {result.stderr[-3000:]}"
    summary = json.loads(result.stdout)
    assert summary["failures"] == 0, json.dumps(summary["failed_cases"], indent=1)[:6000]
    assert summary["cases"] == cases
    return summary


def test_mutated_torch7_checkpoints_convert_correctly_or_fail_with_a_project_error() -> None:
    fixture_path("torch7", "densenet", "tiny_std.t7")  # the genuine seeds must be there (skipped otherwise)
    summary = _campaign("t7", cases=120, seed=2024)
    outcomes = summary["outcomes"]
    assert outcomes.get("refused:ConversionError", 0) > 20 and outcomes.get("refused:T7FormatError", 0) > 5
    assert outcomes.get("converted:matches-lua", 0) > 10  # mutations that keep a valid model still convert
    assert summary["slowest_case_seconds"] < 10


@pytest.mark.filterwarnings("ignore")
def test_mutated_safetensors_and_pth_files_load_exactly_or_fail_with_a_project_error() -> None:
    summary = _campaign("weights", cases=250, seed=2024)
    outcomes = summary["outcomes"]
    assert outcomes.get("refused:VerificationError", 0) > 100
    assert outcomes.get("loaded:matches-file", 0) > 3
    assert summary["slowest_case_seconds"] < 10
