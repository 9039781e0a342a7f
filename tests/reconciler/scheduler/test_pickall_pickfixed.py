"""PickAll and PickFixed (§3.4), and the decision list limits (§3.5)."""

from __future__ import annotations

from datetime import timedelta

from reconciler.hub.clusters import ClusterState
from reconciler.scheduler import Binding
from reconciler.scheduler.framework import scheduling_policy_hash
from reconciler.status.conditions import Status
from tests.support.schedfixtures import (
    BindingState,
    Taint,
    bound,
    cluster,
    crp,
    healthy,
    numbered,
    pick_all,
    pick_fixed,
    reasons,
    run,
    selector,
    term,
    unhealthy,
)


def fleet_with_trouble() -> list[ClusterState]:
    return [
        cluster("healthy", {"env": "prod"}),
        cluster("blip", {"env": "prod"}, observation=unhealthy(timedelta(minutes=1))),
        cluster("sick", {"env": "prod"}, observation=unhealthy(timedelta(minutes=30))),
        cluster("silent", {"env": "prod"}, observation=healthy(age=timedelta(minutes=20))),
        cluster("new", {"env": "prod"}, observation=None),
        cluster("dev", {"env": "dev"}),
    ]


def test_nil_policy_is_pickall_of_every_eligible_cluster() -> None:
    s = run(crp(None), fleet_with_trouble())
    assert s.selected == ("blip", "dev", "healthy")
    assert [d.cluster_name for d in s.decisions[:3]] == ["blip", "dev", "healthy"]
    assert reasons(s)["blip"] == (
        'Successfully scheduled resources for placement in "blip" (affinity score: 0, topology spread score: 0): '
        "picked by scheduling policy"
    )
    assert reasons(s)["sick"].startswith(
        "ClusterUnschedulable, cluster is not connected to the fleet: unhealthy for a prolonged period of time"
    )
    assert reasons(s)["silent"].startswith(
        "ClusterUnschedulable, cluster is not connected to the fleet: no recent heartbeat"
    )
    assert (
        reasons(s)["new"]
        == "ClusterUnschedulable, cluster is not connected to the fleet: member agent not online yet"
    )
    assert s.condition.status == Status.TRUE
    assert (
        s.condition.message
        == "found all cluster needed as specified by the scheduling policy, found 3 cluster(s)"
    )


def test_pickall_with_required_affinity_is_fulfilled_even_when_nothing_matches() -> None:
    s = run(crp(pick_all(required=[term(selector(env="staging"))])), fleet_with_trouble())
    assert s.selected == ()
    assert s.condition.status == Status.TRUE


def test_pickall_keeps_bound_clusters_that_went_bad_and_adds_new_ones() -> None:
    p = crp(pick_all(required=[term(selector(env="prod"))]))
    s = run(p, fleet_with_trouble(), bound(p, "sick"))
    assert s.selected == ("blip", "healthy", "sick")


def test_pickall_policy_change_unschedules_clusters_that_no_longer_match() -> None:
    old = crp(pick_all())
    new = crp(pick_all(required=[term(selector(env="prod"))]))
    s = run(new, fleet_with_trouble(), bound(old, "dev", "healthy"))
    assert s.binding("dev").state == BindingState.UNSCHEDULED  # type: ignore[union-attr]
    healthy = s.binding("healthy")
    assert healthy is not None
    assert healthy == Binding("healthy", BindingState.BOUND, scheduling_policy_hash(new), healthy.score)


def test_pickfixed_reports_not_found_and_ineligible_and_ignores_taints_and_affinity() -> None:
    fleet = [*fleet_with_trouble(), cluster("tainted", taints=[Taint("no", "way")])]
    s = run(crp(pick_fixed("tainted", "sick", "gone", "dev")), fleet)
    assert s.selected == ("dev", "tainted")
    assert [(d.cluster_name, d.selected) for d in s.decisions] == [
        ("tainted", True),
        ("dev", True),
        ("sick", False),
        ("gone", False),
    ]
    r = reasons(s)
    assert (
        r["tainted"]
        == 'Successfully scheduled resources for placement in "tainted": picked by scheduling policy'
    )
    assert r["sick"].startswith(
        'Cluster "sick" is not eligible for resource placement yet: cluster is not connected to the fleet: unhealthy'
    )
    assert r["gone"] == 'Specified cluster "gone" is not found'
    assert s.decisions[0].to_dict() == {"clusterName": "tainted", "selected": True, "reason": r["tainted"]}
    assert s.condition.status == Status.FALSE
    assert s.condition.message == (
        "could not find all clusters needed as specified by the scheduling policy, found 2 cluster(s) instead"
    )


def test_pickfixed_keeps_a_bound_cluster_that_became_unhealthy() -> None:
    p = crp(pick_fixed("sick", "healthy"))
    s = run(p, fleet_with_trouble(), bound(p, "sick"))
    assert s.selected == ("healthy", "sick")
    assert s.condition.status == Status.FALSE


def test_pickfixed_removing_a_name_unschedules_its_binding() -> None:
    before = crp(pick_fixed("dev", "healthy"))
    after = crp(pick_fixed("healthy"))
    s = run(after, fleet_with_trouble(), bound(before, "dev", "healthy"))
    assert s.selected == ("healthy",)
    assert s.binding("dev").state == BindingState.UNSCHEDULED  # type: ignore[union-attr]
    assert s.condition.status == Status.TRUE


def test_unselected_decisions_are_capped_at_twenty() -> None:
    fleet = [cluster(f"c{i:02}", {"env": "dev"}) for i in range(30)]
    s = run(crp(pick_all(required=[term(selector(env="prod"))])), fleet)
    assert len(s.decisions) == 20
    assert [d.cluster_name for d in s.decisions] == [f"c{i:02}" for i in range(20)]  # filtered, by name


def test_selected_decisions_are_capped_at_one_thousand() -> None:
    s = run(crp(None), numbered(1003))
    assert len(s.selected) == 1003
    assert len(s.decisions) == 1000


def test_rp_requires_its_namespace_on_clusters_that_collect_namespaces() -> None:
    from tests.support.schedfixtures import pick_n, rp

    fleet = [
        cluster("has", observation=healthy(namespaces=frozenset({"team-a"}))),
        cluster("lacks", observation=healthy(namespaces=frozenset({"other"}))),
        cluster("unknown"),
    ]
    s = run(rp(pick_n(3), "team-a"), fleet)
    assert s.selected == ("has", "unknown")
    assert reasons(s)["lacks"] == "ClusterUnschedulable, target namespace does not exist on cluster"
