"""densenet_zoo_util.hashing: the one sha256-of-a-file helper every layer uses."""

import hashlib

from densenet_zoo_util.hashing import file_sha256, update_from_file


def test_file_sha256_matches_hashlib_across_chunk_boundaries(tmp_path):
    content = bytes(range(256)) * 41  # 10496 bytes: several 4096-byte chunks and a short tail
    path = tmp_path / "weights.bin"
    path.write_bytes(content)
    assert file_sha256(path, chunk_size=4096) == hashlib.sha256(content).hexdigest()
    assert file_sha256(str(path)) == hashlib.sha256(content).hexdigest()


def test_update_from_file_continues_a_digest_and_counts_bytes(tmp_path):
    path = tmp_path / "model.t7.part"
    path.write_bytes(b"second half")
    digest = hashlib.sha256(b"first half, ")
    assert update_from_file(digest, path, chunk_size=3) == len(b"second half")
    assert digest.hexdigest() == hashlib.sha256(b"first half, second half").hexdigest()


def test_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert update_from_file(hashlib.sha256(), path) == 0
    assert file_sha256(path) == hashlib.sha256(b"").hexdigest()
