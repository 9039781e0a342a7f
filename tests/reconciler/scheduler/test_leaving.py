"""A leaving cluster (docs/hub.md "Leaving the fleet") is not eligible and its bindings dangle."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from reconciler.api.membercluster import LEAVE_ANNOTATION, MemberCluster
from reconciler.api.meta import ObjectMeta
from reconciler.hub.clusters import ClusterState, cluster_state
from reconciler.rollout.rolling import BindingState
from tests.support.schedfixtures import (
    NOW,
    bound,
    cluster,
    crp,
    healthy,
    member,
    pick_all,
    pick_fixed,
    pick_n,
    reasons,
    run,
)


def leaving_member(name: str, value: str = "true", deletion_timestamp: str = "") -> MemberCluster:
    m = member(name, {"env": "prod"})
    annotations = {LEAVE_ANNOTATION: value} if value else {}
    meta = ObjectMeta(name, labels=m.meta.labels, annotations=MappingProxyType(annotations))
    return replace(m, meta=meta, deletion_timestamp=deletion_timestamp)


def leaving(name: str, value: str = "true", deletion_timestamp: str = "") -> ClusterState:
    return cluster_state(leaving_member(name, value, deletion_timestamp), healthy(), NOW)


def test_pickfixed_says_a_leaving_cluster_is_not_eligible_in_kubefleets_words() -> None:
    s = run(crp(pick_fixed("away", "here")), [leaving("away"), cluster("here")])
    assert s.selected == ("here",)
    assert (
        reasons(s)["away"]
        == 'Cluster "away" is not eligible for resource placement yet: cluster has left the fleet'
    )


def test_a_deletion_timestamp_written_in_the_repo_makes_the_cluster_leave() -> None:
    state = leaving("away", value="", deletion_timestamp="2026-11-25T02:00:00Z")
    s = run(crp(pick_fixed("away")), [state])
    assert s.selected == ()
    assert "cluster has left the fleet" in reasons(s)["away"]


def test_pickall_unschedules_the_bound_binding_of_a_leaving_cluster() -> None:
    # An unhealthy cluster keeps its binding (IgnoredDuringExecution); a leaving one does not.
    p = crp(pick_all())
    s = run(p, [leaving("away"), cluster("here")], bound(p, "away", "here"))
    assert s.selected == ("here",)
    states = {b.cluster: b.state for b in s.bindings}
    assert states["away"] == BindingState.UNSCHEDULED


def test_pickfixed_unschedules_the_bound_binding_of_a_leaving_cluster_even_with_keep_resources() -> None:
    p = crp(pick_fixed("away", "here"))
    s = run(p, [leaving("away", "keep-resources"), cluster("here")], bound(p, "away", "here"))
    assert s.selected == ("here",)
    assert {b.cluster: b.state for b in s.bindings}["away"] == BindingState.UNSCHEDULED


def test_pickn_replaces_a_leaving_cluster_where_an_unhealthy_one_would_be_kept() -> None:
    p = crp(pick_n(2))
    fleet = [leaving("away"), cluster("here"), cluster("spare")]
    s = run(p, fleet, bound(p, "away", "here"))
    assert s.selected == ("here", "spare")
    assert {b.cluster: b.state for b in s.bindings}["away"] == BindingState.UNSCHEDULED
