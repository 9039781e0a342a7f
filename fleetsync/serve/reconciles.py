"""The hub's metrics and readiness, recorded from the ``HubPass`` its loop hands over.

A pass says how long it took and how it ended; the conditions of placements and member
clusters are read from what the hub itself wrote to ``fleet/status`` (KubeFleet-shaped
documents, reconciler/status/views.py), and only when that branch moved, so a quiet fleet costs
one ``for-each-ref`` per pass. Git failures are counted where they happen: the repository's
``refresh`` (fetch) and ``publish`` (push) are wrapped on the one ``HubRepo`` instance the hub
runs with, since the hub's git door (reconciler/gitstore/) must not know about Prometheus and
its ``GitFailure`` does not say which of the two failed. A race lost to another hub is no
failure: it has its own counter.

The recorder runs on the loop's thread right after the pass, so it reads the repository
while nothing else does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import Counter

from fleetsync.serve.health import Health
from fleetsync.serve.metrics import Key, Metrics
from reconciler.errors import FleetsyncError
from reconciler.gitstore.refs import GitFailure, RefUpdate
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.inputs import STATUS_HEAD
from reconciler.hub.run import HubPass
from reconciler.status.read import status_docs

log = logging.getLogger(__name__)

KIND = "FleetRepo"
GROUPS = ("placements", "clusters")  # status branch folders whose documents carry conditions


def conditions(docs: Sequence[Mapping[str, Any]]) -> Iterator[tuple[Key, str]]:
    """(kind, name, namespace, type) → status of every condition in KubeFleet-shaped documents."""
    for doc in docs:
        meta = doc.get("metadata") or {}
        for c in (doc.get("status") or {}).get("conditions") or []:
            if isinstance(c, Mapping) and c.get("type"):
                key = (str(doc.get("kind", "")), str(meta.get("name", "")), str(meta.get("namespace") or ""))
                yield (*key, str(c["type"])), str(c.get("status", "Unknown"))


def count_git_failures(repo: HubRepo, failures: Counter) -> None:
    """Count ``GitFailure`` of ``repo.refresh`` as fetch and of ``repo.publish`` as push."""
    refresh, publish = repo.refresh, repo.publish

    def counted_refresh(source: bool = True) -> None:
        try:
            refresh(source)
        except GitFailure:
            failures.labels("fetch").inc()
            raise

    def counted_publish(updates: Sequence[RefUpdate]) -> None:
        try:
            publish(updates)
        except GitFailure:
            failures.labels("push").inc()
            raise

    repo.refresh = counted_refresh  # type: ignore[method-assign]
    repo.publish = counted_publish  # type: ignore[method-assign]


class HubRecorder:
    """``Runner.on_pass`` for the hub."""

    def __init__(
        self, metrics: Metrics, health: Health, repo: HubRepo, *, wall: Callable[[], float] = time.time
    ):
        self.metrics = metrics
        self.health = health
        self.repo = repo
        self.wall = wall
        self.labels = (KIND, repo.branch, "")
        self.races = Counter(
            "fleetsync_hub_ref_races",
            "Reconciles that lost a ref update to another writer and re-read.",
            registry=metrics.registry,
        )
        self._status: str | None = None  # the status commit whose conditions the gauges hold
        for operation in ("fetch", "push"):  # every series exists from the start, at 0
            metrics.git_failures.labels(operation)
        for result in ("success", "invalid", "error"):
            metrics.reconciles.labels(*self.labels, result)
        count_git_failures(repo, metrics.git_failures)

    def __call__(self, done: HubPass) -> None:
        try:
            self._record(done)
        finally:
            self.health.finished()

    def _record(self, done: HubPass) -> None:
        m = self.metrics
        m.duration.labels(*self.labels).observe(done.seconds)
        outcome = "error" if done.result is None else "success" if done.result.loaded else "invalid"
        m.reconciles.labels(*self.labels, outcome).inc()
        if outcome == "success":
            m.last_success.labels(*self.labels).set(self.wall())
        m.set_conditions(KIND, [((*self.labels, "Ready"), "True" if outcome == "success" else "False")])
        if done.result is None:
            return
        if done.result.attempts > 1:
            self.races.inc(done.result.attempts - 1)
        try:
            self._status_conditions()
        except (FleetsyncError, ValueError) as e:  # the metrics wait for the next pass
            log.warning("cannot read fleet/status for metrics", extra={"error": str(e)})

    def _status_conditions(self) -> None:
        commit = self.repo.hub_refs().get(STATUS_HEAD)
        if commit is None or commit == self._status:
            return
        for group in GROUPS:
            files = self.repo.read_files(commit, group)
            self.metrics.set_conditions(group, conditions(status_docs(files, f"{group}/", group)))
        self._status = commit
