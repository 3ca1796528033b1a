"""A real HTTP server on 127.0.0.1 for registry tests, with scripted faults.

Routes map a URL path to a callable ``(request) -> Reply``; ``serve_bytes``
answers GETs with optional ``Range`` support (and an ``ETag`` that ``If-Range``
is checked against). Faults for a path are consumed one per request:
``Fault.drop(n)`` sends the full ``Content-Length`` header but only ``n``
bytes and then closes the connection; ``Fault.status(503, retry_after="1")``
answers with an error status. ``Reply.raw`` sends exactly the given bytes
(status line, headers and body, however malformed) and closes: what a hostile
server can send. ``LocalServer(tls=(cert, key))`` serves https. Every request
is recorded.
"""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None  # close the connection after this many body bytes
    raw: bytes | None = None  # sent as it is (no status line or headers added), then the connection closes


@dataclass
class Fault:
    status_code: int | None = None
    retry_after: str | None = None
    drop_after: int | None = None
    gate: threading.Event | None = None  # hold the answer until the event is set

    @classmethod
    def hold_until(cls, event: threading.Event) -> Fault:
        return cls(gate=event)

    @classmethod
    def drop(cls, after: int) -> Fault:
        return cls(drop_after=after)

    @classmethod
    def status(cls, code: int, retry_after: str | None = None) -> Fault:
        return cls(status_code=code, retry_after=retry_after)


def serve_bytes(
    request: Request,
    content: bytes,
    content_type: str = "application/octet-stream",
    ranges: bool = True,
    etag: str | None = None,
) -> Reply:
    """A GET for ``content``, honouring ``Range: bytes=N-`` when ``ranges`` (and ``If-Range`` against ``etag``)."""
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if etag is not None and if_range is not None and if_range != etag:
        wanted = None  # another version: the whole file, as RFC 9110 asks
    if ranges and wanted:
        match = re.fullmatch(r"bytes=(\d+)-", wanted.strip())
        if match:
            start = int(match[1])
            if start >= len(content):
                return Reply(416, b"", {"Content-Range": f"bytes */{len(content)}"})
            headers = {
                "Content-Range": f"bytes {start}-{len(content) - 1}/{len(content)}",
                "Content-Type": content_type,
            }
            return Reply(206, content[start:], {**headers, **({"ETag": etag} if etag else {})})
    headers = {"Content-Type": content_type, "Accept-Ranges": "bytes" if ranges else "none"}
    return Reply(200, content, {**headers, **({"ETag": etag} if etag else {})})


class LocalServer:
    """``with LocalServer() as server:`` — serves ``server.routes`` at ``server.url``."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.routes: dict[str, Callable[[Request], Reply]] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                outer._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.scheme = "https" if tls else "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def add_file(self, path: str, content: bytes, ranges: bool = True, etag: str | None = None) -> str:
        self.routes[path] = lambda request: serve_bytes(request, content, ranges=ranges, etag=etag)
        return self.url + path

    def add_reply(self, path: str, reply: Reply) -> str:
        """Answer every GET of ``path`` with ``reply``."""
        self.routes[path] = lambda request: reply
        return self.url + path

    def add_faults(self, path: str, *faults: Fault) -> None:
        self.faults.setdefault(path, []).extend(faults)

    def gets(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        request = Request("GET", split.path, query, {k.lower(): v for k, v in handler.headers.items()})
        with self._lock:
            self.requests.append(request)
            pending = self.faults.get(split.path)
            fault = pending.pop(0) if pending else None
        if fault is not None and fault.gate is not None:
            fault.gate.wait(timeout=120)
        route = self.routes.get(split.path)
        reply = (
            route(request)
            if route
            else Reply(404, b"<html><body>not found</body></html>", {"Content-Type": "text/html"})
        )
        if fault is not None and fault.status_code is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            reply = Reply(fault.status_code, b"busy", headers)
        elif fault is not None and fault.drop_after is not None:
            reply.drop_after = fault.drop_after
        if reply.raw is not None:
            _send_raw(handler, reply.raw)
            return
        handler.send_response(reply.status)
        for key, value in reply.headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        if reply.drop_after is not None:
            handler.send_header("Connection", "close")
        handler.end_headers()
        body = reply.body if reply.drop_after is None else reply.body[: reply.drop_after]
        try:
            handler.wfile.write(body)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if reply.drop_after is not None:
            handler.close_connection = True


def _send_raw(handler: BaseHTTPRequestHandler, raw: bytes) -> None:
    try:
        handler.wfile.write(raw)
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    handler.close_connection = True
