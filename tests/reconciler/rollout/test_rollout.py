"""Rolling updates move clusters in batches bounded by maxUnavailable and maxSurge (KubeFleet §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.api.placement import PlacementType, RollingUpdateConfig
from reconciler.rollout.rolling import (
    BindingState,
    RolloutBinding,
    plan_rolling_update,
    scaled,
    target_number,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DEFAULTS = RollingUpdateConfig()


def bound(cluster: str, current: str = "v1", desired: str = "v2", **kw: object) -> RolloutBinding:
    kw.setdefault("available", True)
    return RolloutBinding(cluster, BindingState.BOUND, current, desired, **kw)  # type: ignore[arg-type]


def scheduled(cluster: str) -> RolloutBinding:
    return RolloutBinding(cluster, BindingState.SCHEDULED, None, "v1")


@pytest.mark.parametrize(
    ("value", "total", "expected"),
    [("25%", 4, 1), ("25%", 5, 2), ("0%", 7, 0), ("100%", 3, 3), (2, 10, 2), ("10%", 0, 0)],
)
def test_percentages_scale_against_the_target_rounding_up(
    value: int | str, total: int, expected: int
) -> None:
    assert scaled(value, total) == expected


def test_target_number_follows_the_placement_type() -> None:
    assert target_number(PlacementType.PICK_ALL, 0, None, scheduled=7) == 7
    assert target_number(PlacementType.PICK_N, 0, 3, scheduled=7) == 3
    assert target_number(PlacementType.PICK_FIXED, 2, None, scheduled=7) == 2


def test_a_new_placement_binds_every_scheduled_cluster_within_max_surge() -> None:
    decision = plan_rolling_update([scheduled(f"c{i}") for i in range(4)], DEFAULTS, target=4, now=NOW)
    assert decision.bind == ("c0", "c1", "c2", "c3")
    assert decision.held == ()


def test_an_update_moves_only_max_unavailable_clusters_at_a_time() -> None:
    bindings = [bound(f"c{i}") for i in range(4)]
    decision = plan_rolling_update(bindings, DEFAULTS, target=4, now=NOW)
    assert decision.update == ("c0",)
    assert decision.held == ("c1", "c2", "c3")


def test_the_next_batch_waits_until_the_updated_cluster_reports_available() -> None:
    bindings = [bound("c0", "v2", "v2", available=False)] + [bound(f"c{i}") for i in range(1, 4)]
    assert plan_rolling_update(bindings, DEFAULTS, target=4, now=NOW).update == ()
    bindings[0] = bound("c0", "v2", "v2", available=True)
    assert plan_rolling_update(bindings, DEFAULTS, target=4, now=NOW).update == ("c1",)


def test_a_cluster_whose_agent_reports_nothing_holds_its_batch() -> None:
    silent = RolloutBinding("c0", BindingState.BOUND, "v2", "v2")
    bindings = [silent] + [bound(f"c{i}") for i in range(1, 4)]
    decision = plan_rolling_update(bindings, DEFAULTS, target=4, now=NOW)
    assert decision.update == ()
    assert decision.held == ("c1", "c2", "c3")


def test_a_failed_cluster_is_always_updated_and_does_not_block_the_rollout() -> None:
    bindings = [bound("c0", available=False, failed=True)] + [bound(f"c{i}") for i in range(1, 4)]
    decision = plan_rolling_update(bindings, DEFAULTS, target=4, now=NOW)
    assert "c0" in decision.update
    # failed bindings do not count as ready, so no healthy cluster may be taken down now
    assert decision.update == ("c0",)


def test_unscheduled_clusters_are_removed_before_bound_ones_are_updated() -> None:
    gone = RolloutBinding("a-old", BindingState.UNSCHEDULED, "v1", None, available=True)
    bindings = [gone] + [bound(f"c{i}") for i in range(4)]
    config = RollingUpdateConfig(max_unavailable=1, max_surge=1)
    decision = plan_rolling_update(bindings, config, target=4, now=NOW)
    # ready 5, minAvailable 3 → 2 moves: the removal first, then one update
    assert decision.remove == ("a-old",)
    assert decision.update == ("c0",)


def test_untrackable_content_counts_as_ready_only_after_the_unavailable_period() -> None:
    fresh = bound("c0", "v2", "v2", trackable=False, available_since=NOW - timedelta(seconds=20))
    bindings = [fresh] + [bound(f"c{i}") for i in range(1, 4)]
    decision = plan_rolling_update(bindings, DEFAULTS, target=4, now=NOW)
    assert decision.update == ()
    assert decision.requeue_after == timedelta(seconds=40)
    later = plan_rolling_update(bindings, DEFAULTS, target=4, now=NOW + timedelta(seconds=41))
    assert later.update == ("c1",)


def test_diff_reported_counts_as_ready_for_report_diff_placements() -> None:
    bindings = [bound(f"c{i}", available=False, diff_reported=True) for i in range(4)]
    assert plan_rolling_update(bindings, DEFAULTS, target=4, now=NOW).update == ("c0",)


def test_max_surge_bounds_new_clusters_while_old_ones_still_run() -> None:
    bindings = [bound(f"c{i}", "v1", "v1") for i in range(3)] + [scheduled("d0"), scheduled("d1")]
    config = RollingUpdateConfig(max_unavailable=0, max_surge=1)
    decision = plan_rolling_update(bindings, config, target=3, now=NOW)
    assert decision.bind == ("d0",)
    assert decision.held == ("d1",)


def test_nothing_to_do_when_every_cluster_is_up_to_date() -> None:
    decision = plan_rolling_update([bound("c0", "v1", "v1")], DEFAULTS, target=1, now=NOW)
    assert decision.moved == () and decision.up_to_date == ("c0",)
