"""An interruption at the worst moment (the CLI raises one wherever a SIGINT/SIGTERM lands) leaves no trace.

Each test lets the real system call run and then raises ``KeyboardInterrupt`` before Python could store its
result: the moment a signal handler can fire right after a temporary name was created, or after the old
directory was moved aside.
"""

import os

import pytest

from densenet_zoo_util import atomic
from densenet_zoo_util.atomic import atomic_directory, atomic_output, write_bytes_atomic


def interrupted_after(monkeypatch, name, calls=1):
    """Make ``os.<name>`` do its work, then raise KeyboardInterrupt on its ``calls``-th call."""
    real, seen = getattr(os, name), []

    def call(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.append(args)
        if len(seen) == calls:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(atomic.os, name, call)
    return seen


def test_a_file_interrupted_right_after_its_temporary_file_was_created_leaves_nothing(tmp_path, monkeypatch):
    seen = interrupted_after(monkeypatch, "open")
    with pytest.raises(KeyboardInterrupt), atomic_output(tmp_path / "out.bin") as stream:
        stream.write(b"never")
    assert seen and list(tmp_path.iterdir()) == []


def test_a_directory_interrupted_right_after_its_staging_folder_was_made_leaves_nothing(tmp_path, monkeypatch):
    seen = interrupted_after(monkeypatch, "mkdir")
    with pytest.raises(KeyboardInterrupt), atomic_directory(tmp_path / "out") as staging:
        (staging / "a.txt").write_text("never")
    assert seen and list(tmp_path.iterdir()) == []


def test_the_old_directory_comes_back_when_interrupted_after_it_was_moved_aside(tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("kept")
    with pytest.raises(KeyboardInterrupt), atomic_directory(tmp_path / "out", force=True) as staging:
        (staging / "new.txt").write_text("new")
        interrupted_after(monkeypatch, "rename")  # the first rename moves the old directory aside
    assert [path.name for path in tmp_path.iterdir()] == ["out"]
    assert (tmp_path / "out" / "old.txt").read_text() == "kept"


def test_a_file_planted_at_the_temporary_name_is_neither_used_nor_removed(tmp_path, monkeypatch):
    planted = tmp_path / ".out.bin.planted.partial"
    planted.write_bytes(b"theirs")
    monkeypatch.setattr(atomic, "_unique_name", lambda target, suffix: planted)
    with pytest.raises(FileExistsError):
        write_bytes_atomic(tmp_path / "out.bin", b"ours")
    assert planted.read_bytes() == b"theirs" and not (tmp_path / "out.bin").exists()
