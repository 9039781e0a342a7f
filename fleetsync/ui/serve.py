"""The fleet view on an HTTP port: fleetsync/serve/server.py's server with the pages attached.

``fleetsync ui`` (``serving_ui``) and ``hub run --ui`` (``hub_view``) serve the same ``UiApp``; the server already answers
``/healthz``, ``/readyz`` and ``/metrics`` and hands every other GET to the app. The view opens
its own ``HubRepo`` (never the hub loop's: git reads from the HTTP threads must not race the
loop's fetches), reads the refs once before the port is served so a wrong ``--repo`` fails at
start, and is read-only: it has no POST and nothing in it writes to Git. It is live while it
serves and ready while its last read of the refs succeeded within a day (a view nobody looks at
reads nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from fleetsync.serve.health import Health
from fleetsync.serve.server import HttpServer
from fleetsync.ui.app import UiApp
from fleetsync.ui.model import CommitLinks
from fleetsync.ui.state import StateSource
from fleetsync_contract.gitauth import GitCredentials
from reconciler.gitstore.repo import HubRepo, open_hub_repo

READY_FOR = 86400.0  # seconds a successful read keeps the view ready


def attach(
    server: HttpServer,
    repo: HubRepo,
    location: str,
    links: CommitLinks,
    *,
    now: Callable[[], datetime],
    clock: Callable[[], float] = time.monotonic,
    min_interval: float = 2.0,
    on_check: Callable[[], None] = lambda: None,
) -> StateSource:
    """Serve the fleet view's pages from ``server`` (before its ``serve()``); the first read
    happens here, so an unreadable repository fails before anything is served."""
    source = StateSource(repo, location, min_interval=min_interval, clock=clock, on_check=on_check)
    source.current()
    app = UiApp(source.current, links, now)
    server.pages = app.answer
    server.page_paths = app.serves
    return source


@contextmanager
def serving_ui(
    address: tuple[str, int],
    repo: HubRepo,
    location: str,
    links: CommitLinks,
    *,
    now: Callable[[], datetime],
    clock: Callable[[], float] = time.monotonic,
    min_interval: float = 2.0,
) -> Iterator[HttpServer]:
    """``fleetsync ui``: a bound, serving port for the view; leaving the block closes it."""
    health = Health("read of the hub refs", READY_FOR, 1, clock=clock)
    health.watch(lambda: True)
    server = HttpServer(address, health, CollectorRegistry())
    server.bind()  # a taken port or a bad address fails before any Git work
    try:
        attach(
            server,
            repo,
            location,
            links,
            now=now,
            clock=clock,
            min_interval=min_interval,
            on_check=health.finished,
        )
        server.serve()
        yield server
    finally:
        server.stop()


@contextmanager
def hub_view(
    server: HttpServer,
    location: str,
    *,
    hub_remote: str | None,
    state_dir: Path | None,
    credentials: GitCredentials,
    timeout: float,
    links: CommitLinks,
) -> Iterator[None]:
    """``hub run --ui``: the view on the hub's port, from its own HubRepo (a separate cache for a
    remote, ``<state dir>/ui``, so the view's fetches never race the loop's)."""
    root = (state_dir or Path.home() / ".cache" / "fleetsync" / "hub") / "ui"
    with open_hub_repo(
        location, hub_remote=hub_remote, cache_root=root, credentials=credentials, timeout=timeout
    ) as repo:
        attach(server, repo, location, links, now=lambda: datetime.now(UTC))
        yield
