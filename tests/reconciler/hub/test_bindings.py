"""What a cluster's remembered binding becomes in one reconcile (reconciler/hub/bindings.py)."""

from __future__ import annotations

import pytest

from reconciler.hub.bindings import Move, next_binding, prior_binding
from reconciler.rollout.rolling import BindingState
from reconciler.scheduler.model import Binding, ClusterScore
from reconciler.status.memory import BindingRecord

STAMP = "2026-12-07T18:00:00Z"
EARLIER = "2026-12-01T09:00:00Z"
BOUND = BindingRecord(
    cluster="c1",
    state=BindingState.BOUND,
    policy_index=2,
    policy_hash="p-old",
    resource_index=3,
    version="v3",
    score={"affinityScore": 5, "priorityScore": 1},
    first_seen=EARLIER,
    bound_time=EARLIER,
)


def scheduled(state: BindingState = BindingState.BOUND, policy_hash: str = "p-new") -> Binding:
    return Binding(
        cluster="c1", state=state, policy_hash=policy_hash, score=ClusterScore(topology_spread=1, affinity=5)
    )


@pytest.mark.parametrize(
    ("binding", "record", "removed", "move", "expected"),
    [
        (
            scheduled(BindingState.SCHEDULED),
            None,
            False,
            None,
            BindingRecord(
                cluster="c1",
                state=BindingState.SCHEDULED,
                policy_index=7,
                policy_hash="p-new",
                score={"affinityScore": 5, "priorityScore": 1},
                first_seen=STAMP,
            ),
        ),
        (
            scheduled(BindingState.SCHEDULED),
            None,
            False,
            Move(resource_index=4, version="v4"),
            BindingRecord(
                cluster="c1",
                state=BindingState.BOUND,
                policy_index=7,
                policy_hash="p-new",
                resource_index=4,
                version="v4",
                score={"affinityScore": 5, "priorityScore": 1},
                first_seen=STAMP,
                bound_time=STAMP,
            ),
        ),
        (
            scheduled(),
            BOUND,
            False,
            None,
            BindingRecord(
                cluster="c1",
                state=BindingState.BOUND,
                policy_index=7,
                policy_hash="p-new",
                resource_index=3,
                version="v3",
                score={"affinityScore": 5, "priorityScore": 1},
                first_seen=EARLIER,
                bound_time=EARLIER,
            ),
        ),
        (
            scheduled(policy_hash="p-old"),
            BOUND,
            False,
            Move(resource_index=4, version="v4"),
            BindingRecord(
                cluster="c1",
                state=BindingState.BOUND,
                policy_index=2,
                policy_hash="p-old",
                resource_index=4,
                version="v4",
                score={"affinityScore": 5, "priorityScore": 1},
                first_seen=EARLIER,
                bound_time=STAMP,
            ),
        ),
        (
            Binding("c1", BindingState.UNSCHEDULED, "p-new", previous_state=BindingState.BOUND),
            BOUND,
            False,
            None,
            BindingRecord(
                cluster="c1",
                state=BindingState.UNSCHEDULED,
                policy_index=7,
                policy_hash="p-new",
                resource_index=3,
                version="v3",
                previous_state="Bound",
                first_seen=EARLIER,
                bound_time=EARLIER,
            ),
        ),
        (Binding("c1", BindingState.UNSCHEDULED, "p-new"), BOUND, True, None, None),
        (Binding("c1", BindingState.UNSCHEDULED, "p-new"), None, False, None, None),
        (scheduled(), BOUND, True, Move(resource_index=4, version="v4"), None),
    ],
    ids=[
        "new-binding-is-scheduled-and-first-seen-now",
        "new-binding-moved-is-bound-now",
        "kept-binding-keeps-its-version-and-times",
        "moved-under-an-older-policy-keeps-that-policy-index",
        "unscheduled-keeps-its-version-until-the-rollout-removes-it",
        "removed-is-forgotten",
        "unscheduled-without-a-version-is-forgotten",
        "removal-wins-over-a-move",
    ],
)
def test_a_binding_transition_is_a_function_of_schedule_record_and_move(
    binding: Binding,
    record: BindingRecord | None,
    removed: bool,
    move: Move | None,
    expected: BindingRecord | None,
) -> None:
    got = next_binding(
        binding=binding,
        record=record,
        policy_hash="p-new",
        policy_index=7,
        removed=removed,
        move=move,
        stamp=STAMP,
    )
    assert got == expected


def test_the_remembered_score_and_previous_state_reach_the_scheduler_again() -> None:
    """Stickiness across reconciles (and hub restarts): what next_binding records, prior_binding gives back."""
    binding = Binding(
        "c1",
        BindingState.BOUND,
        "p-new",
        ClusterScore(topology_spread=-2, affinity=30),
        BindingState.SCHEDULED,
    )
    record = next_binding(
        binding=binding,
        record=None,
        policy_hash="p-new",
        policy_index=0,
        removed=False,
        move=None,
        stamp=STAMP,
    )
    assert record is not None
    assert prior_binding(record) == binding
    unscored = next_binding(
        binding=Binding("c2", BindingState.SCHEDULED, "p-new"),
        record=None,
        policy_hash="p-new",
        policy_index=0,
        removed=False,
        move=None,
        stamp=STAMP,
    )
    assert unscored is not None and prior_binding(unscored).score is None
