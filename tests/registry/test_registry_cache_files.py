"""Files planted in the cache (issue 9, items 6 and 7): links, FIFOs, other users' files, garbage, stale parts.

A planted file is refused with a CacheFileError and whatever it points at
stays byte-identical; garbage written by nobody in particular is recovered
from; a leftover ``.part`` is resumed only when something vouches for it.
"""

import dataclasses
import hashlib
import json
import os
import socket
import time

import pytest
from registry_manifests import manifest_of, url_source
from registry_server import Fault, Reply, serve_bytes

from zoo.registry.cache import read_record, record_path, write_record
from zoo.registry.download import RetryPolicy, download_url
from zoo.registry.errors import CacheFileError, DownloadError, LockTimeoutError
from zoo.registry.fetch import fetch
from zoo.registry.lock import FileLock

CONTENT = os.urandom(200_000)
SHA256 = hashlib.sha256(CONTENT).hexdigest()
VICTIM_BYTES = b"precious bytes that are not the cache's\n" * 100


@pytest.fixture
def victim(tmp_path):
    """A file outside the cache that a planted link points at."""
    path = tmp_path / "elsewhere" / "victim.bin"
    path.parent.mkdir()
    path.write_bytes(VICTIM_BYTES)
    return path


def policy(sleeps):
    return RetryPolicy(attempts=4, backoff=0.5, sleep=sleeps.append)


def names(directory):
    return sorted(path.name for path in directory.iterdir())


def ranges(server, path="/model.t7"):
    return [(request.headers.get("range"), request.headers.get("if-range")) for request in server.gets(path)]


@pytest.mark.parametrize("sha256", [SHA256, None])
def test_a_symlinked_part_is_refused_and_its_target_stays_intact(server, tmp_path, sleeps, victim, sha256):
    # Issue 9, item 6: the .part was opened in append mode through the link.
    url = server.add_file("/model.t7", CONTENT)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "model.t7.part").symlink_to(victim)
    with pytest.raises(CacheFileError, match="model.t7.part is a symbolic link.*Remove it"):
        download_url(url, cache / "model.t7", sha256=sha256, retry=policy(sleeps), progress=False)
    assert victim.read_bytes() == VICTIM_BYTES
    assert names(cache) == ["model.t7.part"] and server.requests == []


def test_a_dangling_part_link_creates_nothing(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    cache = tmp_path / "cache"
    cache.mkdir()
    target = tmp_path / "created-through-the-link"
    (cache / "model.t7.part").symlink_to(target)
    with pytest.raises(CacheFileError, match="symbolic link"):
        download_url(url, cache / "model.t7", retry=policy(sleeps), progress=False)
    assert not target.exists()


def test_a_part_that_is_a_fifo_or_a_hard_link_is_refused(server, tmp_path, sleeps, victim):
    url = server.add_file("/model.t7", CONTENT)
    cache = tmp_path / "cache"
    cache.mkdir()
    os.mkfifo(cache / "model.t7.part")
    with pytest.raises(CacheFileError, match="not a regular file"):
        download_url(url, cache / "model.t7", sha256=SHA256, retry=policy(sleeps), progress=False)
    (cache / "model.t7.part").unlink()
    os.link(victim, cache / "model.t7.part")
    with pytest.raises(CacheFileError, match="2 hard links"):
        download_url(url, cache / "model.t7", sha256=SHA256, retry=policy(sleeps), progress=False)
    assert victim.read_bytes() == VICTIM_BYTES


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a file that belongs to another user")
def test_another_users_part_record_or_lock_is_refused(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", SHA256)]})
    settings.cache_dir.mkdir(parents=True)
    for name in ("tiny.t7.part", "tiny.t7.record.json", "tiny.t7.lock"):
        planted = settings.cache_dir / name
        planted.write_text("{}")
        os.chown(planted, 65534, 65534)
        with pytest.raises(CacheFileError, match="belongs to user id 65534"):
            fetch(manifest["tiny"], settings)
        planted.unlink()
    assert fetch(manifest["tiny"], settings).path.read_bytes() == CONTENT


def test_a_symlink_in_place_of_the_cached_file_is_never_adopted_or_replaced(server, tmp_path, settings, victim):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", None)]})
    settings.cache_dir.mkdir(parents=True)
    (settings.cache_dir / "tiny.t7").symlink_to(victim)
    with pytest.raises(CacheFileError, match="tiny.t7 is a symbolic link"):
        fetch(manifest["tiny"], settings)
    assert victim.read_bytes() == VICTIM_BYTES and server.requests == []
    assert read_record(settings.cache_dir / "tiny.t7") is None


def test_a_symlinked_record_or_lock_is_refused(server, tmp_path, settings, victim):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", SHA256)]})
    settings.cache_dir.mkdir(parents=True)
    for name in ("tiny.t7.record.json", "tiny.t7.lock", "tiny.t7.part.json"):
        (settings.cache_dir / "tiny.t7.part").write_bytes(CONTENT[:1000])  # the sidecar is read for a part
        planted = settings.cache_dir / name
        planted.symlink_to(victim)
        with pytest.raises(CacheFileError, match=f"{name} is a symbolic link"):
            fetch(manifest["tiny"], settings)
        planted.unlink()
        assert not (settings.cache_dir / "tiny.t7").exists()
    assert victim.read_bytes() == VICTIM_BYTES
    with pytest.raises(CacheFileError, match="record.json is a symbolic link"):
        record_path(settings.cache_dir / "x.t7").symlink_to(victim)
        write_record(settings.cache_dir / "x.t7", SHA256, 1, "manifest", "test")
    assert victim.read_bytes() == VICTIM_BYTES


def test_a_fifo_in_place_of_a_lock_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "file.t7.lock")
    with pytest.raises(CacheFileError, match="not a regular file"):
        FileLock(tmp_path / "file.t7", timeout=5.0).acquire()


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\x00\xff" * 5000,
        json.dumps({"host": socket.gethostname(), "pid": 2**70, "token": "t"}).encode(),  # OverflowError in os.kill
        json.dumps({"host": socket.gethostname(), "pid": -1, "token": "t"}).encode(),  # "every process"
        json.dumps({"host": ["x"] * 3, "pid": True}).encode(),
        b" " * (1 << 20),  # larger than any lock densenet-zoo writes
    ],
)
def test_a_garbage_lock_is_judged_by_its_age(tmp_path, content):
    lock = tmp_path / "file.t7.lock"
    lock.write_bytes(content)
    with pytest.raises(LockTimeoutError):
        FileLock(tmp_path / "file.t7", timeout=0.2, stale_after=60.0, poll_interval=0.05).acquire()
    old = time.time() - 600
    os.utime(lock, (old, old))
    with FileLock(tmp_path / "file.t7", timeout=2.0, stale_after=60.0, poll_interval=0.05):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


@pytest.mark.parametrize(
    "record",
    [
        "{garbage",
        "[]",
        json.dumps({"sha256": SHA256, "size": 1e400, "trust": "manifest"}),  # OverflowError in int() before
        json.dumps({"sha256": SHA256, "size": "many", "trust": "manifest"}),
        json.dumps({"sha256": "zz" * 32, "size": len(CONTENT), "trust": "manifest"}),
        json.dumps({"sha256": SHA256, "size": len(CONTENT), "trust": "because"}),
        json.dumps({"sha256": SHA256, "size": len(CONTENT), "trust": "manifest", "verified_at": "NaN"}),
        " " * (1 << 20),
    ],
)
def test_a_garbage_record_makes_the_file_be_verified_again(server, tmp_path, settings, record):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", SHA256)]})
    settings.cache_dir.mkdir(parents=True)
    (settings.cache_dir / "tiny.t7").write_bytes(CONTENT)
    record_path(settings.cache_dir / "tiny.t7").write_text(record)
    assert read_record(settings.cache_dir / "tiny.t7") is None
    fetched = fetch(manifest["tiny"], settings)
    assert fetched.record.sha256 == SHA256 and server.requests == []  # re-hashed, not downloaded


# Trust on first use (no published sha256): a leftover .part must not be resumed unless its version is known.


def test_a_leftover_part_of_another_file_is_not_resumed_without_a_hash(server, tmp_path, sleeps):
    # Issue 9, item 7: it was resumed and the mixture accepted.
    url = server.add_file("/model.t7", CONTENT)
    (tmp_path / "model.t7.part").write_bytes(os.urandom(150_000))
    result = download_url(url, tmp_path / "model.t7", retry=policy(sleeps), progress=False)
    assert result.sha256 == SHA256 and (tmp_path / "model.t7").read_bytes() == CONTENT
    assert ranges(server) == [(None, None)]
    assert names(tmp_path) == ["model.t7"]


def test_a_part_is_resumed_when_the_server_still_has_its_version(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT, etag='"v1"')
    server.add_faults("/model.t7", Fault.drop(70_000))
    with pytest.raises(DownloadError, match="after 1 failed attempts"):  # giving up, it keeps the bytes
        download_url(url, tmp_path / "model.t7", retry=RetryPolicy(attempts=1), progress=False)
    assert names(tmp_path) == ["model.t7.part", "model.t7.part.json"]
    assert json.loads((tmp_path / "model.t7.part.json").read_text()) == {"validator": '"v1"', "total": len(CONTENT)}
    result = download_url(url, tmp_path / "model.t7", retry=policy(sleeps), progress=False)
    assert result.sha256 == SHA256
    assert ranges(server) == [(None, None), ("bytes=70000-", '"v1"')]
    assert names(tmp_path) == ["model.t7"]


def test_a_part_of_an_older_version_is_replaced_by_the_new_file(server, tmp_path, sleeps):
    (tmp_path / "model.t7.part").write_bytes(os.urandom(70_000))
    (tmp_path / "model.t7.part.json").write_text(json.dumps({"validator": '"v1"', "total": len(CONTENT)}))
    url = server.add_file("/model.t7", CONTENT, etag='"v2"')  # honours If-Range: a new version comes whole
    assert download_url(url, tmp_path / "model.t7", retry=policy(sleeps), progress=False).sha256 == SHA256
    assert ranges(server) == [("bytes=70000-", '"v1"')]


def test_a_server_ignoring_if_range_is_caught_by_the_validator(server, tmp_path, sleeps):
    (tmp_path / "model.t7.part").write_bytes(os.urandom(70_000))
    (tmp_path / "model.t7.part.json").write_text(json.dumps({"validator": '"v1"', "total": len(CONTENT)}))
    server.routes["/model.t7"] = lambda request: _ignoring_if_range(request, CONTENT, '"v2"')
    assert download_url(server.url + "/model.t7", tmp_path / "model.t7", retry=policy(sleeps), progress=False)
    assert (tmp_path / "model.t7").read_bytes() == CONTENT
    assert ranges(server) == [("bytes=70000-", '"v1"'), (None, None)]


def _ignoring_if_range(request, content, etag):
    headers = {key: value for key, value in request.headers.items() if key != "if-range"}
    return serve_bytes(dataclasses.replace(request, headers=headers), content, etag=etag)


@pytest.mark.parametrize("sidecar", ["{", "[1]", json.dumps({"validator": "\r\nX: y", "total": -1}), "x" * 10_000])
def test_a_garbage_validator_sidecar_means_starting_afresh(server, tmp_path, sleeps, sidecar):
    url = server.add_file("/model.t7", CONTENT, etag='"v1"')
    (tmp_path / "model.t7.part").write_bytes(CONTENT[:70_000])
    (tmp_path / "model.t7.part.json").write_text(sidecar)
    assert download_url(url, tmp_path / "model.t7", retry=policy(sleeps), progress=False).sha256 == SHA256
    assert ranges(server) == [(None, None)]


def test_without_a_validator_a_dropped_download_starts_again(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    server.add_faults("/model.t7", Fault.drop(70_000))
    assert download_url(url, tmp_path / "model.t7", retry=policy(sleeps), progress=False).sha256 == SHA256
    assert ranges(server) == [(None, None), (None, None)]


def test_a_truncated_first_use_download_is_never_pinned(server, tmp_path, settings):
    cut = Reply(raw=b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + CONTENT[:50_000])
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_reply("/tiny.t7", cut), "tiny.t7", None)]})
    with pytest.raises(DownloadError, match="did not declare the file's length"):
        fetch(manifest["tiny"], settings)
    assert names(settings.cache_dir) == []
