"""Topology spread (§3.2): one pick per cycle, converged in one call, skew rules and penalties."""

from __future__ import annotations

from reconciler.hub.clusters import ClusterState
from reconciler.status.conditions import Status
from tests.support.schedfixtures import (
    BindingState,
    ClusterScore,
    WhenUnsatisfiable,
    bound,
    cluster,
    crp,
    numbered,
    pick_n,
    prefer,
    reasons,
    run,
    selector,
    spread,
    term,
)

VIOLATED = 'ClusterUnschedulable, violated doNotSchedule topology spread constraint "zone" (max skew 1)'


def zones(spec: str) -> list[ClusterState]:
    """``"aabbcc"`` -> cluster-1 and cluster-2 in zone a, 3 and 4 in b, 5 and 6 in c."""
    return [cluster(f"cluster-{i}", {"zone": z}) for i, z in enumerate(spec, start=1)]


def test_spread_picks_one_cluster_per_cycle_and_converges_in_one_call() -> None:
    s = run(crp(pick_n(3, spreads=[spread("zone")])), zones("aabbcc"))
    # cycle 1: all zones empty, all +1 -> cluster-6; cycle 2: zone c is largest -> violated,
    # a and b tie at 0 -> cluster-4; cycle 3: zone a is the unique smallest (-1 -> +1) -> cluster-2.
    assert s.selected == ("cluster-2", "cluster-4", "cluster-6")
    assert s.cycles == 3
    assert {b.cluster: b.score for b in s.bindings} == {
        "cluster-6": ClusterScore(-1, 0, 0),
        "cluster-4": ClusterScore(0, 0, 0),
        "cluster-2": ClusterScore(1, 0, 0),
    }
    # decisions come from the last cycle, as KubeFleet writes them only when it stops requeueing
    assert [(d.cluster_name, d.selected) for d in s.decisions] == [
        ("cluster-2", True),
        ("cluster-4", True),
        ("cluster-6", True),
        ("cluster-1", False),
        ("cluster-3", False),
        ("cluster-5", False),
    ]
    assert (
        reasons(s)["cluster-1"]
        == 'Cluster "cluster-1" does not score high enough (affinity score: 0, topology spread score: 1)'
    )
    assert reasons(s)["cluster-3"] == VIOLATED


def test_spread_beyond_the_domains_is_unfulfilled_under_do_not_schedule() -> None:
    s = run(crp(pick_n(4, spreads=[spread("zone")])), zones("aaab"))
    # b: cluster-4, then a: cluster-3, then a again (a1 b1 all equal): cluster-2; a fourth pick
    # in zone a would make the skew 2
    assert s.selected == ("cluster-2", "cluster-3", "cluster-4")
    assert s.condition.status == Status.FALSE
    assert reasons(s)["cluster-1"] == VIOLATED


def test_schedule_anyway_penalises_instead_of_filtering() -> None:
    s = run(crp(pick_n(4, spreads=[spread("zone", when=WhenUnsatisfiable.SCHEDULE_ANYWAY)])), zones("aaab"))
    assert s.selected == ("cluster-1", "cluster-2", "cluster-3", "cluster-4")
    assert s.binding("cluster-1").score == ClusterScore(-1000, 0, 0)  # type: ignore[union-attr]


def test_clusters_without_the_key_are_outside_the_spread() -> None:
    fleet = [*zones("ab"), cluster("cluster-9")]
    s = run(crp(pick_n(3, spreads=[spread("zone")])), fleet)
    assert s.selected == ("cluster-1", "cluster-2", "cluster-9")
    assert s.binding("cluster-9").score == ClusterScore(0, 0, 0)  # type: ignore[union-attr]


def test_topology_key_no_cluster_has_still_picks_one_per_cycle() -> None:
    s = run(crp(pick_n(3, spreads=[spread("rack")])), numbered(5))
    assert s.selected == ("cluster-3", "cluster-4", "cluster-5")
    assert s.cycles == 3


def test_ineligible_clusters_define_domains_and_held_bindings_count() -> None:
    fleet = [*zones("ab"), cluster("cluster-3", {"zone": "c"}, observation=None)]
    p = crp(pick_n(2, spreads=[spread("zone")]))
    s = run(p, fleet, bound(p, "cluster-2"))
    # zone c exists (ineligible cluster) with count 0; zone b holds one; a is the tie at 0 -> 0 change
    assert s.selected == ("cluster-1", "cluster-2")
    assert s.binding("cluster-1").score == ClusterScore(0, 0, 0)  # type: ignore[union-attr]


def test_obsolete_preference_only_lasts_the_first_cycle_under_spread() -> None:
    # After a policy change KubeFleet unschedules, in cycle 1, every obsolete binding it did not
    # pick; later cycles see them as Unscheduled, without the obsolete-placement bonus.
    old = crp(pick_n(2))
    new = crp(pick_n(2, spreads=[spread("zone")]))
    s = run(new, zones("aab"), bound(old, "cluster-1", "cluster-3"))
    # cycle 1: all zones tie, the bonus picks cluster-3 (kept Bound) and cluster-1 is unscheduled;
    # cycle 2: zone a is the unique smallest, cluster-1 and cluster-2 tie, descending name wins.
    assert s.selected == ("cluster-2", "cluster-3")
    assert s.binding("cluster-3").state == BindingState.BOUND  # type: ignore[union-attr]
    b1 = s.binding("cluster-1")
    assert b1 is not None and b1.state == BindingState.UNSCHEDULED and b1.previous_state == BindingState.BOUND
    assert s.cycles == 2


def test_two_constraints_and_affinity_combine_lexicographically() -> None:
    fleet = [
        cluster(f"c{i}", {"zone": z, "region": r, **({"gold": "1"} if i % 2 else {})})
        for i, (z, r) in enumerate([("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "x"), ("c", "y")])
    ]
    p = crp(
        pick_n(
            4, preferred=[prefer(10, term(selector(gold="1")))], spreads=[spread("zone"), spread("region")]
        )
    )
    s = run(p, fleet)
    assert len(s.selected) == 4
    assert s.condition.status == Status.TRUE
