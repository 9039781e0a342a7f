"""Every metric fleetsync exports, in one registry per process (docs/operations.md lists them).

Where Flux has a metric for the same thing, ours has Flux's name and labels, so a Flux dashboard
or alert works unchanged: ``gotk_reconcile_duration_seconds`` (histogram) and
``gotk_reconcile_condition`` (gauge, 1 for the condition's current status and 0 for the others)
with ``kind``, ``name``, ``namespace``. The hub reports one kind ``FleetRepo`` (name: the fleet
branch) for its reconcile, and the conditions of the placements and member clusters it writes
to ``fleet/status``; the agent reports kind ``Bundle`` (name: its cluster). Everything without a
Flux counterpart is ``fleetsync_*``. The registry is an instance, never prometheus_client's
global one, so every test (and every process) starts from zero.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

OBJECT = ("kind", "name", "namespace")
STATUSES = ("True", "False", "Unknown")
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

Key = tuple[str, str, str, str]  # kind, name, namespace, condition type


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.duration = Histogram(
            "gotk_reconcile_duration_seconds",
            "Seconds one reconcile (hub) or sync (agent) took, failed ones included.",
            OBJECT,
            registry=r,
            buckets=BUCKETS,
        )
        self.condition = Gauge(
            "gotk_reconcile_condition",
            "1 for an object's condition's current status, 0 for the other statuses.",
            (*OBJECT, "type", "status"),
            registry=r,
        )
        self.reconciles = Counter(
            "fleetsync_reconcile",
            "Passes by result: success, invalid (the fleet commit does not load), error.",
            (*OBJECT, "result"),
            registry=r,
        )
        self.last_success = Gauge(
            "fleetsync_last_success_timestamp_seconds",
            "Unix time at which the last successful pass ended.",
            OBJECT,
            registry=r,
        )
        self.git_failures = Counter(
            "fleetsync_git_failures",
            "Git operations that failed, by operation (fetch, push).",
            ("operation",),
            registry=r,
        )
        self._conditions: dict[str, set[Key]] = {}  # per group of objects: the series it set

    def set_conditions(self, group: str, conditions: Iterable[tuple[Key, str]]) -> None:
        """Set the condition gauges of one group of objects (``placements``, ``clusters``, ...)
        to exactly ``conditions``: series of objects or types no longer there are removed."""
        now: set[Key] = set()
        for key, status in conditions:
            now.add(key)
            for s in STATUSES:
                self.condition.labels(*key, s).set(1 if s == status else 0)
        for gone in self._conditions.get(group, set()) - now:
            for s in STATUSES:
                self.condition.remove(*gone, s)
        self._conditions[group] = now
