"""KubeFleet-shaped conditions: per cluster, aggregated per placement, with stable transition times.

Per cluster the pipeline conditions come in order — RolloutStarted, Overridden,
WorkSynchronized, then Applied and Available (or DiffReported for a ReportDiff placement). The
placement-level condition of each type is aggregated over clusters exactly as KubeFleet's
placement controller does: any Unknown wins (with the count of unknown clusters), then any
False (with the count of false clusters), else True (with the count of clusters); the first
non-True type ends the list, since later stages have not happened yet. Reasons and messages are
KubeFleet's, so dashboards and ``kubectl``-trained eyes read them unchanged.

``lastTransitionTime`` moves only when a condition's status changes; everything else is carried
over from the previous status. That keeps a no-op reconcile byte-identical on ``fleet/status``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ResourceCondition(StrEnum):
    ROLLOUT_STARTED = "RolloutStarted"
    OVERRIDDEN = "Overridden"
    WORK_SYNCHRONIZED = "WorkSynchronized"
    APPLIED = "Applied"
    AVAILABLE = "Available"
    DIFF_REPORTED = "DiffReported"


APPLY_ORDER = (
    ResourceCondition.ROLLOUT_STARTED,
    ResourceCondition.OVERRIDDEN,
    ResourceCondition.WORK_SYNCHRONIZED,
    ResourceCondition.APPLIED,
    ResourceCondition.AVAILABLE,
)
REPORT_DIFF_ORDER = (
    ResourceCondition.ROLLOUT_STARTED,
    ResourceCondition.OVERRIDDEN,
    ResourceCondition.WORK_SYNCHRONIZED,
    ResourceCondition.DIFF_REPORTED,
)

# (reason, message format) per condition type and status, at placement level; {n} = cluster count.
_PLACEMENT: dict[ResourceCondition, dict[Status, tuple[str, str]]] = {
    ResourceCondition.ROLLOUT_STARTED: {
        Status.UNKNOWN: (
            "RolloutStartedUnknown",
            "There are still {n} cluster(s) in the process of deciding whether to roll out the latest "
            "resources or not",
        ),
        Status.FALSE: (
            "RolloutNotStartedYet",
            "The rollout is being blocked by the rollout strategy in {n} cluster(s)",
        ),
        Status.TRUE: ("RolloutStarted", "All {n} cluster(s) start rolling out the latest resource"),
    },
    ResourceCondition.OVERRIDDEN: {
        Status.UNKNOWN: (
            "OverriddenPending",
            "There are still {n} cluster(s) in the process of overriding the selected resources if "
            "there is any override defined",
        ),
        Status.FALSE: ("OverriddenFailed", "Failed to override resources in {n} cluster(s)"),
        Status.TRUE: (
            "OverriddenSucceeded",
            "The selected resources are successfully overridden in {n} cluster(s)",
        ),
    },
    ResourceCondition.WORK_SYNCHRONIZED: {
        Status.UNKNOWN: (
            "WorkSynchronizedUnknown",
            "There are still {n} cluster(s) in the process of creating or updating the work object(s) "
            "in the hub cluster",
        ),
        Status.FALSE: (
            "WorkNotSynchronizedYet",
            "There are {n} cluster(s) which have not finished creating or updating work(s) yet",
        ),
        Status.TRUE: (
            "WorkSynchronized",
            "Works(s) are succcesfully created or updated in {n} target cluster(s)' namespaces",
        ),
    },
    ResourceCondition.APPLIED: {
        Status.UNKNOWN: (
            "ApplyPending",
            "There are still {n} cluster(s) in the process of applying the resources on the member cluster",
        ),
        Status.FALSE: (
            "ApplyFailed",
            "Failed to apply resources to {n} cluster(s), please check the `failedPlacements` status",
        ),
        Status.TRUE: ("ApplySucceeded", "The selected resources are successfully applied to {n} cluster(s)"),
    },
    ResourceCondition.AVAILABLE: {
        Status.UNKNOWN: (
            "ResourceAvailableUnknown",
            "There are still {n} cluster(s) in the process of checking the availability of the "
            "selected resources",
        ),
        Status.FALSE: (
            "ResourceNotAvailableYet",
            "The selected resources in {n} cluster(s) are still not available yet",
        ),
        Status.TRUE: ("ResourceAvailable", "The selected resources in {n} cluster(s) are available now"),
    },
    ResourceCondition.DIFF_REPORTED: {
        Status.UNKNOWN: (
            "DiffReportingPending",
            "There are still {n} cluster(s) in the process of checking for configuration differences",
        ),
        Status.FALSE: (
            "DiffReportingIncompleteOrFailed",
            "Diff reporting in {n} clusters is still in progress or has failed",
        ),
        Status.TRUE: ("DiffReportingCompleted", "Diff reporting in {n} cluster(s) has been completed"),
    },
}

NO_OVERRIDE = ("NoOverrideSpecified", "No override rules are configured for the selected resources")


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: Status
    reason: str
    message: str

    def to_dict(self, last_transition_time: str) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": str(self.status),
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": last_transition_time,
        }


def placement_condition_type(kind: str, condition: str) -> str:
    """``ClusterResourcePlacementApplied`` / ``ResourcePlacementApplied``."""
    prefix = "ResourcePlacement" if kind == "ResourcePlacement" else "ClusterResourcePlacement"
    return prefix + condition


def aggregate(
    kind: str,
    per_cluster: Sequence[Mapping[ResourceCondition, Status]],
    *,
    report_diff: bool,
    any_override: bool,
) -> list[Condition]:
    """The placement-level resource conditions (Scheduled is the scheduler's, not aggregated here)."""
    order = REPORT_DIFF_ORDER if report_diff else APPLY_ORDER
    out: list[Condition] = []
    if not per_cluster:
        return out
    for ctype in order:
        counts = {s: 0 for s in Status}
        for conds in per_cluster:
            counts[conds.get(ctype, Status.UNKNOWN)] += 1
        if counts[Status.UNKNOWN]:
            status, n = Status.UNKNOWN, counts[Status.UNKNOWN]
        elif counts[Status.FALSE]:
            status, n = Status.FALSE, counts[Status.FALSE]
        else:
            status, n = Status.TRUE, counts[Status.TRUE]
        reason, template = _PLACEMENT[ctype][status]
        message = template.format(n=n)
        if ctype == ResourceCondition.OVERRIDDEN and status == Status.TRUE and not any_override:
            reason, message = NO_OVERRIDE
        out.append(Condition(placement_condition_type(kind, ctype), status, reason, message))
        if status != Status.TRUE:
            break
    return out


def with_transition_times(
    conditions: Iterable[Condition], previous: Iterable[Mapping[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Render conditions, keeping ``lastTransitionTime`` from ``previous`` while the status is unchanged."""
    before = {str(c.get("type")): c for c in previous if isinstance(c, Mapping)}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    out: list[dict[str, Any]] = []
    for c in conditions:
        old = before.get(c.type)
        keep = old is not None and old.get("status") == str(c.status) and old.get("lastTransitionTime")
        out.append(c.to_dict(str(old["lastTransitionTime"]) if keep and old is not None else stamp))
    return out
