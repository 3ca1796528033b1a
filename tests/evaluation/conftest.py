"""Fixtures of the evaluation tests; the helpers live in ``evaluation_helpers`` (a unique module name,
since every test folder may have a ``conftest``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluation_helpers import CLASS_NAMES, PaintedImage, build_folder


@pytest.fixture(scope="session")
def painted_folder(tmp_path_factory) -> tuple[Path, list[PaintedImage]]:
    root = tmp_path_factory.mktemp("painted")
    return root, build_folder(root, CLASS_NAMES)
