"""Hostile HTTP answers (issue 9, items 5 and 7): every one ends in a typed registry error or a verified file.

Each case is a real server on 127.0.0.1 sending exactly the bytes a broken or
malicious server could send; nothing may be left in the download directory.
"""

import gzip
import hashlib
import os
import shutil
import subprocess

import pytest
from registry_server import LocalServer, Reply

from zoo.registry.download import RetryPolicy, download_url
from zoo.registry.errors import (
    BadResponseError,
    BadURLError,
    DownloadError,
    HTMLPageError,
    HTTPStatusError,
    RedirectError,
    VerificationError,
)
from zoo.registry.transport import parse_retry_after

CONTENT = os.urandom(200_000)
SHA256 = hashlib.sha256(CONTENT).hexdigest()


def policy(sleeps):
    return RetryPolicy(attempts=3, backoff=0.5, sleep=sleeps.append)


def leftovers(directory):
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status, b"", {"Location": location})


def fetch_into(tmp_path, url, sleeps, **checks):
    return download_url(url, tmp_path / "model.t7", retry=policy(sleeps), progress=False, **checks)


def test_a_redirect_loop_is_a_redirect_error(server, tmp_path, sleeps):
    server.add_reply("/a", redirect("/b"))
    server.add_reply("/b", redirect(server.url + "/a"))
    with pytest.raises(RedirectError, match=r"redirect loop: .*/a -> .*/b -> .*/a"):
        fetch_into(tmp_path, server.url + "/a", sleeps)
    assert len(server.requests) == 2 and leftovers(tmp_path) == []


def test_endless_redirects_stop_after_ten(server, tmp_path, sleeps):
    counter = iter(range(1000))
    server.routes["/hop"] = lambda request: redirect(f"/hop?n={next(counter)}")
    with pytest.raises(RedirectError, match="more than 10 redirects"):
        fetch_into(tmp_path, server.url + "/hop", sleeps)
    assert len(server.requests) == 11


@pytest.mark.parametrize(
    "location, error, message",
    [
        ("file:///etc/passwd", RedirectError, "'file' URL, not http"),
        ("ftp://127.0.0.1/model.t7", RedirectError, "'ftp' URL, not http"),
        ("gopher://x/", RedirectError, "'gopher' URL"),
        ("http://127.0.0.1:99999/model.t7", RedirectError, "malformed"),
        ("https:///model.t7", RedirectError, "has no host"),
        ("http://127.0.0.1/a\x01b", RedirectError, "control characters"),
        ("http://[::1/model.t7", RedirectError, "malformed"),
    ],
)
def test_a_redirect_to_anything_but_http_is_refused(server, tmp_path, sleeps, location, error, message):
    # Issue 9, item 5: InvalidSchema / ValueError tracebacks before.
    server.add_reply("/model.t7", redirect(location))
    with pytest.raises(error, match=message):
        fetch_into(tmp_path, server.url + "/model.t7", sleeps)
    assert leftovers(tmp_path) == [] and sleeps == []


def test_a_redirect_without_location_and_a_non_utf8_location_are_typed(server, tmp_path, sleeps):
    server.add_reply("/none", Reply(301, b""))
    with pytest.raises(RedirectError, match="without saying where to"):
        fetch_into(tmp_path, server.url + "/none", sleeps)
    raw = b"HTTP/1.1 302 Found\r\nLocation: http://xn--a.\xff\xfe/x\r\nContent-Length: 0\r\n\r\n"
    server.add_reply("/bytes", Reply(raw=raw))
    with pytest.raises(DownloadError):
        fetch_into(tmp_path, server.url + "/bytes", sleeps)
    assert leftovers(tmp_path) == []


def test_a_redirect_body_is_never_read(server, tmp_path, sleeps):
    """Found by the fuzzer: requests read and gzip-decoded a redirect's body (raw urllib3 errors, no bound)."""
    server.add_file("/ok.t7", CONTENT)
    broken = b"HTTP/1.1 302 Found\r\nLocation: /ok.t7\r\nContent-Encoding: gzip\r\nContent-Length: 99\r\n\r\nnot gzip"
    server.add_reply("/model.t7", Reply(raw=broken))
    fetch_into(tmp_path, server.url + "/model.t7", sleeps, sha256=SHA256)
    assert (tmp_path / "model.t7").read_bytes() == CONTENT


def test_a_relative_redirect_is_followed(server, tmp_path, sleeps):
    server.add_file("/files/model.t7", CONTENT)
    server.add_reply("/model.t7", redirect("files/model.t7", status=307))
    fetch_into(tmp_path, server.url + "/model.t7", sleeps, sha256=SHA256)
    assert (tmp_path / "model.t7").read_bytes() == CONTENT


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x.t7", "not a url", "https://"])
def test_a_source_url_that_is_not_http_is_refused_before_any_request(tmp_path, sleeps, url):
    with pytest.raises(BadURLError, match="only http:// and https://"):
        fetch_into(tmp_path, url, sleeps)
    assert leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [*request, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def test_https_is_never_downgraded_to_http_by_a_redirect(server, tmp_path, sleeps, certificate):
    from zoo.registry.download import new_session

    plain_url = server.add_file("/model.t7", CONTENT)
    with LocalServer(tls=certificate) as secure:
        secure.add_file("/ok.t7", CONTENT)
        secure.add_reply("/model.t7", redirect(plain_url))
        session = new_session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override the test's certificate
        session.verify = certificate[0]
        download_url(secure.url + "/ok.t7", tmp_path / "ok.t7", sha256=SHA256, session=session, progress=False)
        with pytest.raises(RedirectError, match="from https to plain http"):
            download_url(secure.url + "/model.t7", tmp_path / "model.t7", session=session, progress=False)
    assert server.requests == []  # the plain-http URL was never asked
    assert leftovers(tmp_path) == ["ok.t7"]


MALFORMED = {  # what the server sends, and the error expected (BadResponseError: retrying will not help)
    "two Content-Lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello world",
        BadResponseError,
    ),
    "negative Content-Length": (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello world", BadResponseError),
    "garbage Content-Length": (b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\nhello world", BadResponseError),
    "huge Content-Length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nhello world",
        BadResponseError,
    ),
    "204 No Content": (b"HTTP/1.1 204 No Content\r\n\r\n", BadResponseError),
    "300 Multiple Choices": (b"HTTP/1.1 300 Multiple Choices\r\nContent-Length: 2\r\n\r\nhi", BadResponseError),
    "304 without a request for it": (b"HTTP/1.1 304 Not Modified\r\n\r\n", BadResponseError),
    "an unknown 2xx": (b"HTTP/1.1 299 Odd\r\nContent-Length: 2\r\n\r\nhi", BadResponseError),
    "a 206 nobody asked for, lying": (
        b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 5-9/10\r\n\r\nhello",
        DownloadError,  # restarted, then given up
    ),
    "an empty body": (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", VerificationError),
    "a broken chunked body": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        DownloadError,
    ),
    "a garbage status line": (b"\x00\x01garbage\r\n\r\n", DownloadError),
    "HTTP/0.9": (b"hello", DownloadError),
    "no answer at all": (b"", DownloadError),
    "200 headers": (b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(200)) + b"\r\n", DownloadError),
    "a 70 KB header line": (
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\nContent-Length: 2\r\n\r\nhi",
        DownloadError,
    ),
    "an escape sequence in the reason": (
        b"HTTP/1.1 403 \x1b[31mred\r\nContent-Length: 2\r\n\r\nhi",
        HTTPStatusError,
    ),
    "a 999 status": (b"HTTP/1.1 999 What\r\nContent-Length: 2\r\n\r\nhi", HTTPStatusError),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_answer_is_a_typed_error_and_leaves_nothing(server, tmp_path, sleeps, name):
    answer, error = MALFORMED[name]
    server.add_reply("/model.t7", Reply(raw=answer))
    with pytest.raises(error) as raised:
        fetch_into(tmp_path, server.url + "/model.t7", sleeps)
    assert "\x1b" not in str(raised.value)  # a server's text never reaches the terminal raw
    assert leftovers(tmp_path) == []
    assert len(server.requests) <= 3  # retried at most as often as the policy allows


def test_a_body_without_length_is_refused_when_nothing_can_vouch_for_it(server, tmp_path, sleeps):
    # Issue 9, item 7: a close-delimited body cut at 50 of 200 KB looked complete and was pinned.
    server.add_reply("/model.t7", Reply(raw=b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + CONTENT[:50_000]))
    with pytest.raises(DownloadError, match="did not declare the file's length"):
        fetch_into(tmp_path, server.url + "/model.t7", sleeps)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("etag", [None, '"v1"'])
def test_a_body_without_length_is_completed_up_to_the_manifest_size(server, tmp_path, sleeps, etag):
    """Resumed when the server names its version (ETag), else fetched again from the start."""
    from registry_server import serve_bytes

    header = f"ETag: {etag}\r\n" if etag else ""
    cut = f"HTTP/1.1 200 OK\r\nConnection: close\r\n{header}\r\n".encode() + CONTENT[:50_000]
    answers = iter([Reply(raw=cut)])
    server.routes["/model.t7"] = lambda request: next(answers, None) or serve_bytes(request, CONTENT, etag=etag)
    fetch_into(tmp_path, server.url + "/model.t7", sleeps, size=len(CONTENT))
    assert (tmp_path / "model.t7").read_bytes() == CONTENT
    ranges = [(request.headers.get("range"), request.headers.get("if-range")) for request in server.requests]
    assert ranges == ([(None, None), ("bytes=50000-", etag)] if etag else [(None, None), (None, None)])


def test_a_body_with_length_but_no_validator_is_accepted_on_first_use(server, tmp_path, sleeps):
    server.add_reply("/model.t7", Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
    assert fetch_into(tmp_path, server.url + "/model.t7", sleeps).size == 5


def test_content_range_lies_restart_the_download(server, tmp_path, sleeps):
    from registry_server import serve_bytes

    (tmp_path / "model.t7.part").write_bytes(CONTENT[:100_000])
    lies = iter(
        [
            Reply(206, CONTENT[90_000:], {"Content-Range": f"bytes 90000-199999/{len(CONTENT)}"}),
            Reply(206, CONTENT[100_000:], {"Content-Range": "bytes 100000-99/5"}),
        ]
    )
    server.routes["/model.t7"] = lambda request: next(lies, None) or serve_bytes(request, CONTENT)
    fetch_into(tmp_path, server.url + "/model.t7", sleeps, sha256=SHA256)
    assert (tmp_path / "model.t7").read_bytes() == CONTENT
    assert [request.headers.get("range") for request in server.requests] == ["bytes=100000-", None, None]


def test_a_server_declaring_a_different_size_is_refused_before_the_body(server, tmp_path, sleeps):
    server.add_reply("/model.t7", Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 50000000000\r\n\r\nxx"))
    with pytest.raises(VerificationError, match="more than the expected 200000"):
        fetch_into(tmp_path, server.url + "/model.t7", sleeps, size=len(CONTENT))
    assert leftovers(tmp_path) == []


def test_content_encoding_is_never_decoded(server, tmp_path, sleeps):
    """A gzip "bomb" (64 MB of zeros in 64 KB) is stored as the bytes sent and checked as such."""
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)
    server.add_reply("/model.t7", Reply(200, bomb, {"Content-Encoding": "gzip"}))
    result = fetch_into(tmp_path, server.url + "/model.t7", sleeps, sha256=hashlib.sha256(bomb).hexdigest())
    assert result.size == len(bomb) and (tmp_path / "model.t7").stat().st_size == len(bomb)


def test_an_error_page_that_is_a_gzip_bomb_is_read_within_a_bound(server, tmp_path, sleeps):
    bomb = gzip.compress(b"<html>" + b" " * (64 << 20), compresslevel=9)
    server.add_reply("/model.t7", Reply(404, bomb, {"Content-Encoding": "gzip", "Content-Type": "text/html"}))
    with pytest.raises(HTTPStatusError) as raised:
        fetch_into(tmp_path, server.url + "/model.t7", sleeps)
    assert raised.value.page.startswith("<html>") and len(raised.value.page) <= 1 << 20


@pytest.mark.parametrize("prefix", [b" " * 4000, b"\xef\xbb\xbf\r\n\t", b"\n" * 70_000])
def test_html_after_leading_whitespace_is_never_saved(server, tmp_path, sleeps, prefix):
    # Issue 9, item 7: a page whose first chunk was only whitespace, served as octet-stream, was saved.
    page = prefix + b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>log in</body></html>"
    server.add_reply("/model.t7", Reply(200, page, {"Content-Type": "application/octet-stream"}))
    with pytest.raises(HTMLPageError, match="HTML page"):
        fetch_into(tmp_path, server.url + "/model.t7", sleeps)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("12", 12.0),
        ("-5", 0.0),
        ("nan", None),
        ("inf", None),
        ("1e999", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Mon, 01 Jan 2020 00:00:00 +99999999999999999999", None),  # OverflowError before
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),
        ("x" * 10_000, None),
    ],
)
def test_retry_after_values_are_parsed_or_ignored(value, seconds):
    assert parse_retry_after(value) == seconds


def test_a_far_future_retry_after_date_is_capped(server, tmp_path, sleeps):
    from registry_server import Fault

    url = server.add_file("/model.t7", CONTENT)
    server.add_faults("/model.t7", Fault.status(503, retry_after="Mon, 01 Jan 9999 00:00:00 GMT"))
    fetch_into(tmp_path, url, sleeps, sha256=SHA256)
    assert sleeps == [60.0]
