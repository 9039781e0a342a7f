"""A real ``git daemon`` on 127.0.0.1 for integration tests (and the benches in bench/).

Tests talk to Git the way a hub and its agents do in production: over the git protocol to a
server they do not own. The daemon serves every bare repository under ``root`` with
receive-pack enabled (anonymous push), so hubs can ``push --atomic`` and agents can push
reports. It is started on a free port and considered ready only once a TCP connection is
accepted; readiness and shutdown wait on conditions with a deadline, never on blind sleeps.

``git daemon`` listens with a backlog of 5 (hard-coded in git) and serves at most 32 clients at
once, so a burst of many agents polling together is dropped or held a SYN retransmit (1 s) by a
full accept queue: not what a Git host looks like. With ``backlog=N`` the listening socket is
this module's own (``listen(N)``) and every connection is handed to one ``git daemon --inetd``,
as inetd or systemd socket activation serve it, with no connection limit; each connection's
server CPU (its git processes' rusage, ``os.wait4``) is then counted in ``served()``, which is
what bench/bench_idle.py and bench/bench_e2e.py read. ``trace_packets`` makes the serving git
processes write their packet trace (``GIT_TRACE_PACKET``) to a file: what the server was asked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from reconciler.gitstore.daemon import accepts, free_port

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


@dataclass(frozen=True, slots=True)
class Served:
    """What the server has done so far: connections ended and their git processes' CPU seconds."""

    connections: int
    cpu_seconds: float


class GitDaemon:
    """``git daemon`` serving ``root``; use as a context manager.

    ``backlog`` None: git's own listener (backlog 5, 32 clients). A number: a listener of that
    backlog here, one ``git daemon --inetd`` per connection (module docstring)."""

    def __init__(self, root: Path, *, backlog: int | None = None, trace_packets: Path | None = None):
        self.root = root
        self.port = 0
        self.backlog = backlog
        self._env = {**GIT_ENV, **({"GIT_TRACE_PACKET": str(trace_packets)} if trace_packets else {})}
        self._proc: subprocess.Popen[bytes] | None = None
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._lock = threading.Lock()
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._connections = 0
        self._cpu = 0.0

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def create(self, name: str) -> Path:
        """A new empty bare repository served as ``url(name)``."""
        path = self.root / name
        git(self.root, "init", "-q", "--bare", str(path))
        return path

    def _options(self) -> list[str]:
        return [
            "--export-all",
            "--enable=receive-pack",
            "--informative-errors",
            f"--base-path={self.root}",
        ]

    def served(self) -> Served:
        """Connections ended so far and the server CPU they took (user + system, every git process
        of the connection). With git's own listener: the daemon's reaped children (/proc), and
        no connection count."""
        if self._proc is not None:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rpartition(")")[2].split()
            ticks = os.sysconf("SC_CLK_TCK")
            return Served(0, (int(fields[13]) + int(fields[14])) / ticks)  # cutime, cstime
        with self._lock:
            return Served(self._connections, self._cpu)

    def start(self) -> None:
        if self.backlog is not None:
            self._listen(self.backlog)
            return
        # A port picked free can be taken before the daemon binds it; try a few.
        for _ in range(5):
            self.port = free_port()
            proc = subprocess.Popen(
                [
                    "git",
                    "daemon",
                    "--reuseaddr",
                    *self._options(),
                    "--listen=127.0.0.1",
                    f"--port={self.port}",
                    str(self.root),
                ],
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + START_DEADLINE_S
            while time.monotonic() < deadline:
                if accepts(self.port):
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

    # -- socket-activated: our listener, one ``git daemon --inetd`` per connection -------------
    def _listen(self, backlog: int) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(backlog)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, name="git-daemon-accept", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        assert self._listener is not None
        argv = ["git", "daemon", "--inetd", "--log-destination=none", *self._options(), str(self.root)]
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # the listener was closed: stop()
                return
            with conn:
                proc = subprocess.Popen(
                    argv,
                    env=self._env,
                    stdin=conn.fileno(),
                    stdout=conn.fileno(),
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # its own group: stop() kills upload-pack with it
                )
            with self._lock:
                self._children[proc.pid] = proc
            threading.Thread(target=self._reap, args=(proc,), daemon=True).start()

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        """Wait for one connection's git daemon and count its CPU (its children's included)."""
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except ChildProcessError:  # reaped by stop()
            return
        proc.returncode = os.waitstatus_to_exitcode(status)
        with self._lock:
            self._children.pop(proc.pid, None)
            self._connections += 1
            self._cpu += usage.ru_utime + usage.ru_stime

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # connections still being served end by themselves
            with self._lock:
                left = list(self._children.values())
            if not left:
                return
            time.sleep(0.02)
        for proc in left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        self._close_listener()
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
