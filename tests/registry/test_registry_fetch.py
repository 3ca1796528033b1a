"""zoo.registry.fetch: cache, trust on first use, strict and offline modes, mirrors, locks."""

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import warnings

import pytest
from registry_manifests import drive_source, manifest_of, url_source

from zoo.registry.cache import read_record
from zoo.registry.errors import (
    LockTimeoutError,
    OfflineError,
    UnpinnedSourceError,
    VerificationError,
)
from zoo.registry.fetch import UnverifiedSourceWarning, fetch
from zoo.registry.lock import FileLock

CONTENT = os.urandom(50_000)
SHA256 = hashlib.sha256(CONTENT).hexdigest()


def test_fetch_caches_a_verified_file_with_its_record(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", SHA256)]})
    fetched = fetch(manifest["tiny"], settings)
    assert fetched.path == settings.cache_dir / "tiny.t7"
    assert fetched.path.read_bytes() == CONTENT
    assert fetched.record.sha256 == SHA256 and fetched.record.trust == "manifest"
    again = fetch(manifest["tiny"], settings)
    assert again.path == fetched.path
    assert len(server.gets("/tiny.t7")) == 1  # the second call used the cache


def test_a_tampered_cached_file_is_refused(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", SHA256)]})
    fetched = fetch(manifest["tiny"], settings)
    with open(fetched.path, "ab") as stream:
        stream.write(b"x")
    with pytest.raises(VerificationError, match="changed after download"):
        fetch(manifest["tiny"], settings)


def test_a_wrong_byte_from_the_source_caches_nothing(server, tmp_path, settings):
    corrupt = bytearray(CONTENT)
    corrupt[10] ^= 0xFF
    url = server.add_file("/tiny.t7", bytes(corrupt))
    manifest = manifest_of(tmp_path, {"tiny": [url_source(url, "tiny.t7", SHA256)]})
    with pytest.raises(VerificationError):
        fetch(manifest["tiny"], settings)
    assert [path.name for path in settings.cache_dir.iterdir()] == []


def test_trust_on_first_use_warns_pins_and_enforces_the_pin(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", None)]})
    with pytest.warns(UnverifiedSourceWarning, match="no published sha256.*trusting it on first use"):
        fetched = fetch(manifest["tiny"], settings)
    record = read_record(fetched.path)
    assert record.trust == "first-use" and record.sha256 == SHA256
    # The file goes away, the server now sends something else: the pinned hash refuses it.
    fetched.path.unlink()
    server.add_file("/tiny.t7", os.urandom(50_000))
    with pytest.raises(VerificationError, match=SHA256):
        fetch(manifest["tiny"], settings)
    assert not fetched.path.exists()


def test_strict_mode_refuses_unpinned_sources_before_any_request(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", None)]})
    with pytest.raises(UnpinnedSourceError, match="DENSENET_ZOO_STRICT=1.*manifest pin tiny"):
        fetch(manifest["tiny"], settings.replace(strict=True))
    assert server.requests == []


def test_strict_mode_falls_back_to_a_source_with_a_published_hash(server, tmp_path, settings):
    unpinned = url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", None)
    prefixed = url_source(
        server.add_file("/tiny-abc.pth", CONTENT), "tiny-abc.pth", SHA256[:8], file_format="torchvision-pth"
    )
    manifest = manifest_of(tmp_path, {"tiny": [unpinned, prefixed]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedSourceWarning)
        fetched = fetch(manifest["tiny"], settings.replace(strict=True))
    assert fetched.source.filename == "tiny-abc.pth" and fetched.record.trust == "prefix"
    assert server.gets("/tiny.t7") == []


def test_later_sources_are_tried_when_the_first_fails(server, tmp_path, settings):
    broken = url_source(server.url + "/gone.t7", "gone.t7", SHA256)
    working = url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", SHA256)
    manifest = manifest_of(tmp_path, {"tiny": [broken, working]})
    assert fetch(manifest["tiny"], settings).source.filename == "tiny.t7"


def test_offline_mode_never_touches_the_network(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", SHA256)]})
    with pytest.raises(OfflineError) as raised:
        fetch(manifest["tiny"], settings.replace(offline=True))
    assert str(settings.cache_dir / "tiny.t7") in str(raised.value)
    assert server.requests == []
    fetch(manifest["tiny"], settings)  # online once
    assert fetch(manifest["tiny"], settings.replace(offline=True)).path.read_bytes() == CONTENT
    assert len(server.requests) == 1


def test_a_file_placed_in_the_cache_by_hand_is_verified(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.url + "/tiny.t7", "tiny.t7", SHA256)]})
    settings.cache_dir.mkdir(parents=True)
    (settings.cache_dir / "tiny.t7").write_bytes(CONTENT)
    fetched = fetch(manifest["tiny"], settings.replace(offline=True))
    assert fetched.record.sha256 == SHA256
    (settings.cache_dir / "other.t7").write_bytes(CONTENT[:-1])
    other = manifest_of(tmp_path, {"other": [url_source(server.url + "/other.t7", "other.t7", SHA256)]})
    with pytest.raises(VerificationError, match="placed in the cache by hand"):
        fetch(other["other"], settings.replace(offline=True))


def test_mirror_directory_is_used_first_and_verified(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", SHA256)]})
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.t7").write_bytes(CONTENT)
    fetched = fetch(manifest["tiny"], settings.replace(mirror=str(mirror), offline=True))
    assert fetched.path.read_bytes() == CONTENT and str(mirror) in fetched.record.origin
    assert server.requests == []


def test_a_corrupt_mirror_file_is_refused(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.url + "/tiny.t7", "tiny.t7", SHA256)]})
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.t7").write_bytes(CONTENT[:-1] + b"!")
    with pytest.raises(VerificationError):
        fetch(manifest["tiny"], settings.replace(mirror=str(mirror), offline=True))
    assert list(settings.cache_dir.iterdir()) == []


def test_mirror_url_prefix_is_used_first(server, tmp_path, settings):
    server.add_file("/mirror/tiny.t7", CONTENT)
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.url + "/origin/tiny.t7", "tiny.t7", SHA256)]})
    fetched = fetch(manifest["tiny"], settings.replace(mirror=server.url + "/mirror/"))
    assert fetched.path.read_bytes() == CONTENT
    assert [request.path for request in server.requests] == ["/mirror/tiny.t7"]


def test_mirror_url_missing_the_file_falls_back_to_the_source(server, tmp_path, settings):
    url = server.add_file("/origin/tiny.t7", CONTENT)
    manifest = manifest_of(tmp_path, {"tiny": [url_source(url, "tiny.t7", SHA256)]})
    fetch(manifest["tiny"], settings.replace(mirror=server.url + "/mirror"))
    assert [request.path for request in server.requests] == ["/mirror/tiny.t7", "/origin/tiny.t7"]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_stale_lock_from_a_killed_process_is_recovered(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.add_file("/tiny.t7", CONTENT), "tiny.t7", SHA256)]})
    settings.cache_dir.mkdir(parents=True)
    lock = settings.cache_dir / "tiny.t7.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "token": "dead", "created": 0}))
    started = time.monotonic()
    fetched = fetch(manifest["tiny"], settings.replace(lock_timeout=10.0))
    assert fetched.path.read_bytes() == CONTENT
    assert time.monotonic() - started < 5.0
    assert not lock.exists()


def test_a_lock_from_another_host_is_stale_only_when_its_heartbeat_stops(tmp_path):
    target = tmp_path / "file.t7"
    lock = tmp_path / "file.t7.lock"
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "t"}))
    with pytest.raises(LockTimeoutError, match="PID 1 on elsewhere"):
        FileLock(target, timeout=0.3, stale_after=60.0, poll_interval=0.05).acquire()
    old = time.time() - 120
    os.utime(lock, (old, old))
    with FileLock(target, timeout=2.0, stale_after=60.0, poll_interval=0.05):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_the_lock_holder_keeps_its_lock_fresh(tmp_path):
    target = tmp_path / "file.t7"
    with FileLock(target, stale_after=0.4, poll_interval=0.05) as held:
        old = time.time() - 100
        os.utime(held.path, (old, old))
        time.sleep(0.3)
        assert time.time() - held.path.stat().st_mtime < 1.0  # the heartbeat touched it
        with pytest.raises(LockTimeoutError):
            FileLock(target, timeout=0.3, stale_after=0.4, poll_interval=0.05).acquire()


def test_drive_source_is_reported_with_its_ids(tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [drive_source("abc", "tiny.t7", None, resourcekey="key")]})
    with pytest.raises(OfflineError, match="Google Drive file abc, resourcekey key"):
        fetch(manifest["tiny"], settings.replace(offline=True))


def test_an_html_page_in_a_mirror_directory_is_refused(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [url_source(server.url + "/tiny.t7", "tiny.t7", None)]})
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.t7").write_text("<!DOCTYPE html><html><body>Quota exceeded</body></html>")
    from zoo.registry.errors import HTMLPageError

    with pytest.raises(HTMLPageError, match="HTML page"):
        fetch(manifest["tiny"], settings.replace(mirror=str(mirror), offline=True))
    assert list(settings.cache_dir.iterdir()) == []


def test_a_waiter_is_told_once_who_holds_the_lock(tmp_path):
    target = tmp_path / "file.t7"
    notices = []
    with FileLock(target, stale_after=60.0), pytest.raises(LockTimeoutError):
        FileLock(target, timeout=0.3, poll_interval=0.05, on_wait=notices.append).acquire()
    assert len(notices) == 1 and f"PID {os.getpid()}" in notices[0]
