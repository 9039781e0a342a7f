"""Placement conditions aggregate per-cluster ones the way KubeFleet's placement controller does."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.status.conditions import ResourceCondition as RC
from reconciler.status.conditions import Status, aggregate, with_transition_times

T, F, U = Status.TRUE, Status.FALSE, Status.UNKNOWN
ALL_TRUE = {c: T for c in RC}


def types(conds: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return [(c.type, str(c.status), c.reason) for c in conds]


def test_every_stage_true_gives_the_full_chain_with_counts() -> None:
    conds = aggregate("ClusterResourcePlacement", [ALL_TRUE, ALL_TRUE], report_diff=False, any_override=True)
    assert [c.type for c in conds] == [
        "ClusterResourcePlacementRolloutStarted",
        "ClusterResourcePlacementOverridden",
        "ClusterResourcePlacementWorkSynchronized",
        "ClusterResourcePlacementApplied",
        "ClusterResourcePlacementAvailable",
    ]
    assert conds[-1].message == "The selected resources in 2 cluster(s) are available now"


def test_the_first_non_true_stage_ends_the_chain_and_unknown_beats_false() -> None:
    a = {**ALL_TRUE, RC.APPLIED: F}
    b = {**ALL_TRUE, RC.APPLIED: U}
    conds = aggregate("ClusterResourcePlacement", [a, b, ALL_TRUE], report_diff=False, any_override=True)
    assert types(conds)[-1] == ("ClusterResourcePlacementApplied", "Unknown", "ApplyPending")
    assert "still 1 cluster(s)" in conds[-1].message
    only_false = aggregate("ClusterResourcePlacement", [a, ALL_TRUE], report_diff=False, any_override=True)
    assert types(only_false)[-1] == ("ClusterResourcePlacementApplied", "False", "ApplyFailed")
    assert len(only_false) == 4


def test_no_override_anywhere_is_reported_as_no_override_specified() -> None:
    conds = aggregate("ResourcePlacement", [ALL_TRUE], report_diff=False, any_override=False)
    assert types(conds)[1] == ("ResourcePlacementOverridden", "True", "NoOverrideSpecified")


def test_report_diff_placements_end_with_diff_reported() -> None:
    conds = aggregate("ClusterResourcePlacement", [ALL_TRUE], report_diff=True, any_override=True)
    assert [c.type for c in conds][-1] == "ClusterResourcePlacementDiffReported"
    assert "ClusterResourcePlacementApplied" not in [c.type for c in conds]


def test_a_missing_cluster_condition_counts_as_unknown() -> None:
    conds = aggregate(
        "ClusterResourcePlacement", [{RC.ROLLOUT_STARTED: T}], report_diff=False, any_override=True
    )
    assert types(conds)[-1] == ("ClusterResourcePlacementOverridden", "Unknown", "OverriddenPending")


def test_transition_times_move_only_when_the_status_changes() -> None:
    then, now = "2026-01-01T00:00:00Z", datetime(2026, 2, 2, tzinfo=UTC)
    conds = aggregate(
        "ClusterResourcePlacement", [{**ALL_TRUE, RC.AVAILABLE: F}], report_diff=False, any_override=True
    )
    previous = [
        {"type": "ClusterResourcePlacementApplied", "status": "True", "lastTransitionTime": then},
        {"type": "ClusterResourcePlacementAvailable", "status": "True", "lastTransitionTime": then},
    ]
    rendered = {c["type"]: c for c in with_transition_times(conds, previous, now)}
    assert rendered["ClusterResourcePlacementApplied"]["lastTransitionTime"] == then
    assert rendered["ClusterResourcePlacementAvailable"]["lastTransitionTime"] == "2026-02-02T00:00:00Z"
