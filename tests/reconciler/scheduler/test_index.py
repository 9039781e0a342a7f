"""The fleet index answers what a loop over the clusters answers (reconciler/scheduler/index.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsync_contract.quantity import parse_quantity
from reconciler.api.meta import LabelSelector, Requirement
from reconciler.api.placement import PropertyOperator
from reconciler.hub.clusters import ClusterState
from reconciler.scheduler.index import FleetIndex, bits_of, fleet_index, iter_positions, positions_of
from reconciler.scheduler.plugins.clusteraffinity import _holds
from tests.support.schedfixtures import cluster, selector

COST = "example.com/cost"
VALUES = ["0", "5", "5000m", "7", "2500m", "2.5", "1e3", "0.1", "100m", "bad", None]


@st.composite
def fleets(draw: st.DrawFn) -> list[ClusterState]:
    out = []
    for i in range(draw(st.integers(0, 40))):
        labels = {k: v for k in ("zone", "env") if (v := draw(st.sampled_from([None, "a", "b", "c"])))}
        cost = draw(st.sampled_from(VALUES))
        out.append(cluster(f"c{i:02}", labels, properties={} if cost is None else {COST: cost}))
    return out


@settings(max_examples=200, deadline=None)
@given(fleet=fleets(), op=st.sampled_from(list(PropertyOperator)), value=st.sampled_from(VALUES[:-2]))
def test_property_expressions_select_exactly_the_clusters_whose_value_holds(
    fleet: list[ClusterState], op: PropertyOperator, value: str
) -> None:
    index = FleetIndex.build(fleet)
    expected = parse_quantity(value)
    want = [
        i
        for i, c in enumerate(index.clusters)
        if (q := c.quantities.get(COST)) is not None and _holds(q, op, expected)
    ]
    assert positions_of(index.quantity(COST).holding(op, expected, len(index.clusters))) == want


SELECTORS = [
    None,
    selector(env="a"),
    selector(env="a", zone="b"),
    LabelSelector(match_expressions=(Requirement("zone", "In", ("a", "c")),)),
    LabelSelector(match_expressions=(Requirement("zone", "NotIn", ("a",)),)),
    LabelSelector(match_expressions=(Requirement("env", "Exists"),)),
    LabelSelector(match_expressions=(Requirement("env", "DoesNotExist"), Requirement("zone", "In", ("b",)))),
    selector(region="nowhere"),
]


@settings(max_examples=100, deadline=None)
@given(fleet=fleets(), chosen=st.sampled_from(SELECTORS))
def test_label_selectors_select_exactly_the_clusters_they_match(
    fleet: list[ClusterState], chosen: LabelSelector | None
) -> None:
    index = FleetIndex.build(fleet)
    want = [i for i, c in enumerate(index.clusters) if chosen is None or chosen.matches(c.labels)]
    assert positions_of(index.selecting(chosen)) == want


def test_bitsets_round_trip() -> None:
    assert positions_of(bits_of([0, 3, 64, 99], 100)) == [0, 3, 64, 99]
    assert list(iter_positions(bits_of([5, 7], 8))) == [5, 7]
    assert bits_of([], 0) == 0 and positions_of(0) == []


def test_a_pass_shares_one_index_per_tuple_of_states_and_a_list_is_never_cached() -> None:
    states = (cluster("b"), cluster("a"))
    assert fleet_index(states) is fleet_index(states)
    assert fleet_index(states).names == ("a", "b")
    assert fleet_index(tuple(list(states))) is not fleet_index(states)
    as_list = list(states)
    assert fleet_index(as_list) is not fleet_index(as_list)
