"""``fleetsync hub run``: when to reconcile (the loop decides what).

Three triggers, one job: apscheduler's scheduler (on a thread of its own, so the caller's
thread only waits for a stop) runs ``reconcile_once`` every ``interval`` seconds (one instance
at a time; missed runs coalesce); a watchfiles thread on a
local repository's ``.git`` (its branch refs, report branches and heartbeat refs, never the
hub's own bundle/status refs) and a Git host's webhook both just *poke* that job so it runs
now. Nothing here computes anything, so the loop stays testable with a fixed clock, and a poke
during a running reconcile is folded into the next run. The hub serves no HTTP itself: the
webhook, health and metrics live in the composition root (fleetsync/serve/), which gets the
runner through ``cli_run``'s ``attach`` and a ``HubPass`` record of every pass through ``on_pass``.

When a rollout waits on time (``unavailablePeriodSeconds``) the loop says when to come back
(``requeue_after``) and the next run is brought forward to then. Logs are structured
(``key=value`` extras on every record), progress goes to a rich spinner on a terminal; a poll
that finds nothing to do logs at DEBUG only.

Stopping: SIGTERM and SIGINT only set a stop event (a handler that raises would land anywhere,
e.g. inside apscheduler's job submission, which swallows it). The thread that called
``start()`` then removes the job (so nothing new is submitted), kills any running
``kubectl kustomize`` child and waits for the running reconcile, which checks the event at
every stage boundary and is abandoned before it publishes. A reconcile therefore either
completes (its refs move in one atomic update) or writes nothing; it is never recorded as a
failed load, and a requested stop exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from reconciler.errors import FleetsyncError, TransientError
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.lease import Elector
from reconciler.hub.loop import Progress, ReconcileResult, reconcile_once
from reconciler.hub.session import HubSession
from reconciler.load.kustomize import Interrupted, interrupt_children

log = logging.getLogger(__name__)

JOB_ID = "reconcile"


@dataclass(frozen=True, slots=True)
class HubPass:
    """One pass of the loop as an observer sees it (fleetsync/serve: readiness, metrics)."""

    seconds: float
    result: ReconcileResult | None  # None: the pass failed, ``error`` says why
    error: FleetsyncError | None = None


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


class Stopping(Exception):
    """Raised at a stage boundary of a reconcile once a stop was requested: abandon, write nothing."""


class NotLeading(Stopping):
    """Raised at a stage boundary once this replica no longer holds the Lease: the new leader
    reconciles; this one must not publish, nor retry a publish git refused (``RefRace``)."""


class Runner:
    """Owns the scheduler and the triggers; ``start()`` blocks until ``stop()`` (or a signal,
    when ``cli_run`` installed the handlers), then waits for the running reconcile."""

    def __init__(
        self,
        repo: HubRepo,
        *,
        interval: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        watch: Path | None = None,
        progress: Progress | None = None,
        on_result: Callable[[ReconcileResult], None] | None = None,
        on_pass: Callable[[HubPass], None] | None = None,
        leading: Callable[[], bool] | None = None,
    ):
        self.repo = repo
        self.interval = interval
        self.clock = clock
        self.watch = watch
        self.progress = progress
        self.on_result = on_result
        self.on_pass = on_pass
        self.leading = leading  # leader election (reconciler/hub/lease.py): reconcile only while True
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.session = HubSession()  # every cache of this hub process, for its lifetime
        self._stop = threading.Event()

    # -- the one job -------------------------------------------------------------------------
    def _stage(self, message: str) -> None:
        """Every stage boundary of a reconcile: abandon it when a stop was requested or the Lease
        was lost (leader election)."""
        if self._stop.is_set():
            raise Stopping(message)
        if self.leading is not None and not self.leading():
            raise NotLeading(message)
        if self.progress is not None:
            self.progress(message)

    def tick(self) -> None:
        if self._stop.is_set():
            return
        if self.leading is not None and not self.leading():
            return  # another replica leads: it reconciles, this one only stands by
        started = time.monotonic()
        try:
            result = reconcile_once(self.repo, self.clock(), progress=self._stage, session=self.session)
        except NotLeading as e:
            log.info("reconcile abandoned: no longer leading", extra={"stage": str(e)})
            return
        except (Stopping, Interrupted) as e:
            if not self._stop.is_set():  # a kustomize child killed by someone else: retry later
                log.warning("reconcile interrupted; will retry", extra={"error": str(e)})
                return
            log.info("reconcile abandoned: stopping", extra={"stage": str(e)})
            return
        except TransientError as e:
            log.warning("reconcile failed; will retry", extra={"error": str(e)})
            self._observe(HubPass(time.monotonic() - started, None, e))
            return
        except FleetsyncError as e:
            log.error("reconcile failed", extra={"error": str(e)})
            self._observe(HubPass(time.monotonic() - started, None, e))
            return
        self._observe(HubPass(time.monotonic() - started, result))
        if self.on_result is not None:
            self.on_result(result)
        if result.requeue_after is not None and result.requeue_after < timedelta(seconds=self.interval):
            self.poke(result.requeue_after)

    def _observe(self, done: HubPass) -> None:
        if self.on_pass is None:
            return
        try:
            self.on_pass(done)
        except Exception:  # an observer's bug must not stop the hub
            log.exception("pass observer failed")

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
        log.info("hub running", extra={"interval": self.interval, "watch": str(self.watch or "")})
        try:
            self.scheduler.start()
            while not self._stop.wait(1.0):  # a timeout keeps the wait interruptible by signals
                pass
        finally:
            self._shutdown()

    def stop(self) -> None:
        """Request a stop; safe from any thread and from a signal handler (it only sets an event)."""
        self._stop.set()

    def _shutdown(self) -> None:
        self._stop.set()
        if not self.scheduler.running:
            return
        try:  # takes the job store's lock: once removed, no run of the job can be submitted
            self.scheduler.remove_job(JOB_ID)
        except Exception:  # never added (start failed early)
            log.debug("no job to remove")
        if interrupt_children():
            log.info("stopping: interrupted kubectl kustomize")
        self.scheduler.shutdown(wait=True)  # the running reconcile ends at its next stage boundary
        log.info("hub stopped")


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
    errors = [f for f in result.findings if f.severity == "error"]
    failed = "".join(f"  {f}\n" for f in errors[:20])
    if errors:  # failed objects or files: each keeps its last good state, the rest rendered
        head += f"{len(errors)} error(s), the failed objects keep their last good state; "
    if result.noop:
        return head + "nothing to write\n" + failed
    return (
        head + f"wrote {len(result.written)} ref(s)\n" + "".join(f"  {r}\n" for r in result.written) + failed
    )


def cli_reconcile(repo: HubRepo, now: datetime) -> tuple[str, int]:
    """One reconcile; (text, exit code): 0 written or nothing to do, 1 the commit does not load
    or some of its objects failed."""
    progress, done = _spinner()
    try:
        result = reconcile_once(repo, now, progress=progress)
    finally:
        done()
    failed = any(f.severity == "error" for f in result.findings)
    return result_text(result), 0 if result.loaded and not failed else 1


def cli_run(
    repo: HubRepo,
    *,
    interval: float,
    watch: Path | None,
    attach: Callable[[Runner], None] | None = None,
    elector: Elector | None = None,
) -> None:
    """``hub run``: returns (exit 0) after SIGTERM or SIGINT once the running reconcile ended.
    ``attach`` is called with the runner before it starts: the composition root hooks its
    webhook (``runner.poke``), health and metrics (``runner.on_pass``) there. With an
    ``elector`` the runner reconciles only while it holds the Lease; a new leader reconciles at
    once, and the Lease is released on the way out."""
    runner = Runner(
        repo,
        interval=interval,
        watch=watch,
        on_result=log_result,
        leading=elector.is_leading if elector is not None else None,
    )
    if attach is not None:
        attach(runner)
    if elector is not None:
        elector.on_change = lambda leading: runner.poke() if leading else None
        elector.start()
    try:
        with stop_on_signals(runner.stop):
            runner.start()
    finally:
        if elector is not None:
            elector.stop()


def log_result(result: ReconcileResult) -> None:
    """INFO when a reconcile wrote something or the commit does not load; DEBUG for an idle poll."""
    level = logging.DEBUG if result.noop and result.loaded else logging.INFO
    log.log(level, result_text(result).splitlines()[0], extra={"written": len(result.written)})


class stop_on_signals:
    """SIGTERM and SIGINT call ``stop`` (which must only set an event) while inside; the previous
    handlers come back on exit. Off the main thread (tests) it does nothing."""

    def __init__(self, stop: Callable[[], None]):
        self._stop = stop
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        self._stop()

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
