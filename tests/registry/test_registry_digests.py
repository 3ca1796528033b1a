"""A publisher's md5 or sha1 (``"digest"`` of a manifest source): checked on every way into the cache, the sha256
pinned on top; a mismatch is a typed error and leaves nothing in the cache."""

from __future__ import annotations

import hashlib
import json
import os
import warnings

import pytest
from registry_manifests import manifest_of, url_source, write_manifest

from zoo.registry.cache import full_verify, read_record, record_path
from zoo.registry.errors import ManifestError, UnpinnedSourceError, VerificationError
from zoo.registry.fetch import UnverifiedSourceWarning, fetch
from zoo.registry.maintenance import verify_cache
from zoo.registry.manifest import load_manifest, pin_source

CONTENT = os.urandom(40_000)
MD5 = hashlib.md5(CONTENT).hexdigest()
SHA1 = hashlib.sha1(CONTENT).hexdigest()
SHA256 = hashlib.sha256(CONTENT).hexdigest()


def _source(url: str, algorithm: str, value: str, sha256: str | None = None) -> dict:
    digest = {"algorithm": algorithm, "value": value, "published_in": "the publisher's download script"}
    return {**url_source(url, "tiny.t7", sha256), "digest": digest}


def _wrong(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


def _cache_listing(settings) -> list[str]:
    return sorted(path.name for path in settings.cache_dir.iterdir()) if settings.cache_dir.exists() else []


@pytest.mark.parametrize(("algorithm", "value"), [("md5", MD5), ("sha1", SHA1)])
def test_a_matching_digest_is_no_first_use_and_pins_the_sha256(server, tmp_path, settings, algorithm, value):
    url = server.add_file("/tiny.t7", CONTENT)
    manifest = manifest_of(tmp_path, {"tiny": [_source(url, algorithm, value)]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedSourceWarning)
        fetched = fetch(manifest["tiny"], settings)
    assert fetched.record.trust == "published-digest" and fetched.record.digests == {algorithm: value}
    assert fetched.record.sha256 == SHA256 and read_record(fetched.path) == fetched.record
    assert fetch(manifest["tiny"], settings).record == fetched.record and len(server.gets("/tiny.t7")) == 1


@pytest.mark.parametrize("algorithm", ["md5", "sha1"])
def test_a_download_with_another_digest_caches_nothing(server, tmp_path, settings, algorithm):
    value = _wrong(MD5 if algorithm == "md5" else SHA1)
    manifest = manifest_of(tmp_path, {"tiny": [_source(server.add_file("/tiny.t7", CONTENT), algorithm, value)]})
    with pytest.raises(VerificationError, match=f"expected {algorithm} {value}.*found {algorithm} "):
        fetch(manifest["tiny"], settings)
    assert _cache_listing(settings) == []  # no file, no record, no partial download


def test_a_digest_mismatch_with_a_matching_sha256_is_still_refused(server, tmp_path, settings):
    url = server.add_file("/tiny.t7", CONTENT)
    manifest = manifest_of(tmp_path, {"tiny": [_source(url, "md5", _wrong(MD5), sha256=SHA256)]})
    with pytest.raises(VerificationError, match="expected md5"):
        fetch(manifest["tiny"], settings)
    assert _cache_listing(settings) == []


def test_a_mirror_copy_with_another_digest_caches_nothing(tmp_path, settings):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.t7").write_bytes(CONTENT)
    manifest = manifest_of(tmp_path, {"tiny": [_source("http://127.0.0.1:9/tiny.t7", "sha1", _wrong(SHA1))]})
    with pytest.raises(VerificationError, match="expected sha1"):
        fetch(manifest["tiny"], settings.replace(mirror=str(mirror), offline=True))
    assert _cache_listing(settings) == []
    good = manifest_of(tmp_path, {"tiny": [_source("http://127.0.0.1:9/tiny.t7", "sha1", SHA1)]})
    fetched = fetch(good["tiny"], settings.replace(mirror=str(mirror), offline=True))
    assert fetched.record.trust == "published-digest" and str(mirror) in fetched.record.origin


def test_a_file_placed_by_hand_is_checked_against_the_digest(tmp_path, settings):
    settings.cache_dir.mkdir(parents=True)
    (settings.cache_dir / "tiny.t7").write_bytes(CONTENT)
    wrong = manifest_of(tmp_path, {"tiny": [_source("http://127.0.0.1:9/tiny.t7", "md5", _wrong(MD5))]})
    with pytest.raises(VerificationError, match=f"expected sha256 None, md5 {_wrong(MD5)}.*found sha256 {SHA256}"):
        fetch(wrong["tiny"], settings.replace(offline=True))
    assert not record_path(settings.cache_dir / "tiny.t7").exists()
    right = manifest_of(tmp_path, {"tiny": [_source("http://127.0.0.1:9/tiny.t7", "md5", MD5)]})
    assert fetch(right["tiny"], settings.replace(offline=True)).record.digests == {"md5": MD5}


def test_a_file_cached_before_the_manifest_had_a_digest_is_checked_once(server, tmp_path, settings):
    url = server.add_file("/tiny.t7", CONTENT)
    with pytest.warns(UnverifiedSourceWarning):
        first = fetch(manifest_of(tmp_path, {"tiny": [url_source(url, "tiny.t7", None)]})["tiny"], settings)
    assert first.record.trust == "first-use" and first.record.digests == {}
    wrong = manifest_of(tmp_path, {"tiny": [_source(url, "sha1", _wrong(SHA1))]})
    with pytest.raises(VerificationError, match="expected sha256 .*, sha1"):
        fetch(wrong["tiny"], settings.replace(offline=True))
    checked = fetch(manifest_of(tmp_path, {"tiny": [_source(url, "sha1", SHA1)]})["tiny"], settings)
    assert checked.record.digests == {"sha1": SHA1} and checked.record.sha256 == SHA256
    assert len(server.gets("/tiny.t7")) == 1  # checked in place, not downloaded again
    with pytest.raises(VerificationError, match="was verified with sha1"):
        fetch(wrong["tiny"], settings)


def test_verify_recomputes_the_recorded_digest(server, tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [_source(server.add_file("/tiny.t7", CONTENT), "md5", MD5)]})
    fetched = fetch(manifest["tiny"], settings)
    assert [result.ok for result in verify_cache(manifest=manifest, settings=settings)] == [True]
    record = json.loads(record_path(fetched.path).read_text())
    record["digests"] = {"md5": _wrong(MD5)}
    record_path(fetched.path).write_text(json.dumps(record))
    with pytest.raises(VerificationError, match=f"expected sha256 {SHA256}, md5 {_wrong(MD5)}"):
        full_verify(fetched.path)
    assert [result.ok for result in verify_cache(manifest=manifest, settings=settings)] == [False]


def test_strict_mode_asks_for_a_sha256_even_with_a_digest(tmp_path, settings):
    manifest = manifest_of(tmp_path, {"tiny": [_source("http://127.0.0.1:9/tiny.t7", "md5", MD5)]})
    with pytest.raises(UnpinnedSourceError, match="manifest pin tiny"):
        fetch(manifest["tiny"], settings.replace(strict=True))


def test_pinning_keeps_the_digest_and_pins_every_address_of_the_file(tmp_path):
    sources = [_source("http://127.0.0.1:9/a/tiny.t7", "md5", MD5), _source("http://127.0.0.1:9/b/tiny.t7", "md5", MD5)]
    path = write_manifest(tmp_path / "manifest.json", {"tiny": sources})
    pin_source(path, "tiny", "tiny.t7", SHA256, len(CONTENT))
    pinned = load_manifest(path)["tiny"].sources
    assert [(source.sha256, source.size, source.digest.value) for source in pinned] == [(SHA256, len(CONTENT), MD5)] * 2


@pytest.mark.parametrize(
    ("digest", "message"),
    [
        ({"algorithm": "md5", "value": MD5.upper()}, "md5 value of 32 lowercase hex digits"),
        ({"algorithm": "md5", "value": SHA1}, "md5 value of 32 lowercase hex digits"),
        ({"algorithm": "sha256", "value": SHA256}, r"one of \['md5', 'sha1'\]"),
        ({"algorithm": ["md5"], "value": MD5}, r"one of \['md5', 'sha1'\]"),
        ({"algorithm": "sha1", "value": SHA1, "note": "x"}, r"unknown keys \['note'\]"),
        ({"algorithm": "sha1", "value": SHA1, "published_in": "a\x1b[2Jb"}, "no control characters"),
        ("md5:" + MD5, "expected null or an object"),
    ],
)
def test_malformed_digests_are_refused(tmp_path, digest, message):
    source = {**url_source("http://127.0.0.1:9/tiny.t7", "tiny.t7", None), "digest": digest}
    with pytest.raises(ManifestError, match=r"models\.tiny\.sources\[0\]\.digest"):
        manifest_of(tmp_path, {"tiny": [source]})
    with pytest.raises(ManifestError, match=message):
        manifest_of(tmp_path, {"tiny": [source]})
