"""A fake Google Drive on the local test server, reproducing the pages the real one sends.

``/uc?export=download&id=..[&resourcekey=..]`` answers with the file (small
files), with the "can't scan for viruses" interstitial whose ``#download-form``
points at ``/download`` with hidden ``id``, ``export``, ``confirm`` and
``uuid`` inputs (large files), with the quota page, with a 403 "You need
access" page when a required resourcekey is missing or wrong, or with a 404
page for unknown ids. ``/download`` serves the file (with Range) only for the
exact hidden inputs of a page it handed out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from registry_server import LocalServer, Reply, Request, serve_bytes

INTERSTITIAL = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<div class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive can't scan this file for viruses.</p>
<p class="uc-warning-subcaption"><span class="uc-name-size"><a href="/open?id={id}">{name}</a> (557M)</span>
is too large for Google to scan for viruses. Would you still like to download this file?</p>
<form id="download-form" action="{action}" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button jfk-button-action"
 value="Download anyway"/>
<input type="hidden" name="id" value="{id}"><input type="hidden" name="export" value="download">
{resourcekey}<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="{uuid}">
</form></div></div></body></html>"""

OLD_INTERSTITIAL = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<div class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive can't scan this file for viruses.</p>
<a id="uc-download-link" class="goog-inline-block jfk-button jfk-button-action" href="{href}">Download anyway</a>
</div></div></body></html>"""

QUOTA = """<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>
<div class="uc-main"><div id="uc-text"><p class="uc-error-caption">
Sorry, you can&#39;t view or download this file at this time.</p>
<p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please try accessing the
file again later. If the file you are trying to access is particularly large or is shared with many people, it may
take up to 24 hours to be able to view or download the file.</p></div></div></body></html>"""

NEED_ACCESS = """<!DOCTYPE html><html><head><title>Google Drive</title></head><body>
<div>You need access</div><div>Request access, or switch to an account with access.</div></body></html>"""

NOT_FOUND = """<!DOCTYPE html><html><head><title>Google Drive - Page Not Found</title></head><body>
<p>Sorry, the file you have requested does not exist.</p></body></html>"""


@dataclass
class DriveFile:
    name: str
    content: bytes
    resourcekey: str | None = None
    interstitial: bool = True
    quota: bool = False
    quota_after_confirm: bool = False
    old_style_link: bool = False  # the pre-2023 page: a #uc-download-link with a confirm token, no form


class FakeDrive:
    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.files: dict[str, DriveFile] = {}
        self.issued: dict[str, dict[str, str]] = {}
        server.routes["/uc"] = self._uc
        server.routes["/download"] = self._download

    @property
    def base_url(self) -> str:
        return self.server.url + "/uc"

    def add(self, file_id: str, drive_file: DriveFile) -> None:
        self.files[file_id] = drive_file

    def _html(self, status: int, page: str) -> Reply:
        return Reply(status, page.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def _uc(self, request: Request) -> Reply:
        drive_file = self.files.get(request.query.get("id", ""))
        if drive_file is None or request.query.get("export") != "download":
            return self._html(404, NOT_FOUND)
        if drive_file.resourcekey and request.query.get("resourcekey") != drive_file.resourcekey:
            return self._html(403, NEED_ACCESS)
        if drive_file.quota:
            return self._html(403, QUOTA)
        if not drive_file.interstitial:
            return serve_bytes(request, drive_file.content)
        token = uuid.uuid4().hex
        hidden = {"id": request.query["id"], "export": "download", "confirm": "t", "uuid": token}
        key_input = ""
        if drive_file.resourcekey:
            hidden["resourcekey"] = drive_file.resourcekey
            key_input = f'<input type="hidden" name="resourcekey" value="{drive_file.resourcekey}">'
        self.issued[token] = hidden
        if drive_file.old_style_link:
            query = "&amp;".join(f"{key}={value}" for key, value in hidden.items())
            return self._html(200, OLD_INTERSTITIAL.format(href=f"/download?{query}"))
        page = INTERSTITIAL.format(
            id=request.query["id"],
            name=drive_file.name,
            action=self.server.url + "/download",
            resourcekey=key_input,
            uuid=token,
        )
        return self._html(200, page)

    def _download(self, request: Request) -> Reply:
        expected = self.issued.get(request.query.get("uuid", ""))
        if expected is None or request.query != expected:
            return self._html(400, "<html><body>Bad Request</body></html>")
        drive_file = self.files[expected["id"]]
        if drive_file.quota_after_confirm:
            return self._html(200, QUOTA)
        return serve_bytes(request, drive_file.content)
