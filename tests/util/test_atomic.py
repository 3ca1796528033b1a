"""densenet_zoo_util.atomic: the one atomic-output helper every layer writes user files with."""

import os
import stat

import pytest

from densenet_zoo_util.atomic import atomic_output, write_bytes_atomic, write_text_atomic


def test_new_file_gets_umask_permissions_not_mkstemp_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        target = write_bytes_atomic(tmp_path / "weights.bin", b"abc")
    finally:
        os.umask(previous)
    assert target.read_bytes() == b"abc"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_replacing_a_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "manifest.json"
    target.write_text("old")
    target.chmod(0o640)
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_replacing_a_symlink_takes_neither_the_mode_nor_the_place_of_what_it_names(tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("theirs")
    elsewhere.chmod(0o777)
    target = tmp_path / "manifest.json"
    target.symlink_to(elsewhere)
    previous = os.umask(0o022)
    try:
        write_text_atomic(target, "ours")
    finally:
        os.umask(previous)
    assert not target.is_symlink()
    assert target.read_text() == "ours"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert elsewhere.read_text() == "theirs"
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o777


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError, match="disk full"), atomic_output(target) as stream:
        stream.write(b"half of a new fi")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_force_false_refuses_to_overwrite(tmp_path):
    target = tmp_path / "out.pth"
    target.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="--force"):
        write_bytes_atomic(target, b"other", force=False)
    assert target.read_bytes() == b"keep"
    dangling = tmp_path / "dangling.pth"
    dangling.symlink_to(tmp_path / "missing")
    with pytest.raises(FileExistsError, match="--force"):
        write_bytes_atomic(dangling, b"other", force=False)
    assert dangling.is_symlink()


def test_text_mode_and_bad_mode(tmp_path):
    with atomic_output(tmp_path / "a" / "b.txt", "w") as stream:
        stream.write("héllo")
    assert (tmp_path / "a" / "b.txt").read_text(encoding="utf-8") == "héllo"
    with pytest.raises(ValueError, match="mode"), atomic_output(tmp_path / "c", "ab"):
        pass


@pytest.mark.parametrize("umask, expected", [(0o077, 0o600), (0o002, 0o664)])
def test_new_file_follows_any_umask_and_leaves_it_unchanged(tmp_path, umask, expected):
    previous = os.umask(umask)
    try:
        target = write_text_atomic(tmp_path / "record.json", "{}")
        assert os.umask(umask) == umask  # still the caller's umask after the write
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == expected
