"""The agent's metrics and readiness, recorded from the ``SyncPass`` its runner hands over.

A sync's summary holds one closed-vocabulary outcome per object (fleetsync_contract's
``Outcome``) and the objects it pruned, so the counts per outcome are read off it, every
outcome always present (0 when none), so an alert on ``outcome="FailedToApply"`` never sees a
missing series. Git is observed at the agent's ``Source`` protocol (agent/loop.py): the
composition root wraps the runner's source in ``CountedSource``, which counts failed fetches
and pushes by the agent's own error classes (a refused bundle is not a failed fetch) and the
size of the bundle last fetched, without the agent knowing metrics exist.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping

from prometheus_client import Counter, Gauge

from agent.errors import BundleRefused, SourceError
from agent.loop import Source
from agent.runner import SyncPass
from agent.source import FetchedBundle
from fleetsync.serve.health import Health
from fleetsync.serve.metrics import Metrics
from fleetsync_contract.report import Outcome

KIND = "Bundle"


class AgentMetrics:
    """The agent-only metrics, beside the shared ones (metrics.py)."""

    def __init__(self, metrics: Metrics, cluster: str):
        r = metrics.registry
        self.cluster = cluster
        self.objects = Gauge(
            "fleetsync_agent_sync_objects",
            "Objects of the last sync by outcome (Applied, Unchanged, Drifted, FailedToApply, Pruned, ...).",
            ("cluster", "outcome"),
            registry=r,
        )
        self.objects_total = Counter(
            "fleetsync_agent_objects",
            "Objects by outcome, summed over every sync.",
            ("cluster", "outcome"),
            registry=r,
        )
        self.bundle_bytes = Gauge(
            "fleetsync_agent_bundle_bytes",
            "Bytes of the bundle (every file of the cluster's bundle branch) last fetched.",
            ("cluster",),
            registry=r,
        )
        self.refused = Counter(
            "fleetsync_agent_bundles_refused",
            "Fetched bundles refused (failed verification, or not descending from the last one).",
            ("cluster",),
            registry=r,
        )
        for outcome in Outcome:
            self.objects.labels(cluster, outcome.value)
            self.objects_total.labels(cluster, outcome.value)
        self.refused.labels(cluster)
        for operation in ("fetch", "push"):
            metrics.git_failures.labels(operation)


class CountedSource:
    """A ``Source`` that counts what its inner source fails at; everything else passes through."""

    def __init__(self, inner: Source, metrics: Metrics, agent: AgentMetrics):
        self.inner = inner
        self.failures = metrics.git_failures
        self.agent = agent

    def _failed(self, operation: str, e: SourceError) -> None:
        if isinstance(e, BundleRefused):
            self.agent.refused.labels(self.agent.cluster).inc()
        else:
            self.failures.labels(operation).inc()

    def _size(self, fetched: FetchedBundle | None) -> FetchedBundle | None:
        if fetched is not None:
            size = sum(len(data) for data in fetched.files.values())
            self.agent.bundle_bytes.labels(self.agent.cluster).set(size)
        return fetched

    def fetch_bundle(self, last_accepted: str | None) -> FetchedBundle | None:
        try:
            return self._size(self.inner.fetch_bundle(last_accepted))
        except SourceError as e:
            self._failed("fetch", e)
            raise

    def local_bundle(self, commit: str) -> FetchedBundle | None:
        try:
            return self._size(self.inner.local_bundle(commit))
        except SourceError as e:
            self._failed("fetch", e)
            raise

    def last_report(self) -> Mapping[str, bytes] | None:
        try:
            return self.inner.last_report()
        except SourceError as e:
            self._failed("fetch", e)
            raise

    def push_report(self, files: Mapping[str, bytes], message: str, author: str) -> str | None:
        try:
            return self.inner.push_report(files, message, author)
        except SourceError as e:
            self._failed("push", e)
            raise

    def beat(self, files: Mapping[str, bytes], message: str, author: str) -> str:
        try:
            return self.inner.beat(files, message, author)
        except SourceError as e:
            self._failed("push", e)
            raise


class AgentRecorder:
    """``Runner.on_pass`` for the agent."""

    def __init__(
        self, metrics: Metrics, health: Health, cluster: str, *, wall: Callable[[], float] = time.time
    ):
        self.metrics = metrics
        self.health = health
        self.agent = AgentMetrics(metrics, cluster)
        self.labels = (KIND, cluster, "")
        self.wall = wall
        for result in ("success", "error"):  # every series exists from the start, at 0
            metrics.reconciles.labels(*self.labels, result)

    def __call__(self, done: SyncPass) -> None:
        try:
            self._record(done)
        finally:
            self.health.finished()

    def _record(self, done: SyncPass) -> None:
        m, a = self.metrics, self.agent
        m.duration.labels(*self.labels).observe(done.seconds)
        ok = done.summary is not None and not done.summary.errors
        m.reconciles.labels(*self.labels, "success" if ok else "error").inc()
        if ok:
            m.last_success.labels(*self.labels).set(self.wall())
        m.set_conditions(KIND, [((*self.labels, "Ready"), "True" if ok else "False")])
        if done.summary is None:
            return
        counts = Tally(r.outcome.value for r in done.summary.results)
        counts[Outcome.PRUNED.value] += len(done.summary.deleted)
        for outcome in Outcome:
            n = counts[outcome.value]
            a.objects.labels(a.cluster, outcome.value).set(n)
            a.objects_total.labels(a.cluster, outcome.value).inc(n)
