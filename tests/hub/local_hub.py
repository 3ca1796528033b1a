"""A small Hugging Face Hub on 127.0.0.1 that answers what ``huggingface_hub.hf_hub_download`` (2.x) asks.

``HEAD`` and ``GET /{repo_id}/resolve/{revision}/{filename}``, as the Hub
answers them: ``X-Repo-Commit`` with the commit the revision resolves to; a
small file answered directly with its git blob sha1 as ``ETag`` and its
``Content-Length``; a weights file (LFS) answered with ``302`` to a second
server (the "CDN", another origin, so huggingface_hub stops following there
and drops the token) with ``X-Linked-Etag`` (its sha256) and ``X-Linked-Size``.
Errors carry the Hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``, ``GatedRepo``), which huggingface_hub turns into its
exception classes. The CDN honours ``Range: bytes=N-``. Every request is
recorded, so tests can tell whether the network was used.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".t7", ".pth", ".bin")
_RESOLVE = re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)")
_BLOB = re.compile(r"/blobs/(?P<sha256>[0-9a-f]{64})")


@dataclass
class Repo:
    """A model repository: commits (id -> files) and branches (name -> commit id)."""

    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # a gated repository: only this bearer token may read it

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        return self.branches.get(revision)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""


class _Server:
    """One ThreadingHTTPServer on 127.0.0.1 that hands HEAD and GET requests to ``answer(method, path, headers)``."""

    def __init__(self, answer) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                self._reply(answer("HEAD", self.path, {k.lower(): v for k, v in self.headers.items()}), body=False)

            def do_GET(self) -> None:
                self._reply(answer("GET", self.path, {k.lower(): v for k, v in self.headers.items()}), body=True)

            def _reply(self, reply: Answer, body: bool) -> None:
                self.send_response(reply.status)
                headers = {"Content-Length": str(len(reply.body)), **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if body:
                    self.wfile.write(reply.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class LocalHub:
    """``with LocalHub() as hub:`` the Hub at ``hub.url`` (set ``HF_ENDPOINT`` to it), its CDN at ``hub.cdn_url``."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._hub = _Server(self._answer_hub)
        self._cdn = _Server(self._answer_cdn)

    @property
    def url(self) -> str:
        return self._hub.url

    @property
    def cdn_url(self) -> str:
        return self._cdn.url

    def __enter__(self) -> LocalHub:
        return self

    def __exit__(self, *exc) -> None:
        self._hub.close()
        self._cdn.close()

    def commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """Add a commit holding exactly ``files`` to ``repo_id`` (created if new), move ``branch`` to it; its id."""
        digest = hashlib.sha1(repo_id.encode())
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
        commit = digest.hexdigest()
        with self._lock:
            repo = self.repos.setdefault(repo_id, Repo())
            repo.commits[commit] = dict(files)
            repo.branches[branch] = commit
            for content in files.values():
                self._blobs[hashlib.sha256(content).hexdigest()] = content
        return commit

    def network_requests(self) -> int:
        with self._lock:
            return len(self.requests)

    def _answer_hub(self, method: str, path: str, headers: dict[str, str]) -> Answer:
        with self._lock:
            self.requests.append((method, path))
        match = _RESOLVE.fullmatch(urlsplit(path).path)
        if match is None:
            return Answer(404, {"X-Error-Code": "RepoNotFound"}, b"not found")
        repo_id, revision, filename = match["repo"], unquote(match["revision"]), unquote(match["filename"])
        repo = self.repos.get(repo_id)
        if repo is None:
            return Answer(404, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
        if repo.token is not None and headers.get("authorization") != f"Bearer {repo.token}":
            return Answer(401, {"X-Error-Code": "GatedRepo", "X-Error-Message": "Access to this model is restricted"})
        commit = repo.resolve(revision)
        if commit is None:
            return Answer(404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"})
        content = repo.commits[commit].get(filename)
        if content is None:
            headers = {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit}
            return Answer(404, {**headers, "X-Error-Message": "Entry not found"})
        if filename.endswith(LFS_SUFFIXES):
            sha256 = hashlib.sha256(content).hexdigest()
            return Answer(
                302,
                {
                    "Location": f"{self.cdn_url}/blobs/{sha256}",
                    "X-Repo-Commit": commit,
                    "X-Linked-Etag": f'"{sha256}"',
                    "X-Linked-Size": str(len(content)),
                    "ETag": f'"{_git_blob_sha1(content)}"',
                },
            )
        headers = {"X-Repo-Commit": commit, "ETag": f'"{_git_blob_sha1(content)}"'}
        return Answer(200, headers, content)

    def _answer_cdn(self, method: str, path: str, headers: dict[str, str]) -> Answer:
        with self._lock:
            self.requests.append((method, self.cdn_url + path))
            match = _BLOB.fullmatch(urlsplit(path).path)
            content = self._blobs.get(match["sha256"]) if match else None
        if content is None:
            return Answer(404, {}, b"no such blob")
        wanted = re.fullmatch(r"bytes=(\d+)-", headers.get("range", ""))
        if wanted and int(wanted[1]) < len(content):
            start = int(wanted[1])
            return Answer(206, {"Content-Range": f"bytes {start}-{len(content) - 1}/{len(content)}"}, content[start:])
        return Answer(200, {"Accept-Ranges": "bytes"}, content)


def _git_blob_sha1(content: bytes) -> str:
    """What the Hub sends as the ETag of a file kept in git (not LFS): its git blob id."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
