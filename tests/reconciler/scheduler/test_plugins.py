"""Plugin rules in isolation: taints, affinity terms, Go rounding, topology skew (§3.2)."""

from __future__ import annotations

import pytest

from reconciler.api.placement import PropertyOperator as Op
from reconciler.api.placement import PropertySelectorRequirement
from reconciler.hub.clusters import ClusterObservation
from reconciler.scheduler.plugin import CallState
from reconciler.scheduler.plugins.clusteraffinity import ClusterAffinity, go_round
from reconciler.scheduler.plugins.namespaceaffinity import NamespaceAffinity
from reconciler.scheduler.plugins.tainttoleration import taint_reason, tolerates
from reconciler.scheduler.plugins.topologyspread import will_violate
from tests.support.schedfixtures import NOW, Taint, Toleration, cluster, crp, pick_n, prop, rp, selector, term

TAINT = Taint("dedicated", "gpu", "NoSchedule")


@pytest.mark.parametrize(
    ("toleration", "tolerated"),
    [
        (Toleration(operator="Exists"), True),  # empty key + Exists tolerates everything
        (Toleration("dedicated", "Exists"), True),
        (Toleration("dedicated", "Exists", effect="NoSchedule"), True),
        (Toleration("other", "Exists"), False),
        (Toleration("dedicated", "Equal", "gpu"), True),
        (Toleration("dedicated", "Equal", "gpu", "NoSchedule"), True),
        (Toleration("dedicated", "Equal", "cpu"), False),
        (Toleration("dedicated", "Equal", "gpu", "NoExecute"), False),
        (Toleration("", "Equal", "gpu"), False),
    ],
)
def test_toleration_rules(toleration: Toleration, tolerated: bool) -> None:
    assert tolerates(toleration, TAINT) is tolerated


def test_taint_reason_is_gos_rendering_of_the_taint_pointer() -> None:
    assert taint_reason(TAINT) == "taint &{Key:dedicated Value:gpu Effect:NoSchedule} cannot be tolerated"


NODES = "kubernetes-fleet.io/node-count"


@pytest.mark.parametrize(
    ("expr", "matches"),
    [
        (prop(NODES, Op.GT, "4"), True),
        (prop(NODES, Op.GT, "5"), False),
        (prop(NODES, Op.GE, "5"), True),
        (prop(NODES, Op.EQ, "5000m"), True),  # quantities, not strings
        (prop(NODES, Op.NE, "5"), False),
        (prop(NODES, Op.LT, "6"), True),
        (prop(NODES, Op.LE, "4"), False),
        (prop("example.com/missing", Op.NE, "5"), False),  # missing always fails, even Ne
        (prop("example.com/version", Op.GT, "1"), False),  # value is not a quantity: no match, no error
        (prop(NODES, Op.GT, "lots"), False),  # expected value not a quantity: no match, no error
    ],
)
def test_required_property_expressions(expr: PropertySelectorRequirement, matches: bool) -> None:
    c = cluster("c1", {"env": "prod"}, properties={NODES: "5", "example.com/version": "v1.2"})
    policy = pick_n(1, required=[term(selector(env="prod"), expr)])
    call = CallState(crp(policy), policy, [c])
    plugin = ClusterAffinity()
    assert plugin.pre_filter(call)
    assert (plugin.filter(call, c) is None) is matches


def test_required_terms_are_ored_and_label_and_properties_anded() -> None:
    policy = pick_n(
        1, required=[term(selector(env="dev")), term(selector(env="prod"), prop(NODES, Op.GT, "10"))]
    )
    c = cluster("c1", {"env": "prod"}, properties={NODES: "5"})
    call = CallState(crp(policy), policy, [c])
    plugin = ClusterAffinity()
    assert plugin.pre_filter(call)
    assert (
        plugin.filter(call, c)
        == "none of the nonempty required cluster affinity term (total number: 2) is matched"
    )


@pytest.mark.parametrize(
    ("x", "rounded"),
    [(0.5, 1), (-0.5, -1), (1.5, 2), (2.5, 3), (-2.5, -3), (0.49999999999999994, 0), (7.4, 7), (-7.6, -8)],
)
def test_go_round_is_half_away_from_zero(x: float, rounded: int) -> None:
    assert go_round(x) == rounded


@pytest.mark.parametrize(
    ("counts", "domain", "max_skew", "result"),
    [
        ({"a": 0, "b": 0, "c": 0}, "a", 1, (False, 1)),  # all equal: +1
        ({"a": 0, "b": 1, "c": 1}, "a", 1, (False, -1)),  # unique smallest: -1
        ({"a": 0, "b": 0, "c": 1}, "a", 1, (False, 0)),  # shared smallest: 0
        ({"a": 0, "b": 0, "c": 1}, "c", 1, (True, 1)),  # largest: +1 -> skew 2 > 1
        ({"a": 0, "b": 1, "c": 2}, "b", 1, (True, 0)),  # between, but already skewed beyond max
        ({"a": 0, "b": 1, "c": 2}, "b", 2, (False, 0)),
        ({"a": 3}, "a", 1, (False, 1)),  # one domain: always "all equal"
    ],
)
def test_topology_skew_change(
    counts: dict[str, int], domain: str, max_skew: int, result: tuple[bool, int]
) -> None:
    assert will_violate(counts, domain, max_skew) == result


@pytest.mark.parametrize(
    ("namespaces", "passes"),
    [(None, True), (frozenset({"team-a", "kube-system"}), True), (frozenset({"kube-system"}), False)],
    ids=["collection-disabled", "namespace-present", "namespace-missing"],
)
def test_namespace_affinity_for_resource_placements(namespaces: frozenset[str] | None, passes: bool) -> None:
    obs = ClusterObservation(heartbeat_time=NOW, healthy=True, namespaces=namespaces)
    c = cluster("c1", observation=obs)
    placement = rp(pick_n(1), "team-a")
    call = CallState(placement, placement.effective_policy, [c])
    plugin = NamespaceAffinity()
    assert plugin.pre_filter(call)
    assert (plugin.filter(call, c) is None) is passes
    assert not plugin.pre_filter(CallState(crp(pick_n(1)), pick_n(1), [c]))  # CRPs are never filtered
