"""Fuzzing the registry's inputs from strangers: manifests and HTTP answers (issue 9).

Every case must end in a registry error or a correct result: a manifest
whose every string is safe to use as a path, URL or parameter; a downloaded
file that is not a web page, matches what was published (or, with nothing
published, has a length the server declared), and leaves nothing else
behind. The cases are seeded, so a failure names the seed that reproduces
it. ``DENSENET_ZOO_FUZZ_CASES=N`` runs N cases of each kind instead of the
few hundred that keep the suite fast.
"""

import contextlib
import copy
import gzip
import hashlib
import json
import os
import random
from pathlib import Path

import pytest
from registry_server import Reply

from zoo.registry.download import RetryPolicy, download_url, looks_like_html
from zoo.registry.errors import ManifestError, RegistryError
from zoo.registry.manifest import filename_problem, load_manifest, parse_manifest
from zoo.registry.transport import MAX_FILE_SIZE, url_problem

CASES = int(os.environ.get("DENSENET_ZOO_FUZZ_CASES", "0"))
BUNDLED = json.loads((Path(__file__).resolve().parents[2] / "weights_manifest.json").read_text())
VALUES = [
    None, True, False, 0, -1, 1, 7, 2**31, 2**63, 10**30, 1.5, -0.0, "", "x", "a\n", "../x", ".x", "a/b", "x" * 300,
    "file:///etc/passwd", "http://", "https://example.org/x.t7", "ftp://x/y", "densenet121-abcdef12.safetensors",
    "m.t7.part", "m.t7.record.json", "\x00", "é", "0" * 64, "ABCDEF12", "a639ec97", [], [1, "a"], [6, 12], {},
    {"a": 1}, {"growth_rate": 4}, "densenet169", "url", "google_drive", "t7", "safetensors",
]  # fmt: skip


def _slots(node, found):
    """Every (container, key) in a JSON tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        found.append((node, key))
        _slots(child, found)
    return found


def _mutated(raw, rng):
    raw = copy.deepcopy(raw)
    for _ in range(rng.randint(1, 3)):
        slots = _slots(raw, [])
        if not slots:
            break
        container, key = rng.choice(slots)
        action = rng.random()
        if action < 0.7:
            container[key] = copy.deepcopy(rng.choice(VALUES))
        elif isinstance(container, dict) and action < 0.85:
            del container[key]
        elif isinstance(container, dict):
            container[str(rng.choice(VALUES))] = copy.deepcopy(container[key])
        else:
            container.append(copy.deepcopy(container[key]))
    return raw


def _check_safe(manifest):
    for name, entry in manifest.models.items():
        assert entry.name == name and name.isascii() and len(name) <= 64 and ".." not in name
        assert name.replace("_", "").replace(".", "").isalnum() and name[0].isalnum() and name[-1] != "."
        for source in entry.sources:
            assert filename_problem(source.filename) is None
            assert source.url is None or url_problem(source.url) is None
            assert source.size is None or (type(source.size) is int and 0 < source.size <= MAX_FILE_SIZE)
            assert source.sha256 is None or all(c in "0123456789abcdef" for c in source.sha256)
            assert source.digest is None or all(c in "0123456789abcdef" for c in source.digest.value)


def test_mutated_manifests_are_refused_or_safe():
    rng = random.Random(9)
    tiny = {
        "schema_version": BUNDLED["schema_version"],
        "models": {"tiny": copy.deepcopy(BUNDLED["models"]["densenet121"])},
    }
    accepted = 0
    for _ in range(CASES or 400):
        raw = _mutated(rng.choice([BUNDLED, tiny]), rng)
        try:
            manifest = parse_manifest(raw)
        except ManifestError:
            continue
        _check_safe(manifest)
        accepted += 1
    assert 0 < accepted < (CASES or 400)  # the fuzzer reaches both outcomes


def test_mangled_manifest_text_is_refused_or_safe(tmp_path):
    rng = random.Random(10)
    text = json.dumps(BUNDLED).encode()
    path = tmp_path / "m.json"
    for _ in range(CASES or 200):
        mangled = bytearray(text)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(mangled))
            choice = rng.random()
            if choice < 0.4:
                mangled[at] = rng.randrange(256)
            elif choice < 0.7:
                mangled[at:at] = rng.choice([b"\n", b"NaN", b"1e999", b"[[[[", b'"', b"\\u0000", b"\xff"])
            else:
                del mangled[at : at + rng.randint(1, 40)]
        path.write_bytes(bytes(mangled))
        with contextlib.suppress(ManifestError):
            _check_safe(load_manifest(path))


# HTTP answers


CONTENT = os.urandom(30_000)
SHA256 = hashlib.sha256(CONTENT).hexdigest()
PAGE = b"<!DOCTYPE html><html><head><title>Quota</title></head><body>Too many users</body></html>"
LOCATIONS = ["/f", "/g", "/f?x=1", "file:///etc/passwd", "ftp://127.0.0.1/f", "http://[::1/x", "", "g", "/\x01"]
RETRY_AFTERS = ["0", "-1", "nan", "1e999", "Wed, 21 Oct 2015 07:28:00 GMT", "Mon, 01 Jan 2020 00:00:00 +9999999999"]


def _answer(rng, declared):
    """One raw HTTP answer made of random but plausible parts; records the lengths it declares."""
    status = rng.choice([200] * 6 + [206] * 4 + [302, 307, 404, 416, 503, 204, 304, 999])
    start = rng.choice([0, 0, rng.randrange(len(CONTENT))])
    body = rng.choice(
        [
            CONTENT[start:],
            CONTENT[start:],
            CONTENT[start:],
            CONTENT[start : rng.randrange(start, len(CONTENT) + 1)],
            PAGE,
            b" " * rng.randrange(70_000) + PAGE,
            b"",
            os.urandom(rng.randrange(1, 5000)),
            gzip.compress(CONTENT),
        ]
    )
    headers = []
    if status == 206 or rng.random() < 0.1:
        last = start + len(body) - 1
        total = rng.choice([len(CONTENT), len(CONTENT), "*", len(CONTENT) + 1, last])
        ranges = [f"bytes {start}-{last}/{total}"] * 4 + [f"bytes */{len(CONTENT)}", "junk"]
        headers.append(f"Content-Range: {rng.choice(ranges)}")
        if isinstance(total, int):
            declared.add(total)
    framing = rng.choice(["exact"] * 6 + ["none", "short", "long", "negative", "garbage", "double", "chunked"])
    length = {"exact": len(body), "short": max(0, len(body) - 7), "long": len(body) + 7}.get(framing)
    if length is not None:
        headers.append(f"Content-Length: {length}")
        if status == 200:
            declared.add(length)
    elif framing in ("negative", "garbage", "double"):
        headers.append({"negative": "Content-Length: -3", "garbage": "Content-Length: 1x"}.get(framing, "X: y"))
        if framing == "double":
            headers += [f"Content-Length: {len(body)}", f"Content-Length: {len(body) + 1}"]
    if status in (302, 307):
        headers.append(f"Location: {rng.choice(LOCATIONS)}")
    for header, values in (
        ("Content-Type", ["application/octet-stream", "text/html", "text/html; charset=utf-8"]),
        ("Content-Encoding", ["gzip", "identity"]),
        ("ETag", ['"v1"', '"v2"', 'W/"v1"', "x" * 300]),
        ("Retry-After", RETRY_AFTERS),
    ):
        if rng.random() < 0.15:
            headers.append(f"{header}: {rng.choice(values)}")
    if framing == "chunked":
        headers.append("Transfer-Encoding: chunked")
        cut = rng.choice([len(body), len(body) // 2])
        body = (f"{len(body):x}\r\n".encode() + body[:cut] + b"\r\n0\r\n\r\n") if body else b"0\r\n\r\n"
        declared.add(cut)
    head = f"HTTP/1.1 {status} Whatever\r\n" + "".join(line + "\r\n" for line in headers) + "Connection: close\r\n\r\n"
    return head.encode("latin-1") + body


def test_random_http_answers_end_in_an_error_or_a_correct_file(server, tmp_path):
    rng = random.Random(11)
    downloaded = 0
    for case in range(CASES or 250):
        declared: set[int] = set()
        answers = [_answer(rng, declared) for _ in range(rng.randint(1, 3))]
        script = iter(answers)
        last = [answers[-1]]

        def route(request, script=script, last=last):
            last[0] = next(script, last[0])
            return Reply(raw=last[0])

        server.routes["/f"] = server.routes["/g"] = route
        folder = tmp_path / str(case)
        folder.mkdir()
        if rng.random() < 0.3:
            (folder / "model.t7.part").write_bytes(rng.choice([CONTENT[:9000], os.urandom(9000)]))
            if rng.random() < 0.5:
                (folder / "model.t7.part.json").write_text(json.dumps({"validator": '"v1"', "total": len(CONTENT)}))
        sha256 = rng.choice([SHA256, SHA256[:8], None])
        size = rng.choice([len(CONTENT), None])
        retry = RetryPolicy(attempts=2, sleep=lambda seconds: None)
        try:
            result = download_url(
                server.url + "/f", folder / "model.t7", sha256=sha256, size=size, retry=retry, timeout=(2, 2)
            )
        except RegistryError:
            left = sorted(path.name for path in folder.iterdir())
            assert left in ([], ["model.t7.part"], ["model.t7.part", "model.t7.part.json"]), (case, left)
            assert "model.t7.part" not in left or (folder / "model.t7.part").stat().st_size > 0, case
            continue
        saved = (folder / "model.t7").read_bytes()
        assert sorted(path.name for path in folder.iterdir()) == ["model.t7"], case
        assert hashlib.sha256(saved).hexdigest() == result.sha256 and len(saved) == result.size > 0, case
        assert not looks_like_html(saved[:70_000]), case
        if sha256 is not None or size is not None:
            assert saved == CONTENT, case
        else:
            assert len(saved) in declared, (case, len(saved), declared)
        downloaded += 1
    assert downloaded > 0  # the fuzzer reaches both outcomes


@pytest.mark.parametrize("seed", range(3))
def test_the_http_fuzzer_also_produces_good_downloads(server, tmp_path, seed):
    """The fuzzer's answers are not all broken: an honest one is downloaded and verified."""
    honest = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(CONTENT) + CONTENT
    server.add_reply("/f", Reply(raw=honest))
    result = download_url(server.url + "/f", tmp_path / "m.t7", sha256=SHA256, progress=False)
    assert result.sha256 == SHA256
