"""A cluster's binding across one reconcile: the remembered ``BindingRecord`` in, the next one out.

The hub memory (reconciler/status/memory.py) keeps KubeFleet's bindings as ``BindingRecord``;
the scheduler works on its own ``Binding``. This module is the one place that converts between
the two, so the rule "what a cluster's binding becomes" — kept, moved to a new version, or
dropped — reads as one function of the stage results (schedule, policy snapshot, rollout move)
instead of three positional constructor calls spread over the pipeline. It is pure: the time
stamp comes in as text.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.rollout.rolling import BindingState
from reconciler.scheduler.model import Binding, ClusterScore, Pick
from reconciler.status.memory import BindingRecord


@dataclass(frozen=True, slots=True)
class Move:
    """What the rollout moves a cluster to in this reconcile: a resource snapshot and the
    version (reconciler/hub/render.py ``placement_version``) of its render there."""

    resource_index: int
    version: str


def prior_binding(record: BindingRecord) -> Binding:
    """The scheduler's view of a remembered binding (its earlier decision, for stickiness)."""
    return Binding(
        cluster=record.cluster,
        state=record.state,
        policy_hash=record.policy_hash,
        score=_score(record),
        previous_state=BindingState(record.previous_state) if record.previous_state else None,
        pick=Pick(record.pick_cycle, record.pick_order) if record.pick_order else None,
    )


def next_binding(
    *,
    binding: Binding,
    record: BindingRecord | None,
    policy_hash: str,
    policy_index: int,
    removed: bool,
    move: Move | None,
    stamp: str,
) -> BindingRecord | None:
    """What ``binding`` (this reconcile's schedule for one cluster) leaves in the hub memory.

    None when the rollout removes it, or when it is Unscheduled and never held a version (there
    is nothing on the cluster to take away). Otherwise the remembered record carried forward with
    the schedule's state, score and policy hash — the policy index is the newest one when the
    binding was decided under the newest policy — and, when ``move`` is given, Bound at the moved
    version with ``bound_time`` = ``stamp``. ``first_seen`` is ``stamp`` for a new binding.
    """
    if removed or (binding.state == BindingState.UNSCHEDULED and (record is None or not record.version)):
        return None
    if binding.policy_hash == policy_hash:
        index = policy_index
    else:
        index = record.policy_index if record is not None else 0
    score = (
        {"affinityScore": binding.score.affinity, "priorityScore": binding.score.topology_spread}
        if binding.score
        else {}
    )
    return BindingRecord(
        cluster=binding.cluster,
        state=BindingState.BOUND if move is not None else binding.state,
        policy_index=index,
        policy_hash=binding.policy_hash,
        resource_index=move.resource_index if move is not None else record.resource_index if record else None,
        version=move.version if move is not None else record.version if record else "",
        score=score,
        previous_state=str(binding.previous_state) if binding.previous_state else "",
        first_seen=record.first_seen if record is not None else stamp,
        bound_time=stamp if move is not None else record.bound_time if record else "",
        pick_cycle=binding.pick.cycle if binding.pick else 0,
        pick_order=binding.pick.order if binding.pick else 0,
    )


def _score(record: BindingRecord) -> ClusterScore | None:
    if not record.score:
        return None
    return ClusterScore(
        topology_spread=record.score.get("priorityScore", 0), affinity=record.score.get("affinityScore", 0)
    )
