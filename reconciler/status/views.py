"""KubeFleet-shaped status documents on ``fleet/status`` (docs/formats.md §4).

A user who knows ``kubectl get crp web -o yaml`` should read ``placements/<key>.yaml`` without a
manual: the same ``status`` shape (conditions with KubeFleet's types and reasons,
``selectedResources``, ``observedResourceIndex``, ``placementStatuses`` with failed / drifted /
diffed lists capped at 100 and the applicable overrides); ``clusters/<name>.yaml`` reads like a
MemberCluster (reconciler/status/members.py writes it). This module also names the branch's
files and writes them all (``status_files``).

The inputs are small views the loop assembles (``PlacementView``, ``ClusterView``) so that this
module depends on the stages' *results*, not on how they are computed. Everything is pure and
deterministic: condition ``lastTransitionTime`` is carried over from the previous document while
the status is unchanged (reconciler/status/conditions.py), nothing else holds a time that is not an
input, so a reconcile whose inputs did not change produces byte-identical files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleetsync_contract.bundle import EnvelopeRef
from fleetsync_contract.canonical import dump
from fleetsync_contract.report import (
    APPLIED_OUTCOMES,
    PROGRESS_DEADLINE_EXCEEDED,
    TERMINAL_AVAILABLE_REASONS,
    Availability,
    DriftType,
    ObjectDrift,
    ObjectResult,
    Outcome,
    PlacementReport,
)
from reconciler.drift.values import masked
from reconciler.status.conditions import (
    APPLY_ORDER,
    REPORT_DIFF_ORDER,
    Condition,
    ResourceCondition,
    Status,
    aggregate,
    placement_condition_type,
    with_transition_times,
)
from reconciler.status.memory import STATUS_FILE, HubMemory, dump_memory

MAX_LISTED = 100  # failedPlacements / driftedPlacements / diffedPlacements (KubeFleet's cap)
PLACEMENT_API_VERSION = "placement.kubernetes-fleet.io/v1beta1"

_CLUSTER_REASONS: dict[ResourceCondition, dict[Status, str]] = {
    ResourceCondition.ROLLOUT_STARTED: {
        Status.TRUE: "RolloutStarted",
        Status.FALSE: "RolloutNotStartedYet",
        Status.UNKNOWN: "RolloutStartedUnknown",
    },
    ResourceCondition.OVERRIDDEN: {
        Status.TRUE: "OverriddenSucceeded",
        Status.FALSE: "OverriddenFailed",
        Status.UNKNOWN: "OverriddenPending",
    },
    ResourceCondition.WORK_SYNCHRONIZED: {
        Status.TRUE: "WorkSynchronized",
        Status.FALSE: "WorkNotSynchronizedYet",
        Status.UNKNOWN: "WorkSynchronizedUnknown",
    },
    ResourceCondition.APPLIED: {
        Status.TRUE: "ApplySucceeded",
        Status.FALSE: "ApplyFailed",
        Status.UNKNOWN: "ApplyPending",
    },
    ResourceCondition.AVAILABLE: {
        Status.TRUE: "ResourceAvailable",
        Status.FALSE: "ResourceNotAvailableYet",
        Status.UNKNOWN: "ResourceAvailableUnknown",
    },
    ResourceCondition.DIFF_REPORTED: {
        Status.TRUE: "DiffReportingCompleted",
        Status.FALSE: "DiffReportingIncompleteOrFailed",
        Status.UNKNOWN: "DiffReportingPending",
    },
}
_FAILED_OUTCOMES = frozenset(
    {
        Outcome.FAILED_TO_APPLY,
        Outcome.FAILED_TO_TAKE_OVER,
        Outcome.APPLY_CONFLICT_BETWEEN_PLACEMENTS,
        Outcome.MANIFESTS_ALREADY_OWNED_BY_OTHERS,
        Outcome.WAITING_FOR_CRD,
        Outcome.SKIPPED_TAKE_OVER_NEVER,
        Outcome.DRIFTED,
    }
)


@dataclass(frozen=True, slots=True)
class SelectedResource:
    """KubeFleet's ResourceIdentifier of one selected (or unwrapped) object."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str
    envelope: EnvelopeRef | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "group": self.group,
            "version": self.version,
            "kind": self.kind,
            "name": self.name,
        }
        if self.namespace:
            out["namespace"] = self.namespace
        if self.envelope is not None:
            out["envelope"] = {
                "name": self.envelope.name,
                "namespace": self.envelope.namespace,
                "type": self.envelope.kind,
            }
        return out


@dataclass(frozen=True, slots=True)
class ClusterView:
    """One placement on one cluster as the stages left it; ``cluster == ""`` is an unfilled slot."""

    cluster: str
    scheduled: Status = Status.TRUE
    scheduled_message: str = ""
    rollout: Status = Status.UNKNOWN  # True: the bundle holds the latest; False: held by the strategy
    rollout_message: str = ""
    overridden: Status = Status.TRUE
    override_message: str = ""
    applicable_cluster_overrides: tuple[str, ...] = ()  # ClusterResourceOverride names
    applicable_resource_overrides: tuple[tuple[str, str], ...] = ()  # (namespace, name)
    bound_index: int | None = None  # resource index in the cluster's bundle
    bundle_id: str = ""  # the cluster's published bundle id ("" none)
    report: PlacementReport | None = None  # this placement's entry in the agent's report
    # the report is about an older bundle whose share for this placement is the same (digest)
    same_share: bool = False
    drifts: Mapping[str, ObjectDrift] = field(default_factory=dict)  # by drift path
    policy_violations: tuple[Mapping[str, str], ...] = ()  # the policy gate's, for the change it judged
    pick: tuple[int, int] | None = None  # (scheduling cycle, pick order) when the scheduler picked it


@dataclass(frozen=True, slots=True)
class PlacementView:
    kind: str
    namespace: str
    name: str
    key: str
    scheduled: Condition  # the placement-level Scheduled condition (type set here)
    selected: tuple[SelectedResource, ...] = ()
    observed_index: str = ""
    report_diff: bool = False
    external: bool = False
    clusters: tuple[ClusterView, ...] = ()


# -- per cluster ---------------------------------------------------------------------------------
def _report_condition(report: PlacementReport, ctype: str) -> tuple[Status, str]:
    for c in report.conditions:
        if c.type == ctype:
            try:
                return Status(c.status), c.reason
            except ValueError:
                return Status.UNKNOWN, c.reason
    return Status.UNKNOWN, ""


def _kept_reason(ctype: ResourceCondition, status: Status, reported: str) -> str:
    """The agent's own reason where it says more than the status: WorkNotTrackable, and beyond
    KubeFleet a terminal availability failure such as ProgressDeadlineExceeded ("" otherwise)."""
    if ctype != ResourceCondition.AVAILABLE:
        return ""
    if status == Status.TRUE and reported == "WorkNotTrackable":
        return reported
    if status == Status.FALSE and reported in TERMINAL_AVAILABLE_REASONS:
        return reported
    return ""


def _current(view: ClusterView) -> bool:
    """The report entry speaks about this placement's share of the bundle now on the branch:
    the same bundle, or an older one with this placement's share unchanged (another placement's
    change on the cluster does not make this one pending again)."""
    if view.report is None or not view.bundle_id:
        return False
    return view.report.bundle_id == view.bundle_id or view.same_share


def cluster_conditions(view: ClusterView, report_diff: bool, external: bool) -> list[Condition]:
    """The per-cluster pipeline conditions, up to and including the first that is not True."""
    out: list[Condition] = [
        Condition(
            "Scheduled",
            view.scheduled,
            "ScheduleSucceeded" if view.scheduled == Status.TRUE else "ScheduleFailed",
            view.scheduled_message,
        )
    ]
    if view.scheduled != Status.TRUE or not view.cluster:
        return out
    current = _current(view)
    for ctype in REPORT_DIFF_ORDER if report_diff else APPLY_ORDER:
        message = ""
        reason = ""
        if ctype == ResourceCondition.ROLLOUT_STARTED:
            status, message = view.rollout, view.rollout_message
        elif ctype == ResourceCondition.OVERRIDDEN:
            status, message = view.overridden, view.override_message
            if status == Status.TRUE and not (
                view.applicable_cluster_overrides or view.applicable_resource_overrides
            ):
                reason = "NoOverrideSpecified"
        elif ctype == ResourceCondition.WORK_SYNCHRONIZED:
            status = Status.TRUE if view.bundle_id else Status.FALSE
        elif not current:
            status = Status.UNKNOWN
            message = "the member agent has not reported on the current bundle yet"
        else:
            assert view.report is not None
            status, reported = _report_condition(view.report, str(ctype))
            reason = _kept_reason(ctype, status, reported)
        out.append(Condition(str(ctype), status, reason or _CLUSTER_REASONS[ctype][status], message))
        if status != Status.TRUE:
            break
    return out


def _identifier(o: ObjectResult | ObjectDrift, api_version: str) -> dict[str, Any]:
    group, kind, namespace, name = o.identity.split("/", 3)
    version = api_version.rpartition("/")[2]
    out: dict[str, Any] = {"group": group, "version": version, "kind": kind, "name": name}
    if namespace:
        out["namespace"] = namespace
    envelope = getattr(o, "envelope", None)
    if envelope is not None:
        out["envelope"] = {"name": envelope.name, "namespace": envelope.namespace, "type": envelope.kind}
    return out


def _failed(report: PlacementReport) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for o in sorted(report.objects, key=lambda x: x.identity):
        if o.outcome in _FAILED_OUTCOMES:
            ctype, reason = "Applied", o.reason or str(o.outcome)
        elif o.outcome in APPLIED_OUTCOMES and o.availability == Availability.NOT_YET_AVAILABLE:
            ctype, reason = "Available", o.reason or "ManifestNotAvailableYet"
        elif o.outcome in APPLIED_OUTCOMES and o.availability == Availability.FAILED:
            # beyond KubeFleet: the one terminal availability verdict (agent/health.py)
            ctype, reason = "Available", PROGRESS_DEADLINE_EXCEEDED
        else:
            continue
        entry = _identifier(o, o.api_version)
        entry["condition"] = {"type": ctype, "status": "False", "reason": reason, "message": o.message}
        out.append(entry)
    return out[:MAX_LISTED]


def _drifted(view: ClusterView, kind: DriftType) -> list[dict[str, Any]]:
    api_versions = {o.identity: o.api_version for o in view.report.objects} if view.report else {}
    word = "Drifted" if kind == DriftType.DRIFT else "Diffed"
    out: list[dict[str, Any]] = []
    for path in sorted(view.drifts):
        d = masked(view.drifts[path])  # an agent that did not mask a Secret value leaks nothing here
        if d.type != kind:
            continue
        entry = _identifier(d, api_versions.get(d.identity, ""))
        entry["observationTime"] = d.observation_time
        entry["targetClusterObservedGeneration"] = d.observed_generation
        entry[f"first{word}ObservedTime"] = d.first_observed_time
        entry["observedDrifts" if kind == DriftType.DRIFT else "observedDiffs"] = [
            {
                k: v
                for k, v in (
                    ("path", x.path),
                    ("valueInHub", x.value_in_hub),
                    ("valueInMember", x.value_in_member),
                )
                if v is not None
            }
            for x in d.details
        ]
        out.append(entry)
    return out[:MAX_LISTED]


def _previous_cluster_conditions(previous: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    status = (previous or {}).get("status") or {}
    for i, ps in enumerate(status.get("placementStatuses") or []):
        if isinstance(ps, Mapping):
            out[str(ps.get("clusterName") or f"#{i}")] = list(ps.get("conditions") or [])
    return out


# -- documents -----------------------------------------------------------------------------------
def _external_rollout(view: PlacementView) -> str | None:
    """KubeFleet's RolloutStarted=Unknown message for an External placement, or None when its
    clusters all hold one snapshot and each has started (the usual aggregation then applies)."""
    clusters = [cv for cv in view.clusters if cv.cluster]
    if not clusters:
        return None
    indexes = {cv.bound_index for cv in clusters}
    if len(indexes) > 1:
        return (
            "Rollout is controlled by an external controller and different resource snapshot versions are "
            "observed across clusters"
        )
    if indexes == {None}:
        return (
            "Rollout is controlled by an external controller and no resource snapshot name is observed "
            "across clusters, probably rollout has not started yet"
        )
    waiting = next(
        (cv.cluster for cv in sorted(clusters, key=lambda c: c.cluster) if cv.rollout == Status.UNKNOWN), None
    )
    if waiting is not None:
        return (
            f"Rollout is controlled by an external controller and cluster {waiting} is in RolloutStarted "
            "Unknown state"
        )
    return None


def placement_doc(view: PlacementView, previous: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The placement object with a KubeFleet ``status``; times carried over from ``previous``."""
    before = _previous_cluster_conditions(previous)
    statuses: list[dict[str, Any]] = []
    per_cluster: list[dict[ResourceCondition, Status]] = []
    any_override = False
    for i, cv in enumerate(sorted(view.clusters, key=lambda c: (c.cluster == "", c.cluster))):
        conds = cluster_conditions(cv, view.report_diff, view.external)
        statuses.append(_placement_status(cv, conds, before.get(cv.cluster or f"#{i}", []), now))
        if cv.cluster:
            per_cluster.append({ResourceCondition(c.type): c.status for c in conds if c.type != "Scheduled"})
        if cv.applicable_cluster_overrides or cv.applicable_resource_overrides:
            any_override = True
    conditions, selected = _placement_conditions(view, per_cluster, any_override)
    prev_status = (previous or {}).get("status") or {}
    metadata: dict[str, Any] = {"name": view.name}
    if view.namespace:
        metadata["namespace"] = view.namespace
    status: dict[str, Any] = {
        "conditions": with_transition_times(conditions, prev_status.get("conditions") or [], now),
        "selectedResources": selected,
        "placementStatuses": statuses,
    }
    if view.observed_index:
        status["observedResourceIndex"] = view.observed_index
    return {"apiVersion": PLACEMENT_API_VERSION, "kind": view.kind, "metadata": metadata, "status": status}


def _placement_status(
    cv: ClusterView, conds: list[Condition], before: list[Any], now: datetime
) -> dict[str, Any]:
    """One entry of ``placementStatuses``: the cluster's conditions, snapshot, overrides, failed,
    drifted and diffed objects, and the policy gate's findings."""
    entry: dict[str, Any] = {"conditions": with_transition_times(conds, before, now)}
    if cv.cluster:
        entry["clusterName"] = cv.cluster
    if cv.pick is not None:  # fleetsync's addition: when the scheduler picked it (docs/scheduler.md)
        entry["schedulingCycle"], entry["pickOrder"] = cv.pick
    if cv.bound_index is not None:
        entry["observedResourceIndex"] = str(cv.bound_index)
    if cv.applicable_cluster_overrides:
        entry["applicableClusterResourceOverrides"] = sorted(cv.applicable_cluster_overrides)
    if cv.applicable_resource_overrides:
        entry["applicableResourceOverrides"] = [
            {"namespace": ns, "name": n} for ns, n in sorted(cv.applicable_resource_overrides)
        ]
    if _current(cv) and cv.report is not None:
        failed = _failed(cv.report)
        if failed:
            entry["failedPlacements"] = failed
    drifted, diffed = _drifted(cv, DriftType.DRIFT), _drifted(cv, DriftType.DIFF)
    if drifted:
        entry["driftedPlacements"] = drifted
    if diffed:
        entry["diffedPlacements"] = diffed
    if cv.policy_violations:  # fleetsync's gate (design.md step 6); not a KubeFleet field
        entry["policyViolations"] = [dict(v) for v in cv.policy_violations[:MAX_LISTED]]
    return entry


def _placement_conditions(
    view: PlacementView, per_cluster: list[dict[ResourceCondition, Status]], any_override: bool
) -> tuple[list[Condition], list[dict[str, Any]]]:
    """The placement's conditions (Scheduled, then the aggregate of its clusters') and its
    selectedResources (emptied while an External rollout has not settled on one snapshot)."""
    scheduled = Condition(
        placement_condition_type(view.kind, "Scheduled"),
        view.scheduled.status,
        view.scheduled.reason,
        view.scheduled.message,
    )
    conditions = [scheduled]
    selected = [r.to_dict() for r in view.selected]
    if view.scheduled.status != Status.TRUE:
        return conditions, selected
    external = _external_rollout(view) if view.external else None
    if external is None:
        conditions += aggregate(
            view.kind, per_cluster, report_diff=view.report_diff, any_override=any_override
        )
        return conditions, selected
    # the clusters do not agree on one snapshot: nothing more is said
    conditions.append(
        Condition(
            placement_condition_type(view.kind, "RolloutStarted"),
            Status.UNKNOWN,
            "RolloutControlledByExternalController",
            external,
        )
    )
    return conditions, selected if view.observed_index else []


# -- the branch's files --------------------------------------------------------------------------
def placement_path(key: str) -> str:
    return f"placements/{key}.yaml"


def cluster_path(name: str) -> str:
    return f"clusters/{name}.yaml"


def status_files(
    memory: HubMemory, placements: Iterable[Mapping[str, Any]], clusters: Iterable[Mapping[str, Any]]
) -> dict[str, bytes]:
    """Every file of the status branch, canonical bytes."""
    files = {STATUS_FILE: dump_memory(memory)}
    for doc in placements:
        meta = doc["metadata"]
        key = (
            f"{doc['kind']}/{meta['namespace']}/{meta['name']}"
            if meta.get("namespace")
            else f"{doc['kind']}/{meta['name']}"
        )
        files[placement_path(key)] = dump(doc)
    for doc in clusters:
        files[cluster_path(doc["metadata"]["name"])] = dump(doc)
    return files
