"""The agent's one sequencer: fetch → verify → waves/apply → prune → availability → properties → report.

``Agent.sync`` runs one pass; ``Runner`` runs passes on apscheduler's blocking scheduler every
``--interval`` seconds (backing off with jitter while passes fail) and beats the heartbeat ref at
the MemberCluster's ``heartbeatPeriodSeconds``. The cluster, the Git source, the clock and the
sleep are injected, so a pass can be driven step by step in tests.

State that must survive a restart lives in the member cluster, not on the agent's disk: the
inventory ConfigMap (``fleetsync-inventory`` in the agent's namespace) holds what the agent
applied and the bundle commit it last accepted, which is what a new bundle must descend from.
While the Git source fails (unreachable, a bundle refused, a rewritten branch) the agent keeps
enforcing the last good bundle it holds and prunes nothing; after a restart without a reachable
source it applies nothing until the source is back.
"""

from __future__ import annotations

import logging
import random
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from agent.apply.inventory import (
    Inventory,
    PrunePolicy,
    entry_for,
    updated_inventory,
)
from agent.apply.manager import Applier, Kube, Result, Strategy, Work
from agent.apply.prune import prune
from agent.apply.waves import apply_in_waves
from agent.bundles import MemoVerifier, load_verified
from agent.errors import AgentError, NotFound, SourceError
from agent.observe import Observing, in_background
from agent.properties import DefaultProvider, PropertyProvider
from agent.report import PlacementInfo, ReportInput, build_report, commit_message, fingerprint
from agent.source import FetchedBundle
from fleetsync_contract.bundle import Bundle, BundleError, parse_bundle
from fleetsync_contract.report import (
    HEARTBEAT_FILE,
    ClusterReport,
    Envelope,
    Health,
    Heartbeat,
    InventoryItem,
    ObjectDrift,
    Outcome,
    PruneSummary,
    ResourceUsage,
    SourceState,
    dump_heartbeat,
    format_time,
    report_files,
)

log = logging.getLogger("fleetsync.agent")

AGENT_VERSION = "0.1.0"
INVENTORY_NAME = "fleetsync-inventory"
# Objects applied at once within a wave. A real API server answers a server-side apply in ~10-60 ms
# and serves many requests at once, so the wave's time is about objects / WORKERS round trips
# (docs/agent.md, "Performance"); KubeClient pools as many connections.
WORKERS = 16

Obj = dict[str, Any]


class Source(Protocol):
    def fetch_bundle(self, last_accepted: str | None) -> FetchedBundle | None: ...

    def push_report(self, files: Mapping[str, bytes], message: str, author: str) -> str | None: ...

    def beat(self, files: Mapping[str, bytes], message: str, author: str) -> str: ...


@dataclass(frozen=True, slots=True)
class AgentConfig:
    cluster: str
    namespace: str = "fleetsync-system"
    workers: int = WORKERS
    max_prune_share: float = 0.5
    allow_protected: frozenset[tuple[str, str]] = frozenset()
    crd_wait_seconds: float = 60.0
    agent_version: str = AGENT_VERSION


@dataclass(frozen=True, slots=True)
class SyncSummary:
    bundle_id: str
    results: tuple[Result, ...]
    report_commit: str | None
    deleted: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds per phase


@dataclass
class _State:
    bundle: Bundle | None = None
    files: Mapping[str, bytes] = field(default_factory=dict)
    commit: str = ""
    report: ClusterReport | None = None
    drifts: dict[str, ObjectDrift] = field(default_factory=dict)
    fingerprint: bytes = b""
    discovery_fresh: bool = True  # the client discovers on construction
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha256 → parsed manifest


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        kube: Kube,
        source: Source,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        providers: Sequence[PropertyProvider] = (DefaultProvider(),),
        rng: random.Random | None = None,
    ):
        self.config = config
        self.kube = kube
        self.source = source
        self.clock = clock
        self.sleep = sleep
        self.providers = tuple(providers)
        self.rng = rng or random.Random()
        self.state = _State()
        self._lock = threading.Lock()  # one sync at a time; the heartbeat reads the result

    @property
    def author(self) -> str:
        return f"fleetsync-agent-{self.config.cluster}"

    # -- inventory (in-cluster) -------------------------------------------------------------
    def _read_inventory(self) -> tuple[Inventory, str, bool]:
        """(inventory, the bundle commit it was written for, whether the ConfigMap exists)."""
        cm = self.kube.get(self.kube.kind("v1", "ConfigMap"), INVENTORY_NAME, self.config.namespace)
        data = (cm or {}).get("data") or {}
        return Inventory.from_data(data), str(data.get("bundleCommit", "")), cm is not None

    def _write_inventory(self, inv: Inventory, commit: str, *, exists: bool) -> None:
        """Apply the inventory ConfigMap; the agent's namespace first when the ConfigMap was absent
        (a first run), or when the apply says the namespace is gone."""
        ns = self.config.namespace
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        inventory: Obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": INVENTORY_NAME, "namespace": ns, "labels": {"app.kubernetes.io/managed-by": "fleetsync"}},
            "data": {**inv.to_data(), "bundleCommit": commit},
        }
        if not exists:
            self.kube.apply(namespace, force=True)
        try:
            self.kube.apply(inventory, force=True)
        except NotFound:
            self.kube.apply(namespace, force=True)
            self.kube.apply(inventory, force=True)

    # -- one pass ---------------------------------------------------------------------------
    def sync(self) -> SyncSummary:
        with self._lock:
            return self._sync()

    def _sync(self) -> SyncSummary:
        errors: list[str] = []
        st = self.state
        if not st.discovery_fresh:
            self.kube.refresh_discovery()  # a kind was missing last pass: its CRD may be here now
            st.discovery_fresh = True
        timings: dict[str, float] = {}
        mark = self.clock()

        def lap(phase: str) -> None:
            nonlocal mark
            now = self.clock()
            timings[phase] = (now - mark).total_seconds()
            mark = now

        inventory, inv_commit, inv_exists = self._read_inventory()
        source = self._fetch(st.commit or inv_commit or None)
        lap("fetch")
        if not source.fresh:
            errors.append(source.message)
        bundle = st.bundle
        results: tuple[Result, ...] = ()
        deleted: tuple[str, ...] = ()
        prune = PruneSummary()
        new_inventory = inventory
        observing: Observing | None = None
        writing: Future[None] | None = None
        if bundle is not None:
            works = self._works(bundle, st.files)
            lap("parse")
            results = self._apply(bundle, works)
            lap("apply")
            observing = Observing(self.kube)  # health, nodes and pods, read while the prune runs
            st.discovery_fresh = not any(r.outcome == Outcome.WAITING_FOR_CRD for r in results)
            deleted, prune, kept = self._prune(bundle, works, inventory, source.fresh)
            applied = [entry_for(r.live, r.placement) for r in results if r.owned and r.live is not None]
            wanted = {w.identity for w in works}
            held = {e.identity for e in inventory.entries if e.identity in wanted} - {a.identity for a in applied}
            new_inventory = updated_inventory(inventory, applied, deleted, kept | held, bundle.bundle_id)
            if new_inventory.to_data() != inventory.to_data() or inv_commit != st.commit:
                # Written while the report is built; a failed write still fails the pass before
                # the report is pushed.
                writing = in_background(self._write_inventory, new_inventory, st.commit, exists=inv_exists)
            lap("prune")
        now = self.clock()
        collected, healthy, why = (observing or Observing(self.kube)).result(self.providers, now, errors)
        report, drifts = build_report(
            ReportInput(
                cluster=self.config.cluster,
                agent_version=self.config.agent_version,
                now=now,
                bundle_id=bundle.bundle_id if bundle else "",
                bundle_commit=st.commit,
                placements=[
                    PlacementInfo(
                        p.key,
                        p.resource_index,
                        Strategy.parse(p.apply_strategy).type == "ReportDiff",
                        p.unavailable_period_seconds,
                    )
                    for p in (bundle.placements if bundle else ())
                ],
                results=results,
                inventory=[
                    InventoryItem(e.api_version, e.kind, e.namespace, e.name, e.placement, e.uid)
                    for e in new_inventory.entries
                ],
                prune=prune,
                properties=collected.properties,
                usage=ResourceUsage(collected.capacity, collected.allocatable, collected.available),
                source=source,
                health=Health(healthy, why),
            ),
            st.report,
            st.drifts,
        )
        if writing is not None:
            writing.result()
        commit = self._publish(report, drifts, errors)
        lap("report")
        return SyncSummary(report.applied_bundle_id, results, commit, deleted, tuple(errors), timings)

    def _fetch(self, last: str | None) -> SourceState:
        st = self.state
        try:
            fetched = self.source.fetch_bundle(last)
        except SourceError as e:
            log.warning("keeping the last good bundle: %s", e)
            return SourceState(False, str(e)[:1024])
        if fetched is None:
            return SourceState(True, "")
        if fetched.commit != st.commit or st.bundle is None:
            try:
                bundle = parse_bundle(fetched.files)
            except BundleError as e:
                return SourceState(False, f"bundle {fetched.commit[:12]} is not readable: {e}"[:1024])
            st.bundle, st.files, st.commit = bundle, fetched.files, fetched.commit
        return SourceState(True, "")

    def _works(self, bundle: Bundle, files: Mapping[str, bytes]) -> list[Work]:
        strategies = {p.key: Strategy.parse(p.apply_strategy) for p in bundle.placements}
        works = []
        parsed: dict[str, dict[str, Any]] = {}
        for e in bundle.files:
            env = Envelope(e.envelope.kind, e.envelope.namespace, e.envelope.name) if e.envelope else None
            manifest = self.state.manifests.get(e.sha256)
            if manifest is None:
                manifest = load_verified(files[e.path])
            parsed[e.sha256] = manifest
            works.append(Work(e.placement, e.identity, manifest, strategies[e.placement], env))
        self.state.manifests = parsed  # parsed once per content, kept only while in the bundle
        return works

    def _apply(self, bundle: Bundle, works: Sequence[Work]) -> tuple[Result, ...]:
        applier = Applier(
            self.kube,
            self.config.cluster,
            bundle.bundle_id,
            [p.key for p in bundle.placements],
            sleep=self.sleep,
            rng=self.rng,
        )
        return apply_in_waves(
            self.kube,
            applier,
            works,
            workers=self.config.workers,
            clock=self.clock,
            sleep=self.sleep,
            crd_wait_seconds=self.config.crd_wait_seconds,
        )

    def _prune(
        self, bundle: Bundle, works: Sequence[Work], inventory: Inventory, fresh: bool
    ) -> tuple[tuple[str, ...], PruneSummary, set[str]]:
        done = prune(
            self.kube,
            inventory,
            {w.identity for w in works},
            {r.identity for r in bundle.removals},
            cluster=self.config.cluster,
            policy=PrunePolicy(self.config.max_prune_share, allow_protected=self.config.allow_protected),
            source_fresh=fresh,
            workers=self.config.workers,
        )
        return done.deleted, done.summary, done.kept

    def _publish(self, report: ClusterReport, drifts: dict[str, ObjectDrift], errors: list[str]) -> str | None:
        st = self.state
        fp = fingerprint(report, drifts)
        if fp == st.fingerprint:
            return None
        message = commit_message(report, drifts, st.report, st.drifts)
        try:
            commit = self.source.push_report(report_files(report, drifts), message, self.author)
        except SourceError as e:
            errors.append(str(e))
            return None
        st.report, st.drifts, st.fingerprint = report, drifts, fp
        return commit

    # -- heartbeat --------------------------------------------------------------------------
    def heartbeat(self) -> str:
        healthy, why = self.kube.ready()
        previous = self.state.report.health if self.state.report else None
        since = previous.last_transition_time if previous and previous.healthy == healthy else ""
        now = self.clock()
        beat = Heartbeat(
            self.config.cluster,
            format_time(now),
            self.state.bundle.bundle_id if self.state.bundle else "",
            Health(healthy, why, since or format_time(now)),
        )
        return self.source.beat({HEARTBEAT_FILE: dump_heartbeat(beat)}, f"heartbeat {beat.time}", self.author)


class Runner:
    """Runs ``agent.sync`` every ``interval`` seconds and ``agent.heartbeat`` every ``heartbeat``
    seconds on apscheduler's blocking scheduler; a failing pass backs off exponentially with
    jitter up to ``max_backoff``. ``stop()`` may be called from any thread or a signal."""

    def __init__(
        self,
        agent: Agent,
        *,
        interval: float,
        heartbeat: float,
        max_backoff: float = 300.0,
        rng: random.Random | None = None,
    ):
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.agent = agent
        self.interval = interval
        self.heartbeat_period = heartbeat
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        self.failures = 0
        self.passes = 0
        self.scheduler = BlockingScheduler(timezone=UTC)

    def backoff(self) -> float:
        """Seconds until the next pass: the interval, or after failures an exponential delay with jitter."""
        if not self.failures:
            return self.interval
        return float(min(self.max_backoff, self.interval * 2**self.failures) * (0.5 + self.rng.random() / 2))

    def _sync_job(self) -> None:
        try:
            summary = self.agent.sync()
            ok = not summary.errors
            for e in summary.errors:
                log.warning("sync: %s", e)
        except Exception:  # the loop must survive anything one pass throws; it is logged and retried
            log.exception("sync failed")
            ok = False
        self.passes += 1
        self.failures = 0 if ok else self.failures + 1
        self._schedule_sync(self.backoff())

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
            jitter=max(1, int(self.heartbeat_period / 10)),
            id="heartbeat",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)


def run_agent(
    *,
    repo: str,
    cluster: str,
    state_dir: Path,
    kubeconfig: str | None = None,
    context: str | None = None,
    interval: float = 15.0,
    heartbeat: float = 60.0,
    once: bool = False,
    namespace: str = "fleetsync-system",
    providers: Sequence[str] = ("default",),
    workers: int = WORKERS,
) -> int:
    """The composition root of ``fleetsync agent run``: real clock, sleep, git and cluster.

    ``workers``: objects applied at once within a wave (and the client's pooled connections).
    Returns the process exit code: 0, or 3 when ``--once`` saw errors."""
    import time

    from agent.apply.kube import KubeClient
    from agent.properties import provider
    from agent.source import GitSource

    chosen = [provider(p) for p in providers]
    try:
        with (
            KubeClient.from_kubeconfig(kubeconfig, context, connections=workers) as kube,
            GitSource(repo, cluster, state_dir, verify=MemoVerifier(cluster)) as source,
        ):
            agent = Agent(
                AgentConfig(cluster, namespace=namespace, workers=workers),
                kube,
                source,
                clock=lambda: datetime.now(UTC),
                sleep=time.sleep,
                providers=chosen,
            )
            if not once:
                Runner(agent, interval=interval, heartbeat=heartbeat).start()
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
