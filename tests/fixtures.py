"""The one way tests find the genuine Torch7 reference files.

The files live outside the repository (``../shared/fixtures`` next to the
project root). ``DENSENET_ZOO_FIXTURES`` overrides the location; ``.ci/run``
sets it. Under ``CI=true`` a missing directory fails the test; elsewhere the
test is skipped with the reason, since a user's clone has no ``../shared``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "DENSENET_ZOO_FIXTURES"


def fixtures_root() -> Path:
    """The fixtures directory (holding ``torch7/``), as configured."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured) if configured else PROJECT_ROOT.parent / "shared" / "fixtures"


def fixture_path(*parts: str) -> Path:
    """Path of a genuine reference file, e.g. ``fixture_path("torch7", "densenet", "tiny_std.t7")``.

    Fails under CI and skips elsewhere when it is missing.
    """
    path = fixtures_root().joinpath(*parts)
    if not path.exists():
        reason = (
            f"genuine Torch7 fixture {path} is missing; set {ENV_VAR} to the directory "
            "holding torch7/ (../shared/fixtures next to the project root)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
