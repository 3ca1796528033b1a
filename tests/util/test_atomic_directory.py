"""densenet_zoo_util.atomic.atomic_directory: a folder of outputs appears whole or not at all."""

import os
import stat

import pytest

from densenet_zoo_util.atomic import atomic_directory


def _fill(directory, text):
    (directory / "a.txt").write_text(text)
    (directory / "b.txt").write_text(text)


def test_a_new_directory_appears_with_its_files_and_ordinary_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "out") as staging:
            _fill(staging, "new")
            assert not (tmp_path / "out").exists()
    finally:
        os.umask(previous)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["a.txt", "b.txt"]
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert [path.name for path in tmp_path.iterdir()] == ["out"]


def test_a_failure_leaves_neither_the_directory_nor_the_staging_one(tmp_path):
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "out") as staging:
        _fill(staging, "half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_what_exists_is_replaced_only_with_force_and_an_empty_directory_is_taken(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    with atomic_directory(target) as staging:
        _fill(staging, "first")
    with pytest.raises(FileExistsError, match="force"), atomic_directory(target):
        pass
    assert (target / "a.txt").read_text() == "first"
    with atomic_directory(target, force=True) as staging:
        (staging / "c.txt").write_text("second")
    assert [path.name for path in target.iterdir()] == ["c.txt"]
    assert [path.name for path in tmp_path.iterdir()] == ["out"]


def test_a_link_in_the_way_is_replaced_itself_never_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep")
    (tmp_path / "out").symlink_to(elsewhere)
    with pytest.raises(FileExistsError), atomic_directory(tmp_path / "out"):
        pass
    with atomic_directory(tmp_path / "out", force=True) as staging:
        _fill(staging, "new")
    assert not (tmp_path / "out").is_symlink() and (tmp_path / "out" / "a.txt").read_text() == "new"
    assert (elsewhere / "precious.txt").read_text() == "keep"


def test_a_missing_parent_is_an_error_not_created(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"), atomic_directory(tmp_path / "no" / "out"):
        pass
    assert list(tmp_path.iterdir()) == []
