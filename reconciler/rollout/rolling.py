"""Rolling updates: which clusters move to a placement's newest content now (KubeFleet §5).

KubeFleet's rollout controller flips bindings between Scheduled, Bound and deleted; fleetsync
does the same to the per-cluster bundles it renders. A cluster whose binding is "bound" to a
*version* (resource snapshot index plus the overrides that applied to it) has that version's
objects in its bundle; moving it to a new version rewrites its bundle; removing it drops the
placement's objects so the agent prunes them.

The arithmetic is KubeFleet's, term for term (``pkg/controllers/rollout/controller.go``):

- target = scheduled+bound bindings (PickAll), ``len(clusterNames)`` (PickFixed), N (PickN);
- ready = DiffReported, or Available for trackable content, or Available for longer than
  ``unavailablePeriodSeconds`` for untrackable content;
- maxToRemove = (ready - canBeUnavailable) - (target - ceil(maxUnavailable * target)); removals
  of unscheduled bindings first, then in-place updates of bound ones; bindings whose current
  content failed are always updated (they cannot become less available);
- maxToAdd = target + ceil(maxSurge * target) - canBeReady; Scheduled bindings are bound up to it.

Two differences, both from Git being the hub: there are no "deleting" bindings (dropping a
placement from a bundle is immediate in the hub's memory; the agent prunes on its next sync),
and candidates are taken in cluster-name order, where KubeFleet takes its list order, so the
same inputs always give the same decision. A cluster whose agent reports nothing is neither
ready nor failed, so it holds its batch; one whose agent reports failure does not block.

"Failed" is KubeFleet's ``HasBindingFailed``: ``Applied=False``, or ``Available=False`` with a
terminal reason. KubeFleet's agent never reports a terminal availability reason, so there a
Deployment that never becomes available holds every later change of its placement (with
``maxUnavailable: 100%`` nothing moves at all). Beyond KubeFleet, fleetsync's agent reports a
Deployment past its progress deadline as ``Available=False`` with reason ``ProgressDeadlineExceeded``
(fleetsync_contract.report.TERMINAL_AVAILABLE_REASONS): the binding has failed, takes the path of
any failed binding here, and the fix committed to Git reaches it (docs/agent.md, "Availability").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from reconciler.api.placement import PlacementType, RollingUpdateConfig


class BindingState(StrEnum):
    SCHEDULED = "Scheduled"
    BOUND = "Bound"
    UNSCHEDULED = "Unscheduled"


@dataclass(frozen=True, slots=True)
class RolloutBinding:
    """One cluster's binding to a placement, with what its agent last reported about it."""

    cluster: str
    state: BindingState
    current_version: str | None = None  # version now in the cluster's bundle (None: nothing yet)
    desired_version: str | None = None  # newest version for this cluster (None when unscheduled)
    diff_reported: bool = False  # DiffReported=True for the current version (ReportDiff)
    available: bool = False  # Available=True for the current version
    trackable: bool = True  # False when availability is only "applied a while ago"
    available_since: datetime | None = None
    failed: bool = False  # Applied=False, or Available=False with a terminal reason, for the current version

    @property
    def needs_update(self) -> bool:
        return self.state == BindingState.BOUND and self.current_version != self.desired_version


@dataclass(frozen=True, slots=True)
class RolloutDecision:
    bind: tuple[str, ...] = ()  # Scheduled → Bound at the desired version
    update: tuple[str, ...] = ()  # Bound → the desired version
    remove: tuple[str, ...] = ()  # Unscheduled: drop the placement's objects from the bundle
    held: tuple[str, ...] = ()  # out of date, held back by maxUnavailable / maxSurge
    up_to_date: tuple[str, ...] = ()
    requeue_after: timedelta | None = None  # when an untrackable binding turns ready

    @property
    def moved(self) -> tuple[str, ...]:
        return self.bind + self.update + self.remove


def scaled(value: int | str, total: int) -> int:
    """IntOrString scaled against ``total``, percentages rounded up (``GetScaledValueFromIntOrPercent``)."""
    if isinstance(value, int):
        return value
    percent = int(value.rstrip("%"))
    return math.ceil(percent * total / 100)


def target_number(
    placement_type: PlacementType, cluster_names: int, number_of_clusters: int | None, scheduled: int
) -> int:
    if placement_type == PlacementType.PICK_FIXED:
        return cluster_names
    if placement_type == PlacementType.PICK_N:
        return number_of_clusters or 0
    return scheduled


def _ready(b: RolloutBinding, cutoff: datetime) -> tuple[bool, timedelta | None]:
    if b.diff_reported:
        return True, None
    if not b.available:
        return False, None
    if b.trackable:
        return True, None
    if b.available_since is None:
        return False, None
    wait = b.available_since - cutoff
    if wait < timedelta(0):
        return True, None
    return False, wait


def plan_rolling_update(
    bindings: list[RolloutBinding],
    config: RollingUpdateConfig,
    target: int,
    now: datetime,
) -> RolloutDecision:
    """Decide which bindings move in this reconcile, per KubeFleet's rolling update."""
    cutoff = now - timedelta(seconds=config.unavailable_period_seconds)
    ready = 0
    can_be_ready = 0
    waits: list[timedelta] = []
    remove_candidates: list[str] = []
    update_candidates: list[str] = []
    failed_updates: list[str] = []
    bind_candidates: list[str] = []
    up_to_date: list[str] = []

    for b in sorted(bindings, key=lambda x: x.cluster):
        if b.state == BindingState.SCHEDULED:
            bind_candidates.append(b.cluster)
            continue
        is_ready, wait = _ready(b, cutoff)
        if is_ready:
            ready += 1
        elif wait is not None:
            waits.append(wait)
        if not b.failed and not b.diff_reported:
            can_be_ready += 1
        if b.state == BindingState.UNSCHEDULED:
            remove_candidates.append(b.cluster)
        elif b.needs_update:
            (failed_updates if b.failed else update_candidates).append(b.cluster)
        else:
            up_to_date.append(b.cluster)

    requeue = min(waits) if waits else None
    if not (remove_candidates or update_candidates or failed_updates or bind_candidates):
        return RolloutDecision(up_to_date=tuple(up_to_date), requeue_after=requeue)

    min_available = target - scaled(config.max_unavailable, target)
    max_to_remove = ready - min_available
    removes: list[str] = []
    updates: list[str] = list(failed_updates)
    if max_to_remove > 0:
        removes = remove_candidates[:max_to_remove]
        budget = max_to_remove - len(removes)
        updates += update_candidates[: max(budget, 0)]
    held_updates = [c for c in update_candidates if c not in updates]

    max_to_add = target + scaled(config.max_surge, target) - can_be_ready
    binds = bind_candidates[: max(max_to_add, 0)]
    held_binds = bind_candidates[len(binds) :]

    return RolloutDecision(
        bind=tuple(binds),
        update=tuple(updates),
        remove=tuple(removes),
        held=tuple(held_updates + held_binds),
        up_to_date=tuple(up_to_date),
        requeue_after=requeue,
    )
