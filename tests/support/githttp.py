"""A Git host on 127.0.0.1 that wants a token: ``git http-backend`` behind Python's http.server.

Credentials are tested the way a private GitHub or GitLab takes them: smart HTTP with Basic
auth, a ``401`` and ``WWW-Authenticate`` challenge for a request without (or with a wrong)
``Authorization`` header, and receive-pack for an authenticated user. The handler is a small
CGI bridge (request line, headers and body in; ``Status:`` and headers out) to ``git
http-backend`` serving every bare repository under ``root``. Every request line and header
value it saw is kept in ``seen``, so a test can show that a token travelled only in the
``Authorization`` header and nowhere else (never in a URL or a query).
"""

from __future__ import annotations

import base64
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote

from tests.support.gitdaemon import GIT_ENV, git


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        host = self.server.host
        body = self._body()
        host.record(self.requestline, [v for _, v in self.headers.items()])
        if self.headers.get("Authorization") != host.expected_authorization:
            host.denied += 1
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="fleet"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {
            **GIT_ENV,
            "GIT_PROJECT_ROOT": str(host.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": host.username,  # enables receive-pack (push) in http-backend
            "REMOTE_ADDR": "127.0.0.1",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        self._reply(done.stdout)

    def _reply(self, out: bytes) -> None:
        crlf, lf = out.find(b"\r\n\r\n"), out.find(b"\n\n")
        if crlf >= 0 and (lf < 0 or crlf < lf):
            head, payload = out[:crlf], out[crlf + 4 :]
        elif lf >= 0:
            head, payload = out[:lf], out[lf + 2 :]
        else:
            head, payload = b"Status: 500 Internal Server Error", b""
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    host: GitHttpHost


class GitHttpHost:
    """Smart-HTTP Git on 127.0.0.1 serving the bare repositories under ``root`` to whoever
    authenticates as ``username`` with ``token``; use as a context manager."""

    def __init__(self, root: Path, username: str, token: str):
        self.root = root
        self.username = username
        self.expected_authorization = "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()
        self.seen: list[str] = []  # request lines and header values, in order
        self.denied = 0  # requests answered 401
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def create(self, name: str) -> Path:
        """A new empty bare repository served as ``url(name)``."""
        path = self.root / name
        git(self.root, "init", "-q", "--bare", str(path))
        return path

    def record(self, line: str, values: list[str]) -> None:
        with self._lock:
            self.seen.append(line)
            self.seen.extend(values)

    def start(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.host = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="git-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GitHttpHost:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
