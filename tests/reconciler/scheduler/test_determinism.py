"""Property tests: the scheduler is deterministic, and its fast path equals the naive cycle loop."""

from __future__ import annotations

import random
from datetime import timedelta
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api.meta import LabelSelector, Requirement
from reconciler.api.placement import PropertyOperator
from reconciler.hub.clusters import ClusterState
from reconciler.scheduler import Binding, schedule
from reconciler.scheduler.framework import scheduling_policy_hash
from tests.support.schedfixtures import (
    NOW,
    BindingState,
    ClusterScore,
    SortOrder,
    Taint,
    Toleration,
    WhenUnsatisfiable,
    cluster,
    crp,
    pick_all,
    pick_fixed,
    pick_n,
    prefer,
    prop,
    selector,
    sorter,
    spread,
    term,
    unhealthy,
)
from tests.support.schedreference import reference

NAMES = [f"m{i}" for i in range(14)]
COST = "example.com/cost"


@st.composite
def clusters(draw: st.DrawFn) -> list[ClusterState]:
    out = []
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=12)):
        labels = {}
        for key, values in (("zone", "abc"), ("region", "xy"), ("env", ["prod", "dev"])):
            v = draw(st.sampled_from([None, *values]))
            if v is not None:
                labels[key] = v
        cost = draw(st.sampled_from([None, "0", "5", "7", "10", "20", "2500m", "bad"]))
        props = {} if cost is None else {COST: cost}
        health = draw(st.sampled_from(["ok", "ok", "ok", "never", "sick"]))
        obs = (
            None
            if health == "never"
            else (unhealthy(timedelta(hours=1), props) if health == "sick" else "healthy")
        )
        taints = [Taint("gpu")] if draw(st.booleans()) and draw(st.booleans()) else []
        out.append(cluster(name, labels, taints=taints, properties=props, observation=obs))
    return out


LABEL_SELECTORS = [
    None,
    selector(env="prod", region="x"),
    LabelSelector(match_expressions=(Requirement("zone", "In", ("a", "b")),)),
    LabelSelector(match_expressions=(Requirement("zone", "NotIn", ("a",)),)),
    LabelSelector(match_expressions=(Requirement("region", "Exists"),)),
    LabelSelector(MappingProxyType({"env": "prod"}), (Requirement("region", "DoesNotExist"),)),
]
PROPERTY_EXPRESSIONS = [
    prop(COST, op, value) for op in PropertyOperator for value in ("5", "7000m", "2.5", "bad")
]


@st.composite
def placements(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    if draw(st.integers(0, 5)) == 0:
        return crp(pick_all(required=draw(st.sampled_from([None, [term(selector(env="prod"))]]))))
    spreads = draw(
        st.lists(
            st.sampled_from(
                [
                    spread("zone"),
                    spread("region", 2),
                    spread("zone", 1, WhenUnsatisfiable.SCHEDULE_ANYWAY),
                    spread("rack"),
                ]
            ),
            unique_by=lambda s: s.topology_key,
            max_size=2,
        )
    )
    preferred = draw(
        st.lists(
            st.sampled_from(
                [
                    prefer(10, term(selector(env="prod"))),
                    prefer(
                        draw(st.integers(-20, 20)),
                        term(sorter=sorter(COST, draw(st.sampled_from(list(SortOrder))))),
                    ),
                    prefer(7, term(selector(region="x"), sorter=sorter(COST))),
                    prefer(-5, term(draw(st.sampled_from(LABEL_SELECTORS)))),
                ]
            ),
            max_size=2,
        )
    )
    required = draw(st.sampled_from([None, [term(selector(env="prod")), term(selector(zone="a"))]]))
    if draw(st.booleans()):  # property expressions and label expressions: the bitset paths
        required = [
            term(
                draw(st.sampled_from(LABEL_SELECTORS)),
                *draw(st.lists(st.sampled_from(PROPERTY_EXPRESSIONS), max_size=2)),
            )
            for _ in range(draw(st.integers(1, 2)))
        ]
    tolerations = draw(st.sampled_from([[], [Toleration("gpu", "Exists")]]))
    return crp(
        pick_n(
            draw(st.integers(0, 8)),
            required=required,
            preferred=preferred,
            spreads=spreads,
            tolerations=tolerations,
        )
    )


@st.composite
def previous(draw: st.DrawFn, current: str) -> list[Binding]:
    out = []
    for name in draw(st.lists(st.sampled_from([*NAMES, "left"]), max_size=6)):
        state = draw(st.sampled_from(list(BindingState)))
        prev = (
            draw(st.sampled_from([None, BindingState.BOUND, BindingState.SCHEDULED]))
            if state == BindingState.UNSCHEDULED
            else None
        )
        score = draw(st.sampled_from([None, ClusterScore(0, 3), ClusterScore(-1, 0)]))
        out.append(Binding(name, state, draw(st.sampled_from([current, "0ld"])), score, prev))
    return out


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_schedule_is_deterministic_regardless_of_input_order(data: st.DataObject) -> None:
    fleet = data.draw(clusters())
    if data.draw(st.integers(0, 4)) == 0:
        placement = crp(pick_fixed(*data.draw(st.lists(st.sampled_from([*NAMES, "nowhere"]), max_size=5))))
    else:
        placement = data.draw(placements())
    prev = data.draw(previous(scheduling_policy_hash(placement)))
    first = schedule(placement, fleet, prev, 3, NOW)
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    fleet2, prev2 = list(fleet), list(prev)
    rng.shuffle(fleet2)
    rng.shuffle(prev2)
    assert schedule(placement, fleet2, prev2, 3, NOW) == first


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fast_path_equals_the_naive_kubefleet_cycle_loop(data: st.DataObject) -> None:
    fleet = data.draw(clusters())
    placement = data.draw(placements())
    prev = data.draw(previous(scheduling_policy_hash(placement)))
    got = schedule(placement, fleet, prev, 0, NOW)
    assert (got.bindings, got.decisions, got.condition) == reference(placement, fleet, prev)
