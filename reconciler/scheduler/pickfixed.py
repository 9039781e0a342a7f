"""PickFixed: exactly the named clusters, no plugins (KubeFleet ``runSchedulingCycleForPickFixedPlacementType``).

Taints and affinity are ignored; only existence and eligibility count. A named cluster that is
missing is "not found", one that exists but is ineligible is "not eligible ... yet" — neither is
selected, and the condition is then False. Bindings of the current policy are never touched,
so a cluster that becomes unhealthy keeps its placement; removing a name is a policy change, and
the now-obsolete binding of the removed cluster is unscheduled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler.hub.clusters import ClusterState
from reconciler.rollout.rolling import BindingState
from reconciler.scheduler.decisions import DecisionBuilder
from reconciler.scheduler.model import (
    PICK_FIXED_INELIGIBLE,
    PICK_FIXED_NOT_FOUND,
    PICKED_MESSAGE,
    Binding,
    ClusterDecision,
    ScheduledCondition,
)

if TYPE_CHECKING:
    from reconciler.scheduler.framework import Classified


def pick_fixed(
    names: Sequence[str],
    fleet: Sequence[ClusterState],
    bindings: dict[str, Binding],
    classified: Classified,
    policy_hash: str,
) -> tuple[DecisionBuilder, ScheduledCondition]:
    builder = DecisionBuilder()
    targets = list(dict.fromkeys(names))  # unique, in the user's order
    if not targets:  # KubeFleet skips the cycle
        return builder, ScheduledCondition.from_count(0, 0)
    by_name = {c.name: c for c in fleet}
    valid: list[str] = []
    invalid: list[ClusterDecision] = []
    not_found: list[ClusterDecision] = []
    for name in targets:
        cluster = by_name.get(name)
        if cluster is None:
            not_found.append(ClusterDecision(name, False, None, PICK_FIXED_NOT_FOUND.format(c=name)))
        elif not cluster.eligible:
            invalid.append(
                ClusterDecision(
                    name, False, None, PICK_FIXED_INELIGIBLE.format(c=name, r=cluster.ineligible_reason)
                )
            )
        else:
            valid.append(name)

    held = {b.cluster for b in (*classified.scheduled, *classified.bound)}
    obsolete = {b.cluster: b for b in classified.obsolete}
    unscheduled = {b.cluster: b for b in classified.unscheduled}
    for name in valid:
        if name in held:
            continue
        if name in obsolete:
            b = obsolete[name]
            bindings[name] = Binding(name, b.state, policy_hash, None, b.previous_state)
        elif name in unscheduled:
            state = unscheduled[name].previous_state or BindingState.SCHEDULED
            bindings[name] = Binding(name, state, policy_hash, None, None)
        else:
            bindings[name] = Binding(name, BindingState.SCHEDULED, policy_hash, None, None)
    kept = set(valid)
    for name, b in obsolete.items():
        if name not in kept:
            bindings[name] = b.unscheduled()

    builder.add_raw(ClusterDecision(n, True, None, PICKED_MESSAGE.format(c=n)) for n in valid)
    builder.add_raw(invalid)
    builder.add_raw(not_found)
    condition = (
        ScheduledCondition.from_count(len(valid), len(valid))
        if not invalid and not not_found
        else ScheduledCondition.from_count(len(valid), len(valid) + 1)
    )
    return builder, condition
