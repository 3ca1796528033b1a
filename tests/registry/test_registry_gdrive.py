"""The Google Drive flow against a fake Drive on 127.0.0.1."""

import hashlib
import os

import pytest
from registry_fakedrive import DriveFile, FakeDrive
from registry_manifests import drive_source, manifest_of
from registry_server import Fault

from zoo.registry import gdrive
from zoo.registry.errors import (
    GoogleDriveError,
    GoogleDrivePermissionError,
    GoogleDriveQuotaError,
    VerificationError,
)
from zoo.registry.fetch import UnverifiedSourceWarning, fetch

CONTENT = os.urandom(120_000)
SHA256 = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def drive(server, monkeypatch):
    fake = FakeDrive(server)
    monkeypatch.setenv(gdrive.BASE_URL_ENV, fake.base_url)
    return fake


def saved(directory):
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def test_small_file_comes_straight_from_the_direct_link(drive, server, tmp_path, settings):
    drive.add("small", DriveFile("s.t7", CONTENT, interstitial=False))
    gdrive.download_file("small", tmp_path / "s.t7", sha256=SHA256, retry=settings.retry, progress=False)
    assert (tmp_path / "s.t7").read_bytes() == CONTENT
    assert [request.path for request in server.requests] == ["/uc"]


def test_the_virus_scan_form_is_submitted_with_all_hidden_inputs(drive, server, tmp_path, settings):
    drive.add("big", DriveFile("b.t7", CONTENT))
    gdrive.download_file("big", tmp_path / "b.t7", sha256=SHA256, retry=settings.retry, progress=False)
    assert (tmp_path / "b.t7").read_bytes() == CONTENT
    first, second = server.requests
    assert first.path == "/uc" and first.query == {"export": "download", "id": "big"}
    assert second.path == "/download"
    assert set(second.query) == {"id", "export", "confirm", "uuid"} and second.query["uuid"] in drive.issued
    assert saved(tmp_path) == ["b.t7"]


def test_the_confirmed_download_resumes_after_a_drop(drive, server, tmp_path, settings):
    drive.add("big", DriveFile("b.t7", CONTENT))
    server.add_faults("/download", Fault.drop(80_000))
    gdrive.download_file("big", tmp_path / "b.t7", sha256=SHA256, retry=settings.retry, progress=False)
    assert (tmp_path / "b.t7").read_bytes() == CONTENT
    downloads = server.gets("/download")
    assert len(downloads) == 2 and downloads[1].headers["range"].startswith("bytes=")


def test_a_resourcekey_is_required_and_passed_through_the_form(drive, server, tmp_path, settings):
    drive.add("keyed", DriveFile("k.t7", CONTENT, resourcekey="0-secret"))
    with pytest.raises(GoogleDrivePermissionError, match="refused access.*resourcekey"):
        gdrive.download_file("keyed", tmp_path / "k.t7", retry=settings.retry, progress=False)
    assert saved(tmp_path) == []
    gdrive.download_file(
        "keyed", tmp_path / "k.t7", resourcekey="0-secret", sha256=SHA256, retry=settings.retry, progress=False
    )
    assert (tmp_path / "k.t7").read_bytes() == CONTENT
    assert server.gets("/download")[-1].query["resourcekey"] == "0-secret"


def test_the_quota_page_is_a_clear_error(drive, tmp_path, settings):
    drive.add("busy", DriveFile("q.t7", CONTENT, quota=True))
    with pytest.raises(GoogleDriveQuotaError) as raised:
        gdrive.download_file("busy", tmp_path / "q.t7", retry=settings.retry, progress=False)
    message = str(raised.value)
    assert "Too many users have viewed or downloaded this file recently" in message
    assert "Try again later" in message and "--mirror" in message and "place it in the cache" in message
    assert saved(tmp_path) == []


def test_the_quota_page_after_the_confirmation_form(drive, tmp_path, settings):
    drive.add("busy", DriveFile("q.t7", CONTENT, quota_after_confirm=True))
    with pytest.raises(GoogleDriveQuotaError):
        gdrive.download_file("busy", tmp_path / "q.t7", retry=settings.retry, progress=False)
    assert saved(tmp_path) == []


def test_a_missing_file_is_a_clear_error(drive, tmp_path, settings):
    with pytest.raises(GoogleDrivePermissionError, match="does not exist"):
        gdrive.download_file("nothing", tmp_path / "n.t7", retry=settings.retry, progress=False)
    assert saved(tmp_path) == []


def test_fetch_through_drive_verifies_the_pinned_hash(drive, tmp_path, settings):
    drive.add("keyed", DriveFile("k.t7", CONTENT, resourcekey="0-secret"))
    manifest = manifest_of(tmp_path, {"tiny": [drive_source("keyed", "k.t7", SHA256, resourcekey="0-secret")]})
    assert fetch(manifest["tiny"], settings).path.read_bytes() == CONTENT
    wrong = manifest_of(tmp_path, {"other": [drive_source("keyed", "o.t7", "0" * 64, resourcekey="0-secret")]})
    with pytest.raises(VerificationError):
        fetch(wrong["other"], settings)
    assert not (settings.cache_dir / "o.t7").exists()


def test_fetch_through_drive_trusts_an_unpinned_file_on_first_use(drive, tmp_path, settings):
    drive.add("big", DriveFile("b.t7", CONTENT))
    manifest = manifest_of(tmp_path, {"tiny": [drive_source("big", "b.t7", None)]})
    with pytest.warns(UnverifiedSourceWarning):
        fetched = fetch(manifest["tiny"], settings)
    assert fetched.record.trust == "first-use" and fetched.record.sha256 == SHA256


def test_a_partial_file_from_an_earlier_run_survives_the_interstitial(drive, server, tmp_path, settings):
    drive.add("big", DriveFile("b.t7", CONTENT))
    (tmp_path / "b.t7.part").write_bytes(CONTENT[:50_000])
    gdrive.download_file("big", tmp_path / "b.t7", sha256=SHA256, retry=settings.retry, progress=False)
    assert (tmp_path / "b.t7").read_bytes() == CONTENT
    assert server.gets("/download")[0].headers["range"] == "bytes=50000-"
    assert saved(tmp_path) == ["b.t7"]


def test_the_older_confirmation_link_is_followed(drive, server, tmp_path, settings):
    drive.add("old", DriveFile("o.t7", CONTENT, old_style_link=True))
    gdrive.download_file("old", tmp_path / "o.t7", sha256=SHA256, retry=settings.retry, progress=False)
    assert (tmp_path / "o.t7").read_bytes() == CONTENT
    assert server.gets("/download")[0].query["confirm"] == "t"


# Hostile Drive pages (issue 9): forms that lead elsewhere, pages that were quadratic to parse.


def _page_with_form(action: str) -> str:
    return (
        "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>"
        f'<form id="download-form" action="{action}" method="get">'
        '<input type="hidden" name="id" value="x"><input type="hidden" name="confirm" value="t"></form></body></html>'
    )


@pytest.mark.parametrize(
    "action, message",
    [
        ("file:///etc/passwd", "'file' URL"),
        ("ftp://drive.google.com/x", "'ftp' URL"),
        ("https://evil.example.org/download", "is on evil.example.org, not Google Drive"),
        ("https://google.com.evil.example.org/download", "not Google Drive"),
        ("http://drive.usercontent.google.com/download", "leaves https for plain http"),
        ("https://[::1/download", "malformed"),
    ],
)
def test_a_drive_form_leading_off_drive_is_refused(action, message):
    with pytest.raises(GoogleDriveError, match=message):
        gdrive._next_request("Google Drive file x", "https://drive.google.com/uc?id=x", _page_with_form(action), 200)


def test_drive_forms_may_lead_to_googles_download_host():
    url, params = gdrive._next_request(
        "x", "https://drive.google.com/uc", _page_with_form("https://drive.usercontent.google.com/download"), 200
    )
    assert url == "https://drive.usercontent.google.com/download" and params == {"id": "x", "confirm": "t"}


def test_a_form_to_another_host_is_not_followed_from_the_local_drive(server, monkeypatch, tmp_path, settings):
    from registry_server import Reply

    page = _page_with_form("http://127.0.0.2:9/download").encode()
    server.add_reply("/uc", Reply(200, page, {"Content-Type": "text/html"}))
    monkeypatch.setenv(gdrive.BASE_URL_ENV, server.url + "/uc")
    with pytest.raises(GoogleDriveError, match="is on 127.0.0.2, not Google Drive"):
        gdrive.download_file("x", tmp_path / "x.t7", retry=settings.retry, progress=False)
    assert saved(tmp_path) == []


@pytest.mark.parametrize("piece", ["<a ", "<a b='", "<a b=", "<!--", "</", "<p class='uc-error-subcaption'><b>"])
def test_a_hostile_drive_page_is_parsed_in_linear_time(server, monkeypatch, tmp_path, settings, piece):
    """HTMLParser needed 14 s for 40 KB of '<a ' (and grows quadratically); the page here is 1 MB."""
    from registry_server import Reply

    page = ("<html><title>\x1b[2J" + piece * ((1 << 20) // len(piece))).encode()
    server.add_reply("/uc", Reply(200, page, {"Content-Type": "text/html"}))
    monkeypatch.setenv(gdrive.BASE_URL_ENV, server.url + "/uc")
    with pytest.raises(GoogleDriveError) as raised:
        gdrive.download_file("x", tmp_path / "x.t7", retry=settings.retry, progress=False)
    assert "\x1b" not in str(raised.value) and len(str(raised.value)) < 1000
    assert saved(tmp_path) == []


def test_the_page_scanner_reads_what_htmlparser_read():
    page = gdrive.parse_page(
        '<html><head><title>T &amp; U</title><script>var f = "<form id=download-form action=/evil>";</script>'
        "</head><body><!-- <a id='uc-download-link' href='/commented'> -->"
        '<p class="uc-error-subcaption">Too <b>many</b> users<br> have viewed</p><p>after</p>'
        "<form id='download-form' action='/download?a=1&amp;b=2' method=POST>"
        '<input type=hidden name=id value="x&quot;y"><input type="text" name="visible" value="no">'
        "<input type='hidden' name=confirm value=t></form></body></html>"
    )
    assert page.title == "T & U"
    assert page.subcaption == "Too many users have viewed"
    assert page.form_action == "/download?a=1&b=2" and page.form_method == "post"
    assert page.form_inputs == {"id": 'x"y', "confirm": "t"}
    assert page.download_link is None
