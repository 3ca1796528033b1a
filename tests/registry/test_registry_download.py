"""zoo.registry.download against a real HTTP server on 127.0.0.1."""

import hashlib
import os

import pytest
from registry_server import Fault

from zoo.registry.download import RetryPolicy, download_url, looks_like_html
from zoo.registry.errors import (
    HTMLPageError,
    HTTPStatusError,
    RetriesExhaustedError,
    VerificationError,
)
from zoo.registry.transport import parse_retry_after

CONTENT = os.urandom(200_000)
SHA256 = hashlib.sha256(CONTENT).hexdigest()


def policy(sleeps, attempts=4, max_delay=60.0):
    return RetryPolicy(attempts=attempts, backoff=0.5, max_delay=max_delay, sleep=sleeps.append)


def leftovers(directory):
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def test_download_verifies_and_renames_into_place(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    result = download_url(
        url, tmp_path / "model.t7", sha256=SHA256, size=len(CONTENT), retry=policy(sleeps), progress=False
    )
    assert (tmp_path / "model.t7").read_bytes() == CONTENT
    assert result.sha256 == SHA256 and result.size == len(CONTENT)
    assert leftovers(tmp_path) == ["model.t7"]
    assert sleeps == []


def test_a_wrong_byte_is_refused_and_nothing_is_left(server, tmp_path, sleeps):
    corrupt = bytearray(CONTENT)
    corrupt[123_456] ^= 0x01
    url = server.add_file("/model.t7", bytes(corrupt))
    with pytest.raises(VerificationError, match="expected sha256"):
        download_url(url, tmp_path / "model.t7", sha256=SHA256, retry=policy(sleeps), progress=False)
    assert leftovers(tmp_path) == []


def test_a_published_prefix_is_checked_too(server, tmp_path, sleeps):
    url = server.add_file("/model.pth", CONTENT)
    download_url(url, tmp_path / "ok.pth", sha256=SHA256[:8], retry=policy(sleeps), progress=False)
    wrong_prefix = format(int(SHA256[:8], 16) ^ 1, "08x")
    with pytest.raises(VerificationError):
        download_url(url, tmp_path / "bad.pth", sha256=wrong_prefix, retry=policy(sleeps), progress=False)
    assert leftovers(tmp_path) == ["ok.pth"]


def test_a_dropped_connection_is_resumed_with_range(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    server.add_faults("/model.t7", Fault.drop(70_000), Fault.drop(50_000))
    download_url(url, tmp_path / "model.t7", sha256=SHA256, size=len(CONTENT), retry=policy(sleeps), progress=False)
    assert (tmp_path / "model.t7").read_bytes() == CONTENT
    ranges = [request.headers.get("range") for request in server.gets("/model.t7")]
    assert ranges == [None, "bytes=70000-", "bytes=120000-"]  # every byte received before a drop is kept
    assert len(sleeps) == 2


def test_a_server_ignoring_range_restarts_cleanly(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT, ranges=False)
    server.add_faults("/model.t7", Fault.drop(30_000))
    download_url(url, tmp_path / "model.t7", sha256=SHA256, retry=policy(sleeps), progress=False)
    assert (tmp_path / "model.t7").read_bytes() == CONTENT
    assert len(server.gets("/model.t7")) == 2


def test_503_then_success_is_retried_honouring_retry_after(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    server.add_faults("/model.t7", Fault.status(503, retry_after="7"), Fault.status(429))
    download_url(url, tmp_path / "model.t7", sha256=SHA256, retry=policy(sleeps), progress=False)
    assert (tmp_path / "model.t7").read_bytes() == CONTENT
    assert len(server.gets("/model.t7")) == 3
    assert sleeps == [7.0, 1.0]  # Retry-After, then backoff 0.5 * 2**1


def test_retry_after_is_capped(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    server.add_faults("/model.t7", Fault.status(503, retry_after="86400"))
    download_url(url, tmp_path / "model.t7", sha256=SHA256, retry=policy(sleeps, max_delay=30.0), progress=False)
    assert sleeps == [30.0]


def test_persistent_5xx_gives_up_with_a_clear_error(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    server.add_faults("/model.t7", *[Fault.status(502)] * 10)
    with pytest.raises(RetriesExhaustedError, match="after 3 failed attempts.*mirror"):
        download_url(url, tmp_path / "model.t7", sha256=SHA256, retry=policy(sleeps, attempts=3), progress=False)
    assert leftovers(tmp_path) == []
    assert len(server.gets("/model.t7")) == 3


def test_404_is_not_retried(server, tmp_path, sleeps):
    with pytest.raises(HTTPStatusError) as raised:
        download_url(server.url + "/missing.t7", tmp_path / "m.t7", retry=policy(sleeps), progress=False)
    assert raised.value.status_code == 404
    assert len(server.gets("/missing.t7")) == 1
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_an_html_page_is_never_saved(server, tmp_path, sleeps, content_type):
    page = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>log in</body></html>"
    from registry_server import Reply

    server.routes["/model.t7"] = lambda request: Reply(200, page, {"Content-Type": content_type})
    with pytest.raises(HTMLPageError, match="HTML page"):
        download_url(server.url + "/model.t7", tmp_path / "model.t7", retry=policy(sleeps), progress=False)
    assert leftovers(tmp_path) == []


def test_wrong_size_is_refused(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    with pytest.raises(VerificationError, match="more than the expected"):
        download_url(url, tmp_path / "model.t7", size=len(CONTENT) - 1, retry=policy(sleeps), progress=False)
    with pytest.raises(VerificationError, match="expected"):
        download_url(url, tmp_path / "model.t7", size=len(CONTENT) + 1, retry=policy(sleeps), progress=False)
    assert leftovers(tmp_path) == []


def test_a_part_file_from_an_earlier_run_is_resumed(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    (tmp_path / "model.t7.part").write_bytes(CONTENT[:150_000])
    download_url(url, tmp_path / "model.t7", sha256=SHA256, retry=policy(sleeps), progress=False)
    assert (tmp_path / "model.t7").read_bytes() == CONTENT
    assert [request.headers.get("range") for request in server.gets("/model.t7")] == ["bytes=150000-"]


def test_a_corrupt_part_file_is_not_trusted(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    (tmp_path / "model.t7.part").write_bytes(b"\x00" * 150_000)
    with pytest.raises(VerificationError):
        download_url(url, tmp_path / "model.t7", sha256=SHA256, retry=policy(sleeps), progress=False)
    assert leftovers(tmp_path) == []
    download_url(url, tmp_path / "model.t7", sha256=SHA256, retry=policy(sleeps), progress=False)
    assert (tmp_path / "model.t7").read_bytes() == CONTENT


def test_html_sniffing_and_retry_after_parsing():
    assert looks_like_html(b"\n  <!doctype HTML><html>")
    assert looks_like_html(b"<html lang=en>")
    assert not looks_like_html(b"\x04\x00\x00\x00\x01\x00\x00\x00")  # a Torch7 object tag
    assert not looks_like_html(b"PK\x03\x04")  # a zip (.pth)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


class _Terminal(__import__("io").StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal_and_never_when_quiet(server, tmp_path, sleeps):
    url = server.add_file("/model.t7", CONTENT)
    from zoo.registry.download import ProgressBar

    terminal, pipe, quiet = _Terminal(), __import__("io").StringIO(), _Terminal()
    for stream, enabled in ((terminal, True), (pipe, True), (quiet, False)):
        bar = ProgressBar("model.t7", len(CONTENT), enabled=enabled, stream=stream)
        bar.update(len(CONTENT) // 2)
        bar.update(len(CONTENT))
        bar.close()
    assert (
        "model.t7" in terminal.getvalue()
        and " 50%" in terminal.getvalue()
        and "100%" in terminal.getvalue()
        and terminal.getvalue().endswith("\n")
    )
    assert pipe.getvalue() == "" and quiet.getvalue() == ""
    download_url(
        url, tmp_path / "model.t7", sha256=SHA256, retry=policy(sleeps), progress=True
    )  # stderr is no TTY here
