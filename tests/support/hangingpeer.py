"""A TCP peer on 127.0.0.1 that accepts every connection and never answers.

The failure issue 14 point 3 is about: a Git host (or a proxy before it) that takes the
connection and then says nothing. Neither TCP nor git notices; only a deadline of ours ends the
wait. The peer holds every accepted socket open (reading nothing, writing nothing) until it is
closed, so a client sees exactly a silent server, whatever protocol it speaks (git://, http://).
It runs in a daemon thread; ``close`` stops accepting and drops every held connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class HangingPeer:
    """``with HangingPeer() as peer: peer.url("git")`` → ``git://127.0.0.1:PORT/fleet.git``."""

    def __init__(self) -> None:
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port: int = self._server.getsockname()[1]
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="hanging-peer", daemon=True)
        self._thread.start()

    def url(self, scheme: str, path: str = "fleet.git", *, token: str | None = None) -> str:
        """The peer as a remote; ``token`` goes into an http URL's userinfo (git:// has none)."""
        auth = f"oauth2:{token}@" if token and scheme == "http" else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:  # closed
                return
            with self._lock:
                self._held.append(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the blocked accept() (close() alone does not)
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(timeout=5)
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()

    def __enter__(self) -> HangingPeer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
