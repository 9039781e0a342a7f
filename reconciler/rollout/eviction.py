"""Evictions against disruption budgets (KubeFleet §11, ``clusterresourceplacementeviction``).

A ClusterResourcePlacementEviction committed to the repo asks to take one placement off one
cluster. The hub evaluates it once — KubeFleet's controller stops at a terminal state
(``Valid=False``, or any ``Executed`` condition) — against the placement, its bindings and the
ClusterResourcePlacementDisruptionBudget of the same name, in KubeFleet's order:

1. invalid: placement missing; placement is PickFixed; no binding for the cluster;
2. blocked: the placement has not propagated resources there yet (the binding is not Bound,
   nor Unscheduled from Bound);
3. executed without a budget check: the placement has failed (or only reports diffs) there;
4. executed: no disruption budget;
5. blocked: PickAll with ``maxUnavailable`` or a percentage ``minAvailable`` (misconfigured);
6. otherwise the budget decides: available = bindings whose Available condition is True,
   desired = N for PickN, 0 otherwise;
   maxUnavailable: allowed = ceil(maxUnavailable of desired) - (total - available);
   minAvailable: allowed = available - minAvailable (an int for PickAll, else scaled up);
   executed iff allowed > 0.

Executing removes the binding: the scheduler may pick the cluster again in the same reconcile
(taint the cluster first to keep it off, as with KubeFleet). fleetsync has no "deleting"
bindings and keeps one binding per cluster, so KubeFleet's "binding is being deleted" and
"more than one binding" outcomes cannot occur.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.api.placement import Placement, PlacementType
from reconciler.rollout.rolling import BindingState, scaled
from reconciler.scheduler.model import Binding
from reconciler.status.conditions import Status

VALID = "Valid"
EXECUTED = "Executed"
VALID_REASON = "ClusterResourcePlacementEvictionValid"
INVALID_REASON = "ClusterResourcePlacementEvictionInvalid"
EXECUTED_REASON = "ClusterResourcePlacementEvictionExecuted"
NOT_EXECUTED_REASON = "ClusterResourcePlacementEvictionNotExecuted"

INVALID_MISSING_CRP = "Failed to find ClusterResourcePlacement targeted by eviction"
INVALID_PICK_FIXED = "Found ClusterResourcePlacement with PickFixed placement type targeted by eviction"
INVALID_MISSING_BINDING = "Failed to find scheduler decision for placement in cluster targeted by eviction"
VALID_MESSAGE = "Eviction is valid"
ALLOWED_NO_BUDGET = "Eviction is allowed, no ClusterResourcePlacementDisruptionBudget specified"
ALLOWED_FAILED = "Eviction is allowed, placement has failed"
BLOCKED_MISCONFIGURED = (
    "Eviction is blocked by misconfigured ClusterResourcePlacementDisruptionBudget, either MaxUnavailable is "
    "specified or MinAvailable is specified as a percentage for PickAll ClusterResourcePlacement"
)
BLOCKED_NOT_PLACED = "Eviction is blocked, placement has not propagated resources to target cluster yet"
ALLOWED_BY_BUDGET = (
    "Eviction is allowed by specified ClusterResourcePlacementDisruptionBudget, "
    "availablePlacements: {a}, totalPlacements: {t}"
)
BLOCKED_BY_BUDGET = (
    "Eviction is blocked by specified ClusterResourcePlacementDisruptionBudget, "
    "availablePlacements: {a}, totalPlacements: {t}"
)


class Budget(Protocol):
    """A disruption budget's spec (reconciler/api/eviction.py ``DisruptionBudget`` has this shape)."""

    @property
    def max_unavailable(self) -> int | str | None: ...

    @property
    def min_available(self) -> int | str | None: ...


@dataclass(frozen=True, slots=True)
class BindingHealth:
    """What the agent reports about one binding's current content."""

    available: bool = False  # Available=True at the binding's generation
    failed: bool = False  # Overridden / WorkSynchronized / Applied / Available is False
    diff_reported: bool = False  # ReportDiff placements: nothing to keep available


@dataclass(frozen=True, slots=True)
class EvictionCondition:
    type: str
    status: Status
    reason: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "status": str(self.status), "reason": self.reason, "message": self.message}


@dataclass(frozen=True, slots=True)
class EvictionResult:
    conditions: tuple[EvictionCondition, ...]  # Valid, then Executed when it was decided
    bindings: tuple[Binding, ...]  # the placement's bindings after the eviction

    @property
    def executed(self) -> bool:
        return any(c.type == EXECUTED and c.status == Status.TRUE for c in self.conditions)


def is_terminal(conditions: Sequence[EvictionCondition]) -> bool:
    """KubeFleet never re-evaluates an eviction that is invalid or has an Executed condition."""
    return any((c.type == VALID and c.status == Status.FALSE) or c.type == EXECUTED for c in conditions)


def _valid() -> EvictionCondition:
    return EvictionCondition(VALID, Status.TRUE, VALID_REASON, VALID_MESSAGE)


def _executed(message: str) -> EvictionCondition:
    return EvictionCondition(EXECUTED, Status.TRUE, EXECUTED_REASON, message)


def _not_executed(message: str) -> EvictionCondition:
    return EvictionCondition(EXECUTED, Status.FALSE, NOT_EXECUTED_REASON, message)


def _placed(b: Binding) -> bool:
    """Resources are (or were, until unscheduled) on the cluster: KubeFleet ``IsPlacementPresent``."""
    return b.state == BindingState.BOUND or (
        b.state == BindingState.UNSCHEDULED and b.previous_state == BindingState.BOUND
    )


def disruptions_allowed(placement: Placement, total: int, available: int, budget: Budget) -> int:
    policy = placement.effective_policy
    desired = (policy.number_of_clusters or 0) if policy.placement_type == PlacementType.PICK_N else 0
    allowed = 0
    if budget.max_unavailable is not None:
        allowed = scaled(budget.max_unavailable, desired) - (total - available)
    elif budget.min_available is not None:
        if policy.placement_type == PlacementType.PICK_ALL and isinstance(budget.min_available, int):
            minimum = budget.min_available
        else:
            minimum = scaled(budget.min_available, desired)
        allowed = available - minimum
    return max(allowed, 0)


def evaluate_eviction(
    cluster: str,
    placement: Placement | None,
    bindings: Sequence[Binding],
    health: Mapping[str, BindingHealth],
    budget: Budget | None,
    previous: Sequence[EvictionCondition] = (),
) -> EvictionResult:
    """Evaluate one eviction of ``placement``'s resources from ``cluster``, KubeFleet's way.

    ``previous`` holds the conditions recorded in status for this eviction: a terminal one is
    returned unchanged, so an eviction never runs twice.
    """
    current = tuple(sorted(bindings, key=lambda b: b.cluster))
    if is_terminal(previous):
        return EvictionResult(tuple(previous), current)
    if placement is None:
        return EvictionResult(
            (EvictionCondition(VALID, Status.FALSE, INVALID_REASON, INVALID_MISSING_CRP),), current
        )
    if placement.placement_type == PlacementType.PICK_FIXED:
        return EvictionResult(
            (EvictionCondition(VALID, Status.FALSE, INVALID_REASON, INVALID_PICK_FIXED),), current
        )
    target = next((b for b in current if b.cluster == cluster), None)
    if target is None:
        return EvictionResult(
            (EvictionCondition(VALID, Status.FALSE, INVALID_REASON, INVALID_MISSING_BINDING),), current
        )
    remaining = tuple(b for b in current if b.cluster != cluster)

    def execute(message: str) -> EvictionResult:
        return EvictionResult((_valid(), _executed(message)), remaining)

    def block(message: str) -> EvictionResult:
        return EvictionResult((_valid(), _not_executed(message)), current)

    if not _placed(target):
        return block(BLOCKED_NOT_PLACED)
    state = health.get(cluster, BindingHealth())
    if state.failed or state.diff_reported:
        return execute(ALLOWED_FAILED)
    if budget is None:
        return execute(ALLOWED_NO_BUDGET)
    if placement.placement_type == PlacementType.PICK_ALL and (
        budget.max_unavailable is not None or isinstance(budget.min_available, str)
    ):
        return block(BLOCKED_MISCONFIGURED)
    total = len(current)
    available = sum(1 for b in current if health.get(b.cluster, BindingHealth()).available)
    if disruptions_allowed(placement, total, available, budget) > 0:
        return execute(ALLOWED_BY_BUDGET.format(a=available, t=total))
    return block(BLOCKED_BY_BUDGET.format(a=available, t=total))
