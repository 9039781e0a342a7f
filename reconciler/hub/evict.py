"""Evictions inside one hub reconcile: the glue between the loop and reconciler/rollout/eviction.py.

Before a placement is scheduled, every ClusterResourcePlacementEviction that targets it is
evaluated against the placement's bindings, what the agents report about them and the
placement's disruption budget (KubeFleet §11). An executed eviction removes the binding, so the
cluster's bundle loses the placement's objects (``ClusterUnselected``) unless the scheduler
picks the cluster again in the same reconcile (KubeFleet's advice: taint the cluster first).
Each eviction's conditions are kept on ``fleet/status`` under ``evictions/<name>.yaml``; a
terminal one (invalid, or decided) is read back and never evaluated again.

``evict`` is the pipeline's evict stage (reconciler/hub/pipeline.py): it starts from the
bindings the hub memory remembers and returns, frozen, what the scheduler starts from and which
remembered records survive; ``apply_evictions`` is the evaluation it shares with the orphaned
evictions of ``eviction_files``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetsync_contract.canonical import dump
from reconciler.api.eviction import Eviction
from reconciler.api.placement import Placement
from reconciler.hub.bindings import prior_binding
from reconciler.hub.inputs import HubInputs
from reconciler.hub.outcome import current_report, ready_facts
from reconciler.load.fleet import FleetSpec
from reconciler.rollout.eviction import EXECUTED, BindingHealth, Budget, EvictionCondition, evaluate_eviction
from reconciler.scheduler.model import Binding
from reconciler.status.conditions import Condition, Status, with_transition_times
from reconciler.status.memory import BindingRecord, PlacementMemory

PreviousDoc = Callable[[str], Mapping[str, Any] | None]
API_VERSION = "placement.kubernetes-fleet.io/v1beta1"


def eviction_path(name: str) -> str:
    return f"evictions/{name}.yaml"


@dataclass(frozen=True, slots=True)
class Evicted:
    bindings: tuple[Binding, ...]  # the placement's bindings after every eviction
    executed: tuple[str, ...]  # names of evictions executed (now or before)
    docs: Mapping[str, Mapping[str, Any]]  # status path -> eviction document


@dataclass(frozen=True, slots=True)
class PlacementEvictions:
    """The evict stage's result for one placement."""

    bindings: tuple[
        Binding, ...
    ]  # what the scheduler starts from: the remembered bindings, evicted ones gone
    records: Mapping[str, BindingRecord]  # cluster -> remembered record, evicted ones gone (off the bundle)
    executed: tuple[str, ...]  # names of evictions executed (now or before)
    docs: Mapping[str, Mapping[str, Any]]  # status path -> eviction document


def _previous_conditions(doc: Mapping[str, Any] | None) -> tuple[EvictionCondition, ...]:
    out: list[EvictionCondition] = []
    for c in ((doc or {}).get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping):
            try:
                out.append(
                    EvictionCondition(
                        str(c.get("type")),
                        Status(str(c.get("status"))),
                        str(c.get("reason", "")),
                        str(c.get("message", "")),
                    )
                )
            except ValueError:
                continue
    return tuple(out)


def _doc(
    e: Eviction, conditions: Sequence[EvictionCondition], previous: Mapping[str, Any] | None, now: datetime
) -> dict[str, Any]:
    conds = [Condition(c.type, c.status, c.reason, c.message) for c in conditions]
    before = ((previous or {}).get("status") or {}).get("conditions") or []
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterResourcePlacementEviction",
        "metadata": {"name": e.name},
        "spec": {"placementName": e.placement_name, "clusterName": e.cluster_name},
        "status": {"conditions": with_transition_times(conds, before, now)},
    }


def apply_evictions(
    evictions: Sequence[Eviction],
    placement: Placement | None,
    bindings: Sequence[Binding],
    health: Mapping[str, BindingHealth],
    budget: Budget | None,
    previous: PreviousDoc,
    now: datetime,
) -> Evicted:
    """Evaluate ``evictions`` (all of one placement) in name order; see the module docstring."""
    current = tuple(bindings)
    executed: list[str] = []
    docs: dict[str, Mapping[str, Any]] = {}
    for e in sorted(evictions, key=lambda e: e.name):
        path = eviction_path(e.name)
        before = previous(path)
        result = evaluate_eviction(
            e.cluster_name, placement, current, health, budget, _previous_conditions(before)
        )
        if result.executed:
            executed.append(e.name)
            if not any(c.type == EXECUTED for c in _previous_conditions(before)):
                current = result.bindings  # executed now (a recorded one already took effect)
        docs[path] = _doc(e, result.conditions, before, now)
    return Evicted(current, tuple(executed), docs)


def evict(
    *,
    key: str,
    placement: Placement,
    spec: FleetSpec,
    inputs: HubInputs,
    previous: PlacementMemory | None,
    now: datetime,
) -> PlacementEvictions:
    """Every eviction of the placement ``key`` against its remembered bindings, judged by what the
    agents report about the bundle now on each cluster and by the placement's disruption budget
    (a ResourcePlacement has none)."""
    records = {b.cluster: b for b in previous.bindings} if previous is not None else {}
    prior = [prior_binding(r) for r in records.values()]
    health = {
        c: BindingHealth(
            **{
                k: v
                for k, v in ready_facts(current_report(inputs, c, key, r)).items()
                if k in ("available", "failed", "diff_reported")
            }
        )
        for c, r in records.items()
    }
    evicted = apply_evictions(
        [e for e in spec.evictions.values() if e.placement_key == key],
        placement,
        prior,
        health,
        spec.budgets.get(placement.name) if not placement.namespaced else None,
        inputs.previous_doc,
        now,
    )
    gone = {b.cluster for b in prior} - {b.cluster for b in evicted.bindings}
    return PlacementEvictions(
        bindings=evicted.bindings,
        records={c: r for c, r in records.items() if c not in gone},
        executed=evicted.executed,
        docs=evicted.docs,
    )


def eviction_files(
    spec: FleetSpec, docs: Sequence[Mapping[str, Mapping[str, Any]]], previous: PreviousDoc, now: datetime
) -> dict[str, bytes]:
    """Every eviction document for fleet/status; an eviction of a placement not in the commit is
    invalid (KubeFleet: the placement is missing)."""
    merged: dict[str, Mapping[str, Any]] = {path: doc for group in docs for path, doc in group.items()}
    orphans = [e for e in spec.evictions.values() if e.placement_key not in spec.placements]
    merged.update(apply_evictions(orphans, None, (), {}, None, previous, now).docs)
    return {path: dump(merged[path]) for path in sorted(merged)}
