"""One small HTTP server: ``/healthz``, ``/readyz``, ``/metrics`` and (hub only) ``POST /hook``.

The webhook is served on its path only: a POST anywhere else pokes nothing and is 405 where a GET
would answer (the probes, the fleet view's pages) or 404, so a misconfigured Git host or a stray
form post fails loudly instead of making the hub fetch.

The stdlib ``ThreadingHTTPServer`` in a daemon thread is enough for a probe every few seconds,
a scrape every 30 and a push now and then, and keeps the runtime image free of a web framework.
Every answer is plain text (probes, errors) or JSON (the webhook), never the stdlib's HTML error
page; probe and scrape requests are logged at DEBUG only, so an idle service writes no line per
probe. Addresses follow Flux's flags: ``[HOST]:PORT``, where ``:8080`` binds every interface (a
pod) and ``127.0.0.1:8080`` only the loopback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from fleetsync.serve.health import Health, Verdict
from fleetsync.serve.webhook import OFF, PATHS, Answer, Webhook

log = logging.getLogger(__name__)

GET_PATHS = ("/healthz", "/readyz", "/metrics")


def parse_address(address: str) -> tuple[str, int]:
    """``[HOST]:PORT`` → (host, port); an empty host is every interface (``0.0.0.0``)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r}: an address is [HOST]:PORT, for example :8080 or 127.0.0.1:8080")
    host = host.strip("[]")  # [::1]:8080
    return host or "0.0.0.0", int(port)


class HttpServer:
    """``bind()`` takes the port (so a bad address fails before anything else starts),
    ``serve()`` answers from a daemon thread, ``stop()`` closes the socket. ``webhook`` may be
    set until ``serve()``."""

    def __init__(
        self,
        address: tuple[str, int],
        health: Health,
        registry: CollectorRegistry,
        webhook: Webhook | None = None,
    ):
        self.address = address
        self.health = health
        self.registry = registry
        self.webhook = webhook
        self.hooks: Counter | None = None  # only a process that serves a webhook counts requests
        # GET of any other path: (code, body, content type), e.g. the fleet view (fleetsync/ui)
        self.pages: Callable[[str], tuple[int, bytes, str]] | None = None
        self.page_paths: Callable[[str], bool] = lambda _path: False  # the paths ``pages`` serves
        self._server: ThreadingHTTPServer | None = None
        self._serving = False

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    def bind(self) -> None:
        try:
            self._server = _Server(self.address, self)
        except OSError as e:
            host, port = self.address
            raise ValueError(f"cannot serve on {host}:{port}: {e.strerror or e}") from e
        self._server.daemon_threads = True

    def serve(self) -> None:
        assert self._server is not None, "bind() first"
        if self.webhook is not None:
            self.hooks = Counter(
                "fleetsync_webhook_requests",
                "Webhook requests by HTTP answer (202 accepted, 401/403 refused, 429 rate-limited, ...).",
                ("code",),
                registry=self.registry,
            )
        threading.Thread(target=self._server.serve_forever, args=(0.1,), name="http", daemon=True).start()
        self._serving = True
        what = (
            "health, metrics" + (", webhook" if self.webhook else "") + (", fleet view" if self.pages else "")
        )
        log.info(f"serving {what}", extra={"address": f"{self.address[0]}:{self.port}"})

    def start(self) -> None:
        self.bind()
        self.serve()

    def stop(self) -> None:
        if self._server is not None:
            if self._serving:  # shutdown() waits for serve_forever, which must have started
                self._server.shutdown()
                self._serving = False
            self._server.server_close()
            self._server = None

    def hook(self, headers: dict[str, str], length: int, read: Callable[[int], bytes]) -> Answer:
        """The webhook's answer; ``read(n)`` reads the body once the push is admitted."""
        if self.webhook is None:
            return OFF
        refused = self.webhook.admit(length)
        if refused is not None:
            return refused
        return self.webhook.handle(headers, read(length))


class _Server(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], app: HttpServer):
        super().__init__(address, _Handler)
        self.app = app


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def app(self) -> HttpServer:
        assert isinstance(self.server, _Server)
        return self.server.app

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(self.app.registry), CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/readyz"):
            self._verdict(self.app.health.live() if path == "/healthz" else self.app.health.ready())
        elif self.app.pages is not None and path not in PATHS:
            self._send(*self.app.pages(self.path))
        elif path in PATHS:
            self._text(405, "use POST for the webhook\n", allow="POST")
        else:
            self._text(404, f"no {path}: try {', '.join(GET_PATHS)}\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in PATHS:
            if path in GET_PATHS:
                self._text(405, f"{path} answers GET\n", allow="GET")
            elif self.app.pages is not None and self.app.page_paths(path):
                self._text(
                    405,
                    f"{path} is a page of the read-only fleet view; the webhook is POST /hook\n",
                    allow="GET, HEAD",
                )
            else:
                self._text(404, f"no {path}: the webhook is POST /hook\n")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._answer(Answer(400, {"error": "Content-Length is not a number"}))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.app.hook(headers, length, self.rfile.read)
        self._answer(answer)
        level = logging.INFO if answer.code == 202 else logging.WARNING
        log.log(level, "webhook", extra={"client": self.client_address[0], "code": answer.code})

    def _answer(self, answer: Answer) -> None:
        if self.app.hooks is not None:
            self.app.hooks.labels(str(answer.code)).inc()
        if answer.code >= 400:
            self.close_connection = True  # an unread body must not be taken for a next request
        extra = {"Retry-After": str(answer.retry_after)} if answer.retry_after is not None else {}
        self._send(answer.code, answer.json(), "application/json", **extra)

    def _verdict(self, verdict: Verdict) -> None:
        self._text(200 if verdict.ok else 503, verdict.reason + "\n")

    def _text(self, code: int, text: str, allow: str | None = None) -> None:
        self._send(code, text.encode(), "text/plain; charset=utf-8", **({"Allow": allow} if allow else {}))

    def _send(self, code: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's answer to a malformed request or unknown method, as plain text."""
        self.close_connection = True
        self._text(code, f"{code} {message or self.responses.get(code, ('',))[0]}\n")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http", extra={"client": self.client_address[0], "line": format % args})
