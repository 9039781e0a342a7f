"""``fleetsync hub run``: when to reconcile (the loop decides what).

Three triggers, one job: apscheduler's ``BlockingScheduler`` runs ``reconcile_once`` every
``interval`` seconds (one instance at a time; missed runs coalesce); a watchfiles thread on a
local repository's ``.git`` (its branch refs, report branches and heartbeat refs, never the
hub's own bundle/status refs) and an optional webhook endpoint for a Git host both just *poke*
that job so it runs now. Nothing here computes anything, so the loop stays testable with a fixed
clock, and a poke during a running reconcile is folded into the next run.

When a rollout waits on time (``unavailablePeriodSeconds``) the loop says when to come back
(``requeue_after``) and the next run is brought forward to then. Logs are structured
(``key=value`` extras on every record), progress goes to a rich spinner on a terminal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler

from reconciler.errors import FleetsyncError, TransientError
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.lease import Elector
from reconciler.hub.loop import Progress, ReconcileResult, reconcile_once
from reconciler.hub.session import HubSession

log = logging.getLogger(__name__)

JOB_ID = "reconcile"
MAX_WEBHOOK_BODY = 1024 * 1024


def is_hub_internal(path: str) -> bool:
    """Changes the hub itself makes (its own refs, objects) must not re-trigger it."""
    p = path.replace("\\", "/")
    return (
        "/objects/" in p
        or "/refs/heads/fleet/bundles/" in p
        or p.endswith("/refs/heads/fleet/status")
        or "/logs/" in p
        or p.endswith(".lock")
    )


class Runner:
    """Owns the scheduler and the triggers; ``start()`` blocks until ``stop()`` or Ctrl-C."""

    def __init__(
        self,
        repo: HubRepo,
        *,
        interval: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        watch: Path | None = None,
        webhook: tuple[str, int] | None = None,
        progress: Progress | None = None,
        on_result: Callable[[ReconcileResult], None] | None = None,
        leading: Callable[[], bool] | None = None,
    ):
        self.repo = repo
        self.leading = leading  # leader election (reconciler/hub/lease.py): reconcile only while True
        self.interval = interval
        self.clock = clock
        self.watch = watch
        self.webhook = webhook
        self.progress = progress
        self.on_result = on_result
        self.scheduler = BlockingScheduler(timezone=UTC)
        self.session = HubSession()  # every cache of this hub process, for its lifetime
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.webhook_port: int | None = None

    # -- the one job -------------------------------------------------------------------------
    def tick(self) -> None:
        if self.leading is not None and not self.leading():
            return  # another replica leads: it reconciles, this one only stands by
        try:
            result = reconcile_once(self.repo, self.clock(), progress=self.progress, session=self.session)
        except TransientError as e:
            log.warning("reconcile failed; will retry", extra={"error": str(e)})
            return
        except FleetsyncError as e:
            log.error("reconcile failed", extra={"error": str(e)})
            return
        if self.on_result is not None:
            self.on_result(result)
        if result.requeue_after is not None and result.requeue_after < timedelta(seconds=self.interval):
            self.poke(result.requeue_after)

    def poke(self, after: timedelta = timedelta(0)) -> None:
        """Run the job ``after`` from now (sooner than its next interval), never twice at once."""
        try:
            self.scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC) + after)
        except Exception:  # the scheduler is shutting down or not started: nothing to poke
            log.debug("poke ignored", extra={"after": str(after)})

    # -- triggers ------------------------------------------------------------------------------
    def _watch(self) -> None:
        from watchfiles import watch

        assert self.watch is not None
        # watch_filter=None: the default filter ignores everything under a ".git" directory.
        for changes in watch(self.watch, watch_filter=None, stop_event=self._stop, raise_interrupt=False):
            if any(not is_hub_internal(path) for _, path in changes):
                self.poke()

    def _serve_webhook(self) -> None:
        runner = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_WEBHOOK_BODY:
                    self.send_error(413)
                    return
                self.rfile.read(length)  # the body is not trusted or needed: any push means "look"
                runner.poke()
                self.send_response(202)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                log.info("webhook", extra={"client": self.client_address[0], "line": format % args})

        assert self.webhook is not None
        self._server = ThreadingHTTPServer(self.webhook, Hook)
        self.webhook_port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True).start()

    def start(self) -> None:
        self.scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.interval,
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        if self.watch is not None:
            threading.Thread(target=self._watch, name="watch", daemon=True).start()
        if self.webhook is not None:
            self._serve_webhook()
        log.info(
            "hub running",
            extra={
                "interval": self.interval,
                "watch": str(self.watch or ""),
                "webhook_port": self.webhook_port or "",
            },
        )
        try:
            self.scheduler.start()
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)


# -- what the CLI calls --------------------------------------------------------------------------
def _spinner() -> tuple[Progress | None, Callable[[], None]]:
    """A rich status line on a terminal; nothing otherwise (logs stay machine-readable)."""
    import sys

    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console

    status = Console(stderr=True).status("reconciling")
    status.start()
    return (lambda msg: status.update(f"reconcile: {msg}")), status.stop


def result_text(result: ReconcileResult) -> str:
    head = f"commit {result.source_commit[:12]}: "
    if not result.loaded:
        errors = [f for f in result.findings if f.severity == "error"]
        return (
            head
            + f"does not load ({len(errors)} error(s)); recorded in fleet/status, bundles unchanged\n"
            + "".join(f"  {f}\n" for f in errors[:20])
        )
    if result.noop:
        return head + "nothing to write\n"
    return head + f"wrote {len(result.written)} ref(s)\n" + "".join(f"  {r}\n" for r in result.written)


def cli_reconcile(repo: HubRepo, now: datetime) -> tuple[str, int]:
    """One reconcile; (text, exit code): 0 written or nothing to do, 1 the commit does not load."""
    progress, done = _spinner()
    try:
        result = reconcile_once(repo, now, progress=progress)
    finally:
        done()
    return result_text(result), 0 if result.loaded else 1


def cli_run(
    repo: HubRepo,
    *,
    interval: float,
    watch: Path | None,
    webhook_port: int | None,
    webhook_host: str = "127.0.0.1",
    elector: Elector | None = None,
) -> None:
    runner = Runner(
        repo,
        interval=interval,
        watch=watch,
        webhook=(webhook_host, webhook_port) if webhook_port is not None else None,
        on_result=lambda r: log.info(result_text(r).splitlines()[0], extra={"written": len(r.written)}),
        leading=elector.is_leading if elector is not None else None,
    )
    if elector is not None:  # a new leader reconciles at once; the lease is released on the way out
        elector.on_change = lambda leading: runner.poke() if leading else None
        elector.start()
    try:
        runner.start()
    except KeyboardInterrupt:
        runner.stop()
    finally:
        if elector is not None:
            elector.stop()
