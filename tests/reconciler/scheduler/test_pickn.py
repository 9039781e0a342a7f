"""PickN (§3.3, §3.4): scoring order, ties, stickiness, downscale, obsolete and dangling bindings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.api.placement import PropertyOperator as Op
from reconciler.hub.clusters import ClusterState
from reconciler.scheduler import Binding
from reconciler.scheduler.framework import scheduling_policy_hash
from reconciler.status.conditions import Status
from tests.support.schedfixtures import (
    BindingState,
    ClusterScore,
    SortOrder,
    Taint,
    bound,
    cluster,
    crp,
    numbered,
    pick_n,
    prefer,
    prop,
    reasons,
    run,
    selector,
    sorter,
    spread,
    term,
    unhealthy,
)

COST = "example.com/cost"


def test_pickn_breaks_ties_by_descending_name() -> None:
    s = run(crp(pick_n(3)), numbered(7))
    assert s.selected == ("cluster-5", "cluster-6", "cluster-7")
    assert [d.cluster_name for d in s.decisions] == [f"cluster-{i}" for i in (7, 6, 5, 4, 3, 2, 1)]
    assert reasons(s)["cluster-7"] == (
        'Successfully scheduled resources for placement in "cluster-7" (affinity score: 0, topology spread score: 0): '
        "picked by scheduling policy"
    )
    assert (
        reasons(s)["cluster-4"]
        == 'Cluster "cluster-4" does not score high enough (affinity score: 0, topology spread score: 0)'
    )
    assert s.condition.to_dict() == {
        "type": "Scheduled",
        "status": "True",
        "reason": "SchedulingPolicyFulfilled",
        "message": "found all cluster needed as specified by the scheduling policy, found 3 cluster(s)",
    }
    assert all(b.state == BindingState.SCHEDULED for b in s.bindings)


def test_pickn_prefers_higher_affinity_then_name() -> None:
    fleet = [cluster("a", {"tier": "gold"}), cluster("b"), cluster("c", {"tier": "gold"}), cluster("d")]
    s = run(crp(pick_n(3, preferred=[prefer(10, term(selector(tier="gold")))])), fleet)
    assert s.selected == ("a", "c", "d")
    assert [d.cluster_name for d in s.decisions[:3]] == ["c", "a", "d"]


def test_score_is_lexicographic_topology_before_affinity() -> None:
    # x: affinity 100 but in an already-used zone; y: affinity 0 in an empty zone.
    fleet = [
        cluster("held", {"zone": "z1"}),
        cluster("x", {"zone": "z1", "fast": "yes"}),
        cluster("y", {"zone": "z2"}),
    ]
    p = crp(pick_n(2, preferred=[prefer(100, term(selector(fast="yes")))], spreads=[spread("zone", 2)]))
    s = run(p, fleet, bound(p, "held"))
    assert s.selected == ("held", "y")
    assert s.binding("y").score == ClusterScore(1, 0, 0)  # type: ignore[union-attr]


def _sorted_fleet() -> list[ClusterState]:
    eligible_low = cluster("a", properties={COST: "10"})
    eligible_high = cluster("b", properties={COST: "15"})
    no_value = cluster("c")
    # ineligible clusters still set the min and max
    gone_min = cluster("d", observation=unhealthy(timedelta(hours=1), {COST: "0"}))
    gone_max = cluster("e", observation=unhealthy(timedelta(hours=1), {COST: "20"}))
    return [eligible_low, eligible_high, no_value, gone_min, gone_max]


@pytest.mark.parametrize(
    ("order", "scores"),
    [
        # (v - 0) / 20 * 10: a 5.0 -> 5; b 7.5 -> 8 (half away from zero); c has no value -> 0
        (SortOrder.DESCENDING, {"a": 5, "b": 8, "c": 0}),
        # (1 - v / 20) * 10: a 5; b 2.5 -> 3
        (SortOrder.ASCENDING, {"a": 5, "b": 3, "c": 0}),
    ],
)
def test_sorter_interpolates_over_every_reporting_cluster_and_rounds_half_away(
    order: SortOrder, scores: dict[str, int]
) -> None:
    s = run(crp(pick_n(5, preferred=[prefer(10, term(sorter=sorter(COST, order)))])), _sorted_fleet())
    got = {d.cluster_name: d.score.affinity for d in s.decisions if d.score is not None}
    assert got == scores
    assert s.condition.status == Status.FALSE  # 5 wanted, 3 eligible
    assert s.condition.message == (
        "could not find all clusters needed as specified by the scheduling policy, found 3 cluster(s) instead"
    )


def test_sorter_gives_zero_when_all_values_equal_or_nobody_reports() -> None:
    fleet = [cluster("a", properties={COST: "3"}), cluster("b", properties={COST: "3000m"})]
    for name in (COST, "example.com/nobody-reports"):
        s = run(crp(pick_n(2, preferred=[prefer(50, term(sorter=sorter(name)))])), fleet)
        assert {d.score.affinity for d in s.decisions if d.score} == {0}


def test_preferred_label_selector_gates_the_sorter_weight() -> None:
    fleet = [
        cluster("a", {"env": "prod"}, properties={COST: "10"}),
        cluster("b", properties={COST: "20"}),
        cluster("c", {"env": "prod"}, properties={COST: "0"}),
    ]
    s = run(crp(pick_n(1, preferred=[prefer(-20, term(selector(env="prod"), sorter=sorter(COST)))])), fleet)
    got = {d.cluster_name: d.score.affinity for d in s.decisions if d.score is not None}
    assert got == {"a": -10, "b": 0, "c": 0}  # negative weight: expensive prod clusters are avoided
    assert s.selected == ("c",)


def test_bad_input_gives_kubefleet_outcomes_never_exceptions() -> None:
    fleet = [cluster("a", properties={COST: "cheap"}), cluster("b", properties={COST: "4"})]
    s = run(
        crp(pick_n(3, required=[term(None, prop(COST, Op.LT, "5"))], spreads=[spread("no-such-key")])), fleet
    )
    assert s.selected == ("b",)
    assert (
        reasons(s)["a"]
        == "ClusterUnschedulable, none of the nonempty required cluster affinity term (total number: 1) is matched"
    )
    assert s.condition.status == Status.FALSE


def test_pickn_zero_selects_nothing_and_is_fulfilled() -> None:
    s = run(crp(pick_n(0)), numbered(3))
    assert s.selected == () and s.decisions == ()
    assert s.condition.status == Status.TRUE
    assert s.condition.message.endswith("found 0 cluster(s)")


def test_pickn_is_sticky_and_never_re_evaluates_held_clusters() -> None:
    p = crp(pick_n(2, preferred=[prefer(10, term(selector(tier="gold")))]))
    previous = bound(p, "cluster-1", "cluster-2")
    fleet = [*numbered(2), cluster("cluster-9", {"tier": "gold"})]
    s = run(p, fleet, previous)
    assert s.selected == ("cluster-1", "cluster-2")
    assert [d.cluster_name for d in s.decisions] == [
        "cluster-1",
        "cluster-2",
    ]  # no not-picked/filtered entries


def test_selected_cluster_that_goes_unhealthy_or_tainted_keeps_its_binding() -> None:
    p = crp(pick_n(2))
    fleet = [
        cluster("cluster-1", observation=unhealthy(timedelta(hours=2))),
        cluster("cluster-2", taints=[Taint("maint")]),
        cluster("cluster-3"),
    ]
    s = run(p, fleet, bound(p, "cluster-1", "cluster-2"))
    assert s.selected == ("cluster-1", "cluster-2")


def test_dangling_binding_is_unscheduled_and_replaced() -> None:
    p = crp(pick_n(2))
    s = run(p, numbered(3), bound(p, "cluster-3", "left-the-fleet"))
    assert s.binding("left-the-fleet") == Binding(
        "left-the-fleet",
        BindingState.UNSCHEDULED,
        scheduling_policy_hash(p),
        ClusterScore(),
        BindingState.BOUND,
    )
    assert s.selected == ("cluster-2", "cluster-3")


def test_downscale_trims_scheduled_first_then_lowest_scored_bound_then_smallest_name() -> None:
    p = crp(pick_n(2))
    h = scheduling_policy_hash(p)
    previous = [
        Binding("a", BindingState.BOUND, h, ClusterScore(0, 5)),
        Binding("b", BindingState.BOUND, h, ClusterScore(0, 1)),
        Binding("c", BindingState.BOUND, h, ClusterScore(0, 1)),
        Binding("d", BindingState.SCHEDULED, h, ClusterScore(0, 9)),
    ]
    s = run(p, [cluster(n) for n in "abcd"], previous)
    assert s.selected == ("a", "c")
    assert s.binding("d").state == BindingState.UNSCHEDULED  # type: ignore[union-attr]
    assert s.binding("b").previous_state == BindingState.BOUND  # type: ignore[union-attr]
    assert s.condition.status == Status.TRUE


def test_changing_n_is_not_a_policy_change() -> None:
    before = crp(pick_n(3))
    after = crp(pick_n(1))
    assert scheduling_policy_hash(before) == scheduling_policy_hash(after)
    s = run(after, numbered(3), bound(before, "cluster-1", "cluster-2", "cluster-3"))
    assert s.selected == ("cluster-3",)


def test_downscale_unschedules_lingering_obsolete_bindings() -> None:
    old = crp(pick_n(2, preferred=[prefer(1, term(selector(env="old")))]))
    new = crp(pick_n(2))
    previous = [*bound(new, "cluster-1", "cluster-2"), *bound(old, "cluster-3")]
    s = run(new, numbered(3), previous)
    assert s.selected == ("cluster-1", "cluster-2")
    assert s.binding("cluster-3").state == BindingState.UNSCHEDULED  # type: ignore[union-attr]


def test_policy_change_prefers_clusters_holding_obsolete_bindings() -> None:
    old = crp(pick_n(2, required=[term(selector(env="prod"))]))
    new = crp(pick_n(2))
    s = run(new, numbered(5), bound(old, "cluster-1", "cluster-4"))
    assert s.selected == ("cluster-1", "cluster-4")  # ObsoletePlacementAffinityScore 1 beats names 5, 3
    assert {b.state for b in s.bindings} == {BindingState.BOUND}  # kept, not re-created: no churn
    assert {b.policy_hash for b in s.bindings} == {scheduling_policy_hash(new)}


def test_policy_change_unschedules_obsolete_bindings_of_clusters_not_picked_again() -> None:
    old = crp(pick_n(1))
    new = crp(pick_n(1, required=[term(selector(env="prod"))]))
    fleet = [cluster("cluster-1"), cluster("cluster-2", {"env": "prod"})]
    s = run(new, fleet, bound(old, "cluster-1"))
    assert s.selected == ("cluster-2",)
    b1 = s.binding("cluster-1")
    assert b1 is not None and b1.state == BindingState.UNSCHEDULED and b1.previous_state == BindingState.BOUND


def test_unscheduled_binding_picked_again_gets_its_previous_state_back() -> None:
    p = crp(pick_n(1))
    h = scheduling_policy_hash(p)
    previous = [Binding("cluster-3", BindingState.UNSCHEDULED, "old", ClusterScore(), BindingState.BOUND)]
    s = run(p, numbered(3), previous)
    assert s.binding("cluster-3") == Binding("cluster-3", BindingState.BOUND, h, ClusterScore(), None)


def test_tainted_clusters_are_filtered_unless_tolerated() -> None:
    from reconciler.api.placement import Toleration

    fleet = [cluster("a", taints=[Taint("gpu", "true")]), cluster("b")]
    s = run(crp(pick_n(2)), fleet)
    assert s.selected == ("b",)
    assert (
        reasons(s)["a"]
        == "ClusterUnschedulable, taint &{Key:gpu Value:true Effect:NoSchedule} cannot be tolerated"
    )
    s = run(crp(pick_n(2, tolerations=[Toleration("gpu", "Exists")])), fleet)
    assert s.selected == ("a", "b")


def test_filter_reason_comes_from_the_first_failing_plugin_in_profile_order() -> None:
    stale = cluster("a", {"env": "dev"}, observation=None)  # fails affinity AND eligibility
    s = run(crp(pick_n(1, required=[term(selector(env="prod"))])), [stale, cluster("b")])
    assert reasons(s)["a"].startswith(
        "ClusterUnschedulable, none of the nonempty required cluster affinity term"
    )
    s = run(crp(pick_n(1)), [stale, cluster("b")])
    assert (
        reasons(s)["a"]
        == "ClusterUnschedulable, cluster is not connected to the fleet: member agent not online yet"
    )


def test_bindings_round_trip_through_their_status_form() -> None:
    s = run(crp(pick_n(2)), numbered(3), [Binding("gone", BindingState.BOUND, "h", None)])
    assert tuple(Binding.from_dict(b.to_dict()) for b in s.bindings) == s.bindings
    with pytest.raises(ValueError, match="malformed binding"):
        Binding.from_dict({"cluster": "a", "state": "Sideways", "policyHash": "h"})
