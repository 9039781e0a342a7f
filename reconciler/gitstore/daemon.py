"""A read-only ``git daemon`` on 127.0.0.1: the demo's stand-in for a Git host serving team repos.

``fleetsync demo --teams`` needs repositories the hub fetches over a network protocol, as it
fetches real team repos, and only this package may start a ``git`` process (tests/test_layering.py),
so the loopback server lives here rather than in the demo. It serves the bare repositories under
one directory, read-only (no receive-pack: the demo pushes to the bare repositories by path), on a
free port of the loopback interface only, with no user or system git configuration. It is ready
once a TCP connection is accepted — waited for with a deadline, never a blind sleep — and
``stop()`` ends the process it started, and only that one. Tests keep their own server
(tests/support/gitdaemon.py), which also accepts pushes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from reconciler.errors import TransientError

START_DEADLINE_S = 10.0
STOP_DEADLINE_S = 5.0
ATTEMPTS = 3  # a free port can be taken before the daemon binds it


class DaemonError(TransientError):
    """The loopback git daemon could not be started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class LoopbackDaemon:
    """``git daemon`` exporting every repository under ``root``; a context manager."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        """The ``git://`` URL of the repository ``root/name``."""
        if not name or name.startswith(("-", "/")) or ".." in Path(name).parts:
            raise ValueError(f"{name!r} is not a repository under the served directory")
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self) -> LoopbackDaemon:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        for _ in range(ATTEMPTS):
            self.port = free_port()
            try:
                proc = subprocess.Popen(
                    [
                        "git",
                        "daemon",
                        "--reuseaddr",
                        "--export-all",
                        f"--base-path={self.root}",
                        "--listen=127.0.0.1",
                        f"--port={self.port}",
                        str(self.root),
                    ],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except OSError as e:
                raise DaemonError(f"cannot run git daemon: {e}") from e
            if self._ready(proc):
                self._proc = proc
                return self
        raise DaemonError(f"git daemon did not serve {self.root} on 127.0.0.1 ({ATTEMPTS} ports tried)")

    def _ready(self, proc: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if accepts(self.port):
                return True
            try:
                proc.wait(timeout=0.05)  # returns only when the daemon died (its port was taken)
                return False
            except subprocess.TimeoutExpired:
                continue
        proc.kill()
        proc.wait()
        return False

    def stop(self) -> None:
        """End the daemon this object started; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> LoopbackDaemon:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
