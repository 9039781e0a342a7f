"""A real ``git daemon`` on 127.0.0.1 for integration tests (and bench/bench_fetch.py).

Tests talk to Git the way a hub and its agents do in production: over the git protocol to a
server they do not own. The daemon serves every bare repository under ``root`` with
receive-pack enabled (anonymous push), so hubs can ``push --atomic`` and agents can push
reports. It is started on a free port and considered ready only once a TCP connection is
accepted; readiness and shutdown wait on conditions with a deadline, never on blind sleeps.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "HOME": "/nonexistent",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
}

START_DEADLINE_S = 10.0


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    """Run git with a clean environment (no user or system config) and return its stdout."""
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, input=input)
    return done.stdout.decode().strip()


def git_identity(repo: Path) -> None:
    """Commits made in ``repo`` by code under test are Ada Lovelace's and unsigned, whoever runs the tests."""
    for key, value in (
        ("user.name", "Ada Lovelace"),
        ("user.email", "ada@example.com"),
        ("commit.gpgsign", "false"),
    ):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class GitDaemon:
    """``git daemon`` serving ``root``; use as a context manager."""

    def __init__(self, root: Path):
        self.root = root
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def create(self, name: str) -> Path:
        """A new empty bare repository served as ``url(name)``."""
        path = self.root / name
        git(self.root, "init", "-q", "--bare", str(path))
        return path

    def start(self) -> None:
        # A port picked free can be taken before the daemon binds it; try a few.
        for _ in range(5):
            self.port = _free_port()
            proc = subprocess.Popen(
                [
                    "git",
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
                    "--enable=receive-pack",
                    "--informative-errors",
                    f"--base-path={self.root}",
                    "--listen=127.0.0.1",
                    f"--port={self.port}",
                    str(self.root),
                ],
                env=GIT_ENV,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + START_DEADLINE_S
            while time.monotonic() < deadline:
                if _accepts(self.port):
                    self._proc = proc
                    return
                try:
                    proc.wait(timeout=0.05)  # returns only if the daemon died (port taken, ...)
                    break
                except subprocess.TimeoutExpired:
                    continue
            else:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"git daemon did not accept connections within {START_DEADLINE_S}s")
        raise RuntimeError("git daemon could not bind a free port")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> GitDaemon:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
