"""Running the agent as a process: the scheduler, the heartbeat's period, and the composition root.

``Runner`` runs ``Agent.sync`` every ``--interval`` seconds on apscheduler's blocking scheduler
(backing off with jitter while passes fail) and beats the heartbeat ref at the MemberCluster's
``heartbeatPeriodSeconds`` as the bundle carries it (or ``--heartbeat-period``). ``run_agent`` is
``fleetsync agent run``: the real clock, sleep, git and cluster wired into an ``Agent``. The agent
serves nothing: ``Runner`` hands a ``SyncPass`` of every sync to ``on_pass``, and ``run_agent``'s
``attach`` gives the runner to the composition root (fleetsync/serve/: health and metrics).
"""

from __future__ import annotations

import logging
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.apply.inventory import PROTECTED_KINDS
from agent.bundles import MemoVerifier
from agent.errors import AgentError
from agent.loop import WORKERS, Agent, AgentConfig, SyncSummary
from fleetsync_contract.gitauth import NO_CREDENTIALS, GitCredentials

log = logging.getLogger("fleetsync.agent")


@dataclass(frozen=True, slots=True)
class SyncPass:
    """One sync pass as an observer sees it (fleetsync/serve: readiness, metrics)."""

    seconds: float
    summary: SyncSummary | None  # None: the pass raised (logged)


class Runner:
    """Runs ``agent.sync`` every ``interval`` seconds and ``agent.heartbeat`` every ``heartbeat``
    seconds on apscheduler's blocking scheduler; a failing pass backs off exponentially with
    jitter up to ``max_backoff``. ``stop()`` may be called from any thread or a signal.

    ``heartbeat`` None (no ``--heartbeat-period``) follows the bundle's memberCluster period: after
    each pass the heartbeat job is rescheduled when the period the agent holds changed."""

    def __init__(
        self,
        agent: Agent,
        *,
        interval: float,
        heartbeat: float | None = None,
        max_backoff: float = 300.0,
        rng: random.Random | None = None,
        on_pass: Callable[[SyncPass], None] | None = None,
    ):
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.agent = agent
        self.interval = interval
        self.heartbeat_override = heartbeat
        self.heartbeat_period = heartbeat or agent.heartbeat_period()
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        self.on_pass = on_pass
        self.failures = 0
        self.passes = 0
        self.scheduler = BlockingScheduler(timezone=UTC)

    def backoff(self) -> float:
        """Seconds until the next pass: the interval, or after failures an exponential delay with jitter."""
        if not self.failures:
            return self.interval
        return float(min(self.max_backoff, self.interval * 2**self.failures) * (0.5 + self.rng.random() / 2))

    def _sync_job(self) -> None:
        started = time.monotonic()
        summary: SyncSummary | None = None
        try:
            summary = self.agent.sync()
            ok = not summary.errors
            for e in summary.errors:
                log.warning("sync: %s", e)
        except Exception:  # the loop must survive anything one pass throws; it is logged and retried
            log.exception("sync failed")
            ok = False
        self._observe(SyncPass(time.monotonic() - started, summary))
        self.passes += 1
        self.failures = 0 if ok else self.failures + 1
        self._retune_heartbeat()
        self._schedule_sync(self.backoff())

    def _observe(self, done: SyncPass) -> None:
        if self.on_pass is None:
            return
        try:
            self.on_pass(done)
        except Exception:  # an observer's bug must not stop the agent
            log.exception("pass observer failed")

    def _retune_heartbeat(self) -> None:
        want = self.heartbeat_override or self.agent.heartbeat_period()
        if want == self.heartbeat_period:
            return
        log.info("heartbeat period %s s (was %s s)", want, self.heartbeat_period)
        self.heartbeat_period = want
        if self.scheduler.get_job("heartbeat") is not None:
            self.scheduler.reschedule_job("heartbeat", trigger="interval", seconds=want, jitter=_jitter(want))

    def _beat_job(self) -> None:
        try:
            self.agent.heartbeat()
        except Exception:  # a missed beat is retried at the next period
            log.exception("heartbeat failed")

    def _schedule_sync(self, delay: float) -> None:
        when = datetime.now(UTC) + timedelta(seconds=delay)
        self.scheduler.add_job(self._sync_job, "date", run_date=when, id="sync", replace_existing=True)

    def start(self, *, install_signals: bool = True) -> None:
        """Blocks until ``stop()`` (or SIGTERM/SIGINT when ``install_signals``)."""
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        self._schedule_sync(0)
        self.scheduler.add_job(
            self._beat_job,
            "interval",
            seconds=self.heartbeat_period,
            jitter=_jitter(self.heartbeat_period),
            id="heartbeat",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)


def _jitter(period: float) -> int:
    return max(1, int(period / 10))


def allowed_protected(kinds: Sequence[str]) -> frozenset[tuple[str, str]]:
    """``--allow-prune`` values (Namespace, CustomResourceDefinition, PersistentVolumeClaim) as the
    (group, kind) pairs the prune policy takes; anything else is a ValueError (a usage error)."""
    by_kind = {kind.lower(): (group, kind) for group, kind in PROTECTED_KINDS}
    out = set()
    for k in kinds:
        hit = by_kind.get(k.strip().lower())
        if hit is None:
            choices = ", ".join(sorted(kind for _, kind in PROTECTED_KINDS))
            raise ValueError(f"--allow-prune {k!r}: only these kinds are kept from pruning: {choices}")
        out.add(hit)
    return frozenset(out)


def run_agent(
    *,
    repo: str,
    cluster: str,
    state_dir: Path,
    kubeconfig: str | None = None,
    context: str | None = None,
    interval: float = 15.0,
    heartbeat: float | None = None,
    once: bool = False,
    namespace: str = "fleetsync-system",
    providers: Sequence[str] = ("default",),
    workers: int = WORKERS,
    max_prune_share: float = 0.5,
    allow_prune: Sequence[str] = (),
    attach: Callable[[Runner], None] | None = None,
    credentials: GitCredentials = NO_CREDENTIALS,
) -> int:
    """The composition root of ``fleetsync agent run``: real clock, sleep, git and cluster.

    ``workers``: objects applied at once within a wave (and the client's pooled connections).
    ``heartbeat``: seconds between heartbeats; None follows the bundle (the MemberCluster's period).
    ``max_prune_share`` / ``allow_prune``: the prune policy (docs/agent.md, "Prune").
    ``attach``: called with the runner before it starts (not with ``once``): the composition
    root hooks its health and metrics there (``runner.on_pass``, ``runner.agent.source``).
    ``credentials``: how git authenticates to the fleet repo (docs/operations.md, "Git credentials").
    Returns the process exit code: 0, or 3 when ``--once`` saw errors."""
    import time

    from agent.apply.kube import KubeClient
    from agent.properties import provider
    from agent.source import GitSource

    if workers < 1:
        raise ValueError(f"--workers {workers}: at least 1")
    if not 0 < max_prune_share <= 1:
        raise ValueError(f"--max-prune-share {max_prune_share}: a share in (0, 1]")
    protected = allowed_protected(allow_prune)
    chosen = [provider(p) for p in providers]
    try:
        with (
            KubeClient.from_kubeconfig(kubeconfig, context, connections=workers) as kube,
            GitSource(
                repo, cluster, state_dir, verify=MemoVerifier(cluster), credentials=credentials
            ) as source,
        ):
            agent = Agent(
                AgentConfig(
                    cluster,
                    namespace=namespace,
                    workers=workers,
                    max_prune_share=max_prune_share,
                    allow_protected=protected,
                ),
                kube,
                source,
                clock=lambda: datetime.now(UTC),
                sleep=time.sleep,
                providers=chosen,
            )
            if not once:
                runner = Runner(agent, interval=interval, heartbeat=heartbeat)
                if attach is not None:
                    attach(runner)
                runner.start()
                return 0
            summary = agent.sync()
            agent.heartbeat()
    except AgentError as e:  # the cluster or Git unreachable (a running agent retries instead)
        log.error("%s", e)
        print(f"error: {e}", file=sys.stderr)
        return 3
    for problem in summary.errors:
        log.error("%s", problem)
        print(f"error: {problem}", file=sys.stderr)
    return 3 if summary.errors else 0
