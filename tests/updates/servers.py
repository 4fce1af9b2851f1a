"""Real file servers on 127.0.0.1 for the transfer tests: an HTTP server (http.server in a
thread) that honours Range, can drop a connection mid-file, refuse PUT, or ask for a
password; and an FTP server (pyftpdlib in a thread) with a user and a password."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Site:
    """What the HTTP server serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)  # path -> content
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes, then hang up once
    no_range: set[str] = field(default_factory=set)  # paths served whole whatever Range says
    no_put: bool = False  # answer PUT with 405 (POST accepted)
    password: tuple[str, str] | None = None  # Basic auth required for everything
    uploads: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range

    def url(self, port: int, path: str) -> str:
        return f"http://127.0.0.1:{port}{path}"


class _Handler(BaseHTTPRequestHandler):
    site: Site
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet tests
        pass

    def _authorized(self) -> bool:
        if self.site.password is None:
            return True
        user, password = self.site.password
        wanted = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if self.headers.get("Authorization") == wanted:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="fw"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.site.requests.append(("GET", path, self.headers.get("Range")))
        if not self._authorized():
            return
        body = self.site.files.get(path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if ranged and path not in self.site.no_range:
            start = int(ranged.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = self.site.drop_after.pop(path, None)
        if cut is not None:
            self.wfile.write(body[start:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # the line breaks mid-file
            return
        self.wfile.write(body[start:])

    def _receive(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_PUT(self) -> None:
        self.site.requests.append(("PUT", self.path, None))
        if not self._authorized():
            return
        data = self._receive()
        if self.site.no_put:
            self.send_response(405)
        else:
            self.site.uploads[self.path] = data
            self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self.site.requests.append(("POST", self.path, None))
        if not self._authorized():
            return
        data = self._receive()
        # the multipart body's file part (enough for the tests: one part)
        boundary = self.headers.get_content_type() == "multipart/form-data"
        if boundary:
            head, _, rest = data.partition(b"\r\n\r\n")
            data = rest.rsplit(b"\r\n--", 1)[0]
        self.site.uploads[self.path] = data
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def http_server(site: Site) -> Iterator[int]:
    """Serve `site` on 127.0.0.1; yields the port."""
    handler = type("Handler", (_Handler,), {"site": site})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def ftp_server(root: Path, user: str = "tech", password: str = "s3cret") -> Iterator[int]:
    """An FTP server (passive mode) over `root`, one user with every permission; yields the port."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, str(root), perm="elradfmwMT")
    authorizer.add_user("reader", "r", str(root), perm="elr")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "passive_ports": None})
    server = FTPServer(("127.0.0.1", 0), handler)  # one thread: the test process is busy enough
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.address[1]
    finally:
        server.close_all()
