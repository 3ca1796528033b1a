"""Every genuine Torch7 file, read and written back, must reproduce its contents.

Binary files must come back byte for byte. Ascii files (``torch.save(path,
object, 'ascii')``) must survive ascii -> objects -> binary bytes -> objects
with the same tree, the same values and the same sharing, and our ascii
writer must reproduce them byte for byte too.
"""

from __future__ import annotations

import pytest
from fixtures import fixture_path, fixtures_root
from t7_trees import tree_differences

from converters import t7

MISSING = "<fixtures missing>"


def genuine_files() -> list[str]:
    """Paths (relative to the torch7 fixtures dir) of every ``.t7`` file there."""
    root = fixtures_root() / "torch7"
    names = sorted(path.relative_to(root).as_posix() for path in root.rglob("*.t7")) if root.is_dir() else []
    return names or [MISSING]


def genuine_path(name: str):
    if name == MISSING:
        fixture_path("torch7", "densenet")  # fails under CI, skips elsewhere
        pytest.fail("the torch7 fixtures directory holds no .t7 files")
    return fixture_path("torch7", *name.split("/"))


@pytest.mark.parametrize("name", genuine_files())
def test_load_save_reproduces_the_file(name: str, tmp_path) -> None:
    path = genuine_path(name)
    original = path.read_bytes()
    mode = t7.detect_mode(original)
    assert mode == ("ascii" if name.endswith(".ascii.t7") else "binary")

    assert t7.dumps(t7.load(path), mode=mode) == original
    assert t7.dumps(t7.load(path, lazy=False), mode=mode) == original
    copy = tmp_path / "copy.t7"
    t7.save(t7.load(path), copy, mode=mode)
    assert copy.read_bytes() == original


@pytest.mark.parametrize("name", [name for name in genuine_files() if name.endswith(".ascii.t7")] or [MISSING])
def test_ascii_file_survives_a_binary_round_trip(name: str) -> None:
    parsed = t7.load(genuine_path(name))
    binary = t7.dumps(parsed)
    assert t7.detect_mode(binary) == "binary"
    assert tree_differences(parsed, t7.loads(binary)) == []
    assert t7.dumps(t7.loads(binary), mode="ascii") == genuine_path(name).read_bytes()


def test_fixture_directories_are_all_covered() -> None:
    names = genuine_files()
    fixture_path("torch7", "densenet")
    for folder in ("torchfile/", "densenet/", "image/"):
        assert any(name.startswith(folder) for name in names), folder
    assert any(name.endswith(".ascii.t7") for name in names)
