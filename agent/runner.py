"""Running the agent as a process: the scheduler, the heartbeat's period, and the composition root.

``Runner`` runs ``Agent.sync`` every ``--interval`` seconds on apscheduler's background scheduler
(backing off with jitter while passes fail) and beats the heartbeat ref at the MemberCluster's
``heartbeatPeriodSeconds`` as the bundle carries it (or ``--heartbeat-period``). ``run_agent`` is
``fleetsync agent run``: the real clock, sleep, git and cluster wired into an ``Agent``. The agent
serves nothing: ``Runner`` hands a ``SyncPass`` of every sync to ``on_pass``, and ``run_agent``'s
``attach`` gives the runner to the composition root (fleetsync/serve/: health and metrics).

What an operator reads: one INFO line per sync that did something (bundle id, counts, duration;
an idle pass is DEBUG), and each failure once, when it starts or its reason changes, with the
next retry time, plus one line when it clears (``Problems``): a failure that persists for an hour
is one line, not 240. Stopping: SIGTERM and SIGINT only set an event; the thread in ``start()``
removes the jobs (nothing new is submitted) and waits for the sync in flight, whose applies are
idempotent. At start-up an unreachable API server is retried with the same capped, jittered
backoff (``connect``) while a kubeconfig that cannot be used is a usage error: one line, exit 2.
So are the start-up checks (``startup_checks``), made before anything is pushed: ``--cluster``
must be a MemberCluster name the fleet has (NotAMember lists the ones it has) and the member must
not be claimed by another cluster name (ClaimRefused names the owner and the hand-over).
"""

from __future__ import annotations

import logging
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agent.apply.inventory import PROTECTED_KINDS
from agent.bundles import MemoVerifier
from agent.errors import AgentError, ClaimRefused, NotAMember, SourceError
from agent.loop import FETCH_WAIT_SECONDS, WORKERS, Agent, AgentConfig, SyncSummary
from fleetsync_contract.gitauth import GIT_TIMEOUT_SECONDS, NO_CREDENTIALS, GitCredentials
from fleetsync_contract.report import Outcome

if TYPE_CHECKING:  # imported when the agent runs (run_agent): gitpython stays out of a plain import
    from agent.source import GitSource

log = logging.getLogger("fleetsync.agent")
T = TypeVar("T")

FAILED_OUTCOMES = frozenset(
    {
        Outcome.FAILED_TO_APPLY,
        Outcome.FAILED_TO_TAKE_OVER,
        Outcome.APPLY_CONFLICT_BETWEEN_PLACEMENTS,
        Outcome.MANIFESTS_ALREADY_OWNED_BY_OTHERS,
        Outcome.WAITING_FOR_CRD,
    }
)


def backoff_delay(interval: float, failures: int, cap: float, rng: random.Random) -> float:
    """The interval, or after ``failures`` failures an exponential delay capped at ``cap`` and
    jittered down to half, so that agents failing together do not retry together."""
    if not failures:
        return interval
    return float(min(cap, interval * 2**failures) * (0.5 + rng.random() / 2))


class Problems:
    """Failures by subject (``sync``, an object identity, ``connect``), logged once each: when a
    subject starts failing or its reason changes (WARNING), and when it clears (INFO)."""

    def __init__(self) -> None:
        self.current: dict[str, str] = {}

    def update(self, now: Mapping[str, str], retry_at: datetime | None = None) -> None:
        retry = {"retry_at": retry_at.isoformat(timespec="seconds")} if retry_at else {}
        for subject, reason in sorted(now.items()):
            if self.current.get(subject) != reason:
                log.warning("%s failed: %s", subject, reason, extra={"subject": subject, **retry})
        for subject in sorted(set(self.current) - set(now)):
            log.info("%s recovered", subject, extra={"subject": subject})
        self.current = dict(now)


def sync_problems(summary: SyncSummary) -> dict[str, str]:
    """What failed in one pass: the pass's own errors and every object that did not apply."""
    problems = {f"sync error {i + 1}": e for i, e in enumerate(summary.errors)}
    for r in summary.results:
        if r.outcome in FAILED_OUTCOMES:
            problems[r.identity] = f"{r.outcome.value}: {r.message or r.reason}"
    return problems


def sync_fields(summary: SyncSummary) -> dict[str, Any]:
    """The fields of a sync's log line (docs/operations.md, "Logs")."""
    outcomes = [r.outcome for r in summary.results]
    return {
        "bundle_id": summary.bundle_id,
        "applied": sum(o in (Outcome.APPLIED, Outcome.TAKEN_OVER) for o in outcomes),
        "unchanged": sum(o in (Outcome.UNCHANGED, Outcome.NO_DIFF) for o in outcomes),
        "pruned": len(summary.deleted),
        "failed": sum(o in FAILED_OUTCOMES for o in outcomes),
        "drifted": sum(o in (Outcome.DRIFTED, Outcome.DIFF_REPORTED) for o in outcomes),
        "report_commit": summary.report_commit or "",
        "duration_s": round(sum(summary.timings.values()), 3),
    }


def log_sync(summary: SyncSummary) -> None:
    """INFO when the pass changed something (an object, a prune, a report); DEBUG when idle."""
    fields = sync_fields(summary)
    busy = fields["report_commit"] or fields["pruned"] or any(r.wrote for r in summary.results)
    log.log(logging.INFO if busy else logging.DEBUG, "sync", extra=fields)


@dataclass(frozen=True, slots=True)
class SyncPass:
    """One sync pass as an observer sees it (fleetsync/serve: readiness, metrics)."""

    seconds: float
    summary: SyncSummary | None  # None: the pass raised (logged)


class Runner:
    """Runs ``agent.sync`` every ``interval`` seconds and ``agent.heartbeat`` every ``heartbeat``
    seconds on apscheduler's background scheduler (``start()`` waits for a stop); a failing pass
    backs off exponentially with jitter up to ``max_backoff``. ``stop()`` may be called from any thread or a signal.

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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        stop: threading.Event | None = None,
        on_pass: Callable[[SyncPass], None] | None = None,
    ):
        from apscheduler.schedulers.background import BackgroundScheduler

        self.agent = agent
        self.interval = interval
        self.heartbeat_override = heartbeat
        self.heartbeat_period = heartbeat or agent.heartbeat_period()
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        self.on_pass = on_pass
        self.failures = 0
        self.passes = 0
        self.clock = clock
        self.problems = Problems()
        self.beat_problems = Problems()  # the heartbeat's, apart: each job clears only its own
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._stop = stop or threading.Event()  # given: the caller's signal handler sets it

    def backoff(self) -> float:
        """Seconds until the next pass: the interval, or after failures an exponential delay with jitter."""
        return backoff_delay(self.interval, self.failures, self.max_backoff, self.rng)

    def _sync_job(self) -> None:
        if self._stop.is_set():
            return
        started = time.monotonic()
        summary: SyncSummary | None = None
        try:
            summary = self.agent.sync()
            problems = sync_problems(summary)
            ok = not summary.errors
            log_sync(summary)
        except Exception as e:  # the loop must survive anything one pass throws; it is logged and retried
            if not isinstance(e, AgentError):
                log.debug("sync failed", exc_info=True)
            problems = {"sync": f"{type(e).__name__}: {e}"}
            ok = False
        self._observe(SyncPass(time.monotonic() - started, summary))
        self.passes += 1
        self.failures = 0 if ok else self.failures + 1
        self._retune_heartbeat()
        delay = self.backoff()
        self.problems.update(problems, self.clock() + timedelta(seconds=delay) if problems else None)
        self._schedule_sync(delay)

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
        """One beat. A failure is one line (the reason, squeezed onto it; a non-agent error's
        traceback only at DEBUG), logged when it starts or its reason changes, with the next
        beat's time, and one line when beats work again: a Git outage is not a dump per period."""
        try:
            self.agent.heartbeat()
        except Exception as e:  # a missed beat is retried at the next period
            reason = " ".join(str(e).split())[:1024]
            if not isinstance(e, AgentError):  # not one of ours: say what it is, trace at DEBUG
                log.debug("heartbeat failed", exc_info=True)
                reason = f"{type(e).__name__}: {reason}"
            next_beat = self.clock() + timedelta(seconds=self.heartbeat_period)
            self.beat_problems.update({"heartbeat": reason}, next_beat)
            return
        self.beat_problems.update({})

    def _schedule_sync(self, delay: float) -> None:
        if self._stop.is_set():
            return
        when = datetime.now(UTC) + timedelta(seconds=delay)
        try:
            self.scheduler.add_job(self._sync_job, "date", run_date=when, id="sync", replace_existing=True)
        except Exception:  # the scheduler shut down between the check and the add: we are stopping
            log.debug("sync not rescheduled: stopping")

    def start(self, *, install_signals: bool = True) -> None:
        """Blocks until ``stop()`` (or SIGTERM/SIGINT when ``install_signals``), then waits for the
        sync in flight."""
        if install_signals:
            with stop_on_signals(self.stop):
                self._run()
        else:
            self._run()

    def _run(self) -> None:
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
        log.info("agent running", extra={"interval": self.interval, "heartbeat": self.heartbeat_period})
        try:
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
        for job in ("sync", "heartbeat"):  # under the job store's lock: nothing new is submitted
            try:
                self.scheduler.remove_job(job)
            except Exception:  # not scheduled right now (a sync in flight reschedules itself)
                log.debug("no %s job to remove", job)
        self.scheduler.shutdown(wait=True)
        log.info("agent stopped")


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM and SIGINT call ``stop`` (which only sets an event) while inside; the previous
    handlers come back on exit. Off the main thread it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def connect(
    open_client: Callable[[], T],
    *,
    wait: Callable[[float], bool],
    clock: Callable[[], datetime],
    rng: random.Random,
    interval: float,
    cap: float = 300.0,
) -> T | None:
    """``open_client()`` until it succeeds, retrying an ``AgentError`` (the API server or Git
    unreachable) with capped, jittered backoff; ``wait(seconds)`` returns True when a stop was
    requested meanwhile, and then ``connect`` returns None. Anything else (a kubeconfig that
    cannot be used) propagates: retrying would not fix it."""
    problems = Problems()
    failures = 0
    while True:
        try:
            client = open_client()
        except AgentError as e:
            failures += 1
            delay = backoff_delay(interval, failures, cap, rng)
            problems.update({"connect": str(e)}, clock() + timedelta(seconds=delay))
            if wait(delay):
                return None
            continue
        problems.update({})
        return client


def check_membership(source: GitSource) -> None:
    """``source.check_member()`` at start-up: NotAMember propagates (a usage error, exit 2); an
    unreachable remote is not an error here: the source checks again before its first push, the
    pass reports the unreachable remote, and the agent meanwhile keeps enforcing the bundle it holds."""
    try:
        source.check_member()
    except NotAMember:
        raise
    except SourceError as e:
        log.debug("membership not checked yet (checked again before the first push): %s", e)


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
    git_timeout: float = GIT_TIMEOUT_SECONDS,
    take_over_from: str = "",
    age_identity_file: str = "",
    verify_key_files: Sequence[Path] = (),
) -> int:
    """The composition root of ``fleetsync agent run``: real clock, sleep, git and cluster.

    ``workers``: objects applied at once within a wave (and the client's pooled connections).
    ``heartbeat``: seconds between heartbeats; None follows the bundle (the MemberCluster's period).
    ``max_prune_share`` / ``allow_prune``: the prune policy (docs/agent.md, "Prune").
    ``attach``: called with the runner before it starts (not with ``once``): the composition
    root hooks its health and metrics there (``runner.on_pass``, ``runner.agent.source``).
    ``credentials``: how git authenticates to the fleet repo (docs/operations.md, "Git credentials").
    ``git_timeout``: seconds one git fetch or push may take (docs/operations.md, "Timeouts").
    ``take_over_from``: the owner this agent may take the member from (docs/agent.md, "Ownership
    and hand-over").
    ``verify_key_files``: the hub's public key(s); bundle commits not signed by one are refused
    (agent/signatures.py; docs/agent.md, "Signed bundles").
    Returns the process exit code (docs/agent.md, "Exit codes"): 0; 2 when a start-up check fails
    (not a MemberCluster of the fleet, the member claimed by another owner); with ``--once`` 1 when
    objects failed or drift was left in place (``SyncSummary.findings``), 3 when Git or the cluster
    could not be reached or the pass failed otherwise (3 wins over 1)."""
    from agent.apply.kube import KubeClient, check_kubeconfig
    from agent.properties import provider
    from agent.signatures import SignatureCheck, load_trusted
    from agent.source import GitSource, check_cluster_name

    if workers < 1:
        raise ValueError(f"--workers {workers}: at least 1")
    if not 0 < max_prune_share <= 1:
        raise ValueError(f"--max-prune-share {max_prune_share}: a share in (0, 1]")
    protected = allowed_protected(allow_prune)
    chosen = [provider(p) for p in providers]
    signatures = SignatureCheck(load_trusted(verify_key_files)) if verify_key_files else None
    check_cluster_name(cluster)
    check_kubeconfig(kubeconfig, context)  # a file that cannot be used: exit 2 before Git is touched
    if len(take_over_from) > 253:
        raise ValueError("--take-over-from: at most 253 characters (a cluster name or a commit)")
    stop = threading.Event()
    rng = random.Random()
    with (
        stop_on_signals(stop.set),
        GitSource(
            repo,
            cluster,
            state_dir,
            verify=MemoVerifier(cluster),
            credentials=credentials,
            timeout=git_timeout,
            signatures=signatures,
        ) as source,
    ):
        try:
            check_membership(source)  # before anything is pushed, before the cluster is read
            if once:
                kube = KubeClient.from_kubeconfig(kubeconfig, context, connections=workers)
            else:
                client = connect(
                    lambda: KubeClient.from_kubeconfig(kubeconfig, context, connections=workers),
                    wait=stop.wait,
                    clock=lambda: datetime.now(UTC),
                    rng=rng,
                    interval=min(interval, 5.0),
                )
                if client is None:
                    log.info("agent stopped before it connected")
                    return 0
                kube = client
            with kube:
                agent = Agent(
                    AgentConfig(
                        cluster,
                        namespace=namespace,
                        workers=workers,
                        max_prune_share=max_prune_share,
                        allow_protected=protected,
                        fleet=source.fleet,
                        take_over_from=take_over_from,
                        age_identity_file=age_identity_file,
                    ),
                    kube,
                    source,
                    clock=lambda: datetime.now(UTC),
                    sleep=time.sleep,
                    providers=chosen,
                    rng=rng,
                    fetch_wait=None if once else FETCH_WAIT_SECONDS,  # --once waits for its fetch
                )
                agent.check_claim()
                if not once:
                    runner = Runner(agent, interval=interval, heartbeat=heartbeat, rng=rng, stop=stop)
                    if attach is not None:
                        attach(runner)
                    runner.start(install_signals=False)  # the handlers above set ``stop``
                    return 0
                summary = agent.sync()
                agent.heartbeat()
        except (NotAMember, ClaimRefused) as e:  # a start-up check: fix the flags or hand over
            log.error("%s", e)
            print(f"error: {e}", file=sys.stderr)
            return 2
        except AgentError as e:  # --once: the cluster or Git unreachable (a running agent retries)
            log.error("%s", e)
            print(f"error: {e}", file=sys.stderr)
            return 3
    return once_exit_code(summary)


# Findings printed by ``--once``; the report branch holds all of them.
MAX_FINDING_LINES = 20


def once_exit_code(summary: SyncSummary) -> int:
    """``--once``'s exit code, each problem on stderr: 3 when the pass saw errors (Git or the
    cluster unreachable, a bundle refused, the report not pushed), else 1 when it left findings
    (objects failed, drifted or diffed; their messages never hold Secret values), else 0."""
    for problem in summary.errors:
        log.error("%s", problem)
        print(f"error: {problem}", file=sys.stderr)
    findings = summary.findings()
    for r in findings[:MAX_FINDING_LINES]:
        line = " ".join(f"{r.identity}: {r.outcome.value}: {r.message or r.reason}".split())
        print(f"finding: {line[:500]}", file=sys.stderr)
    if len(findings) > MAX_FINDING_LINES:
        print(f"finding: {len(findings) - MAX_FINDING_LINES} more in the report", file=sys.stderr)
    if summary.errors:
        return 3
    return 1 if findings else 0
