"""The placement and cluster pages' view models: the status documents, laid out for a person.

The placement page is ``get placements NAME -o yaml`` in tables: its conditions, the scheduler's
decision for every cluster of the fleet, picked or not, with the reason and score the status
branch holds (a picked cluster's Scheduled message and its binding's score in the hub's memory;
for one not picked, the hub's reason to hold it ineligible, the binding it no longer picks, or
the reason and score the placement's policy snapshot records — KubeFleet keeps at most 20 — and
otherwise a plain "no reason recorded": the view never re-runs the scheduler, whose answer from
scratch could differ from the hub's sticky one), the rollout per cluster, the overrides that
applied, failed, drifted and diffed objects and the policy gate's findings. The cluster page
joins the cluster's MemberCluster document with every placement's entry for it and its report
branch's drifts.
Drift values are masked again here (as ``get drift`` does) for a Secret's data, whichever
document they came from, so no page can show one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetsync.ui.model import (
    CellState,
    CommitLinks,
    Link,
    agent_conditions,
    cell_state,
    cluster_entries,
    conditions,
    display_name,
    heartbeat,
    labels,
    placement_key,
)
from fleetsync.ui.state import FleetState
from fleetsync_contract.report import REDACTED
from reconciler.drift.reports import DriftEntry
from reconciler.drift.values import is_secret_data
from reconciler.rollout.rolling import BindingState
from reconciler.status.members import ELIGIBLE_ANNOTATION, INELIGIBLE_REASON_ANNOTATION
from reconciler.status.memory import BindingRecord, PlacementMemory

MAX_ROWS = 100  # objects listed per list of a page (the status branch caps them at 100 too)


class NotFound(LookupError):
    """No such placement, cluster or run on the status branch (answered 404)."""


@dataclass(frozen=True, slots=True)
class ConditionRow:
    type: str
    status: str
    reason: str
    message: str
    since: str


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    hub: str  # "" absent
    member: str


@dataclass(frozen=True, slots=True)
class ObjectDriftRow:
    placement: str
    identity: str
    type: str  # Drift or Diff
    first_observed: str
    observed: str
    generation: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, slots=True)
class FailedObject:
    identity: str
    condition: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Violation:
    policy: str
    action: str
    identity: str
    message: str


@dataclass(frozen=True, slots=True)
class PlacementOnCluster:
    cluster: str
    state: CellState
    index: str
    decision: str  # the Scheduled condition's message (scores included)
    score: str  # the binding's score in the hub's memory
    bound_since: str
    rollout: str  # RolloutStarted status
    rollout_message: str
    cluster_overrides: tuple[str, ...]
    resource_overrides: tuple[str, ...]
    conditions: tuple[ConditionRow, ...]
    failed: tuple[FailedObject, ...]
    drifted: tuple[ObjectDriftRow, ...]
    violations: tuple[Violation, ...]


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """The scheduler's decision on one cluster of the fleet, for one placement."""

    cluster: str
    picked: bool
    state: CellState  # the placement's state on the cluster (NOT_SELECTED when not picked)
    index: str
    reason: str
    score: str  # "affinity 99, topology spread -1" from the binding the hub remembers; "" none


@dataclass(frozen=True, slots=True)
class PlacementPage:
    key: str
    name: str
    kind: str
    index: str
    snapshot: Link | None  # the fleet commit that made the latest resource snapshot
    status: Link | None
    conditions: tuple[ConditionRow, ...]
    selected: tuple[str, ...]
    clusters: tuple[PlacementOnCluster, ...]
    unfilled: tuple[str, ...]  # why a slot found no cluster (PickN)
    decisions: tuple[DecisionRow, ...]  # every cluster: the picked ones first, then the others by name
    policy_snapshot: str = ""  # the policy snapshot the not-picked reasons come from ("" none recorded)


@dataclass(frozen=True, slots=True)
class PlacementState:
    key: str
    name: str
    state: CellState
    index: str


@dataclass(frozen=True, slots=True)
class ClusterPage:
    name: str
    labels: tuple[tuple[str, str], ...]
    taints: tuple[str, ...]
    agent: tuple[ConditionRow, ...]
    eligible: str
    ineligible_reason: str
    heartbeat: str
    heartbeat_period: str
    properties: tuple[tuple[str, str, str], ...]  # name, value, observed
    usage: tuple[tuple[str, str, str, str], ...]  # resource, capacity, allocatable, available
    placements: tuple[PlacementState, ...]
    drifts: tuple[ObjectDriftRow, ...]
    report: Link | None  # the report branch's tip: where the drifts were committed
    bundle: Link | None  # the bundle branch's tip the hub wrote
    status: Link | None


def _conditions(items: Any) -> tuple[ConditionRow, ...]:
    return tuple(
        ConditionRow(
            str(c.get("type", "")),
            str(c.get("status", "")),
            str(c.get("reason", "")),
            str(c.get("message", "")),
            str(c.get("lastTransitionTime", "")),
        )
        for c in items or []
        if isinstance(c, Mapping)
    )


def _identity(o: Mapping[str, Any]) -> str:
    return f"{o.get('group', '')}/{o.get('kind', '')}/{o.get('namespace', '')}/{o.get('name', '')}"


def _value(group: str, kind: str, path: str, value: Any) -> str:
    if value is None:
        return ""
    return REDACTED if is_secret_data(group, kind, path) else str(value)


def _status_drifts(entry: Mapping[str, Any], placement: str) -> tuple[ObjectDriftRow, ...]:
    rows: list[ObjectDriftRow] = []
    for field_, list_, word in (
        ("driftedPlacements", "observedDrifts", "Drift"),
        ("diffedPlacements", "observedDiffs", "Diff"),
    ):
        for d in (entry.get(field_) or [])[:MAX_ROWS]:
            group, kind = str(d.get("group", "")), str(d.get("kind", ""))
            changes = tuple(
                FieldChange(
                    str(x.get("path", "")),
                    _value(group, kind, str(x.get("path", "")), x.get("valueInHub")),
                    _value(group, kind, str(x.get("path", "")), x.get("valueInMember")),
                )
                for x in d.get(list_) or []
            )
            first = d.get("firstDriftedObservedTime") or d.get("firstDiffedObservedTime") or ""
            gen = d.get("targetClusterObservedGeneration")
            rows.append(
                ObjectDriftRow(
                    placement,
                    _identity(d),
                    word,
                    str(first),
                    str(d.get("observationTime", "")),
                    "" if gen is None else str(gen),
                    changes,
                )
            )
    return tuple(rows)


def report_drifts(entries: tuple[DriftEntry, ...], cluster: str) -> tuple[ObjectDriftRow, ...]:
    """The drift files of one cluster's report branch (values already masked by read_all)."""
    return tuple(
        ObjectDriftRow(
            e.drift.placement,
            e.drift.identity,
            e.drift.type.value,
            e.drift.first_observed_time,
            e.drift.observation_time,
            "" if e.drift.observed_generation is None else str(e.drift.observed_generation),
            tuple(
                FieldChange(x.path, x.value_in_hub or "", x.value_in_member or "") for x in e.drift.details
            ),
        )
        for e in entries
        if e.cluster == cluster
    )[:MAX_ROWS]


SCORE_NAMES = {"affinityScore": "affinity", "priorityScore": "topology spread"}  # KubeFleet's API keys
NO_REASON = "eligible, not picked; no reason recorded"  # the template says where to find one


def _score_text(score: Mapping[str, Any]) -> str:
    return ", ".join(f"{SCORE_NAMES.get(k, k)} {v}" for k, v in sorted(score.items()))


def _score(binding: BindingRecord | None) -> str:
    return "" if binding is None else _score_text(binding.score)


def recorded(snapshot: Mapping[str, Any] | None) -> dict[str, tuple[str, str]]:
    """cluster -> (reason, score) of every not-picked decision the policy snapshot records."""
    out: dict[str, tuple[str, str]] = {}
    for d in ((snapshot or {}).get("status") or {}).get("targetClusters") or []:
        if isinstance(d, Mapping) and not d.get("selected") and d.get("clusterName"):
            score = d.get("clusterScore")
            out[str(d["clusterName"])] = (
                str(d.get("reason", "")),
                _score_text(score) if isinstance(score, Mapping) else "",
            )
    return out


def _on_cluster(key: str, entry: Mapping[str, Any], state: FleetState) -> PlacementOnCluster:
    cluster = str(entry.get("clusterName", ""))
    conds = conditions(entry)
    memory = state.memory.placements.get(key)
    binding = memory.binding(cluster) if memory is not None else None
    score = _score(binding)
    rollout = conds.get("RolloutStarted") or {}
    return PlacementOnCluster(
        cluster=cluster,
        state=cell_state(entry),
        index=str(entry.get("observedResourceIndex", "")),
        decision=str((conds.get("Scheduled") or {}).get("message", "")),
        score=score,
        bound_since=binding.bound_time if binding else "",
        rollout=str(rollout.get("status", "")),
        rollout_message=str(rollout.get("message", "")),
        cluster_overrides=tuple(str(o) for o in entry.get("applicableClusterResourceOverrides") or []),
        resource_overrides=tuple(
            f"{o.get('namespace', '')}/{o.get('name', '')}"
            for o in entry.get("applicableResourceOverrides") or []
        ),
        conditions=_conditions(entry.get("conditions")),
        failed=tuple(
            FailedObject(
                _identity(f),
                str((f.get("condition") or {}).get("type", "")),
                str((f.get("condition") or {}).get("reason", "")),
                str((f.get("condition") or {}).get("message", "")),
            )
            for f in (entry.get("failedPlacements") or [])[:MAX_ROWS]
        ),
        drifted=_status_drifts(entry, key),
        violations=tuple(
            Violation(
                str(v.get("policy", "")),
                str(v.get("action", "")),
                str(v.get("identity", "")),
                str(v.get("message", "")),
            )
            for v in (entry.get("policyViolations") or [])[:MAX_ROWS]
        ),
    )


def _ineligible(cluster: Mapping[str, Any]) -> str:
    """Why the hub holds a cluster ineligible for every placement ("" when it is eligible)."""
    annotations = (cluster.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get(ELIGIBLE_ANNOTATION, "")) != "false":
        return ""
    return "ineligible: " + str(annotations.get(INELIGIBLE_REASON_ANNOTATION, "") or "unknown reason")


def _why_not(cluster: Mapping[str, Any], binding: BindingRecord | None, reason: str) -> str:
    """Why a cluster without an entry in the placement's status was not picked, as far as the
    status branch says: ineligible, de-selected (a binding the scheduler no longer picks), the
    scheduler's ``reason`` from the policy snapshot, or no reason."""
    if why := _ineligible(cluster):
        return why
    if binding is not None and binding.state == BindingState.UNSCHEDULED:
        since = f" (bound since {binding.bound_time})" if binding.bound_time else ""
        why = f"no longer picked: its binding is Unscheduled{since} and its objects are being removed"
        return f"{why}; {reason}" if reason else why
    return reason or NO_REASON


def decisions(
    picked: Mapping[str, Mapping[str, Any]],
    clusters: Sequence[Mapping[str, Any]],
    memory: PlacementMemory | None,
    snapshot: Mapping[str, Any] | None = None,
) -> tuple[DecisionRow, ...]:
    """Picked or not, why and with which score, for every cluster of the fleet (``snapshot``:
    the placement's policy snapshot, where the scheduler records the clusters it did not pick)."""

    def binding(name: str) -> BindingRecord | None:
        return memory.binding(name) if memory is not None else None

    rows = [
        DecisionRow(
            name,
            str((conditions(entry).get("Scheduled") or {}).get("status")) == "True",
            cell_state(entry),
            str(entry.get("observedResourceIndex", "")),
            str((conditions(entry).get("Scheduled") or {}).get("message", "")),
            _score(binding(name)),
        )
        for name, entry in picked.items()
    ]
    others = sorted(
        ((str((c.get("metadata") or {}).get("name", "")), c) for c in clusters if isinstance(c, Mapping)),
        key=lambda named: named[0],
    )
    why = recorded(snapshot)
    rows += [
        DecisionRow(
            name,
            False,
            CellState.NOT_SELECTED,
            "",
            _why_not(c, binding(name), why.get(name, ("", ""))[0]),
            _score(binding(name)) or why.get(name, ("", ""))[1],
        )
        for name, c in others
        if name not in picked
    ]
    return tuple(rows)


def placement_page(state: FleetState, key: str, links: CommitLinks) -> PlacementPage:
    doc = next((d for d in state.placements if placement_key(d) == key), None)
    if doc is None:
        raise NotFound(f"placement {key!r} is not on the status branch")
    status = doc.get("status") or {}
    memory = state.memory.placements.get(key)
    latest = memory.latest if memory is not None else None
    picked = cluster_entries(doc)
    snapshot = state.policy_snapshots.get(key)
    return PlacementPage(
        key=key,
        name=display_name(doc),
        kind=str(doc.get("kind", "")),
        index=str(status.get("observedResourceIndex", "")),
        snapshot=links.link(latest.commit) if latest is not None else None,
        status=links.link(state.status_commit),
        conditions=_conditions(status.get("conditions")),
        selected=tuple(_identity(r) for r in (status.get("selectedResources") or [])[: MAX_ROWS * 10]),
        clusters=tuple(_on_cluster(key, e, state) for e in picked.values()),
        unfilled=tuple(
            str((conditions(e).get("Scheduled") or {}).get("message", ""))
            for e in status.get("placementStatuses") or []
            if isinstance(e, Mapping) and not e.get("clusterName")
        ),
        decisions=decisions(picked, state.clusters, memory, snapshot),
        policy_snapshot=str(((snapshot or {}).get("metadata") or {}).get("name", "")),
    )


def _use(usage: Mapping[str, Any], part: str, resource: str) -> str:
    return str((usage.get(part) or {}).get(resource, ""))


def cluster_page(state: FleetState, name: str, links: CommitLinks) -> ClusterPage:
    doc = next((d for d in state.clusters if (d.get("metadata") or {}).get("name") == name), None)
    if doc is None:
        raise NotFound(f"cluster {name!r} is not on the status branch")
    meta, spec, status = doc.get("metadata") or {}, doc.get("spec") or {}, doc.get("status") or {}
    annotations = meta.get("annotations") or {}
    usage = status.get("resourceUsage") or {}
    resources = sorted(
        {r for part in ("capacity", "allocatable", "available") for r in usage.get(part) or {}}
    )
    placements = []
    for p in state.placements:
        entry = cluster_entries(p).get(name)
        if entry is not None:
            placements.append(
                PlacementState(
                    placement_key(p),
                    display_name(p),
                    cell_state(entry),
                    str(entry.get("observedResourceIndex", "")),
                )
            )
    bundle = state.memory.bundles.get(name)
    return ClusterPage(
        name=name,
        labels=labels(doc),
        taints=tuple(
            f"{t.get('key', '')}={t.get('value', '')}:{t.get('effect', '')}" for t in spec.get("taints") or []
        ),
        agent=_conditions(list(agent_conditions(doc).values())),
        eligible=str(annotations.get(ELIGIBLE_ANNOTATION, "")),
        ineligible_reason=str(annotations.get(INELIGIBLE_REASON_ANNOTATION, "")),
        heartbeat=heartbeat(doc),
        heartbeat_period=str(spec.get("heartbeatPeriodSeconds", "")),
        properties=tuple(
            (str(k), str((v or {}).get("value", "")), str((v or {}).get("observationTime", "")))
            for k, v in sorted((status.get("properties") or {}).items())
        ),
        usage=tuple(
            (r, _use(usage, "capacity", r), _use(usage, "allocatable", r), _use(usage, "available", r))
            for r in resources
        ),
        placements=tuple(placements),
        drifts=report_drifts(state.drifts, name),
        report=links.link(state.report_tips.get(name, "")),
        bundle=links.link(bundle.commit) if bundle is not None else None,
        status=links.link(state.status_commit),
    )
