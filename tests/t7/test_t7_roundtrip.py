"""Every genuine Torch7 file, read and written back, must reproduce its bytes exactly."""

from __future__ import annotations

import pytest
from fixtures import fixture_path, fixtures_root

from converters import t7

MISSING = "<fixtures missing>"


def genuine_files() -> list[str]:
    """Paths (relative to the torch7 fixtures dir) of every ``.t7`` file there."""
    root = fixtures_root() / "torch7"
    names = sorted(path.relative_to(root).as_posix() for path in root.rglob("*.t7")) if root.is_dir() else []
    return names or [MISSING]


@pytest.mark.parametrize("name", genuine_files())
def test_load_save_reproduces_the_bytes(name: str, tmp_path) -> None:
    if name == MISSING:
        fixture_path("torch7", "densenet")  # fails under CI, skips elsewhere
        pytest.fail("the torch7 fixtures directory holds no .t7 files")
    path = fixture_path("torch7", *name.split("/"))
    original = path.read_bytes()

    assert t7.dumps(t7.load(path)) == original
    assert t7.dumps(t7.load(path, lazy=False)) == original

    copy = tmp_path / "copy.t7"
    t7.save(t7.load(path), copy)
    assert copy.read_bytes() == original


def test_fixture_directories_are_all_covered() -> None:
    names = genuine_files()
    fixture_path("torch7", "densenet")
    for folder in ("torchfile/", "densenet/", "image/"):
        assert any(name.startswith(folder) for name in names), folder
