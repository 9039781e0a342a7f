"""The scheduler's reasons on view (issue 16 point 5): per selected decision, the scheduling
cycle that picked the cluster and the order PickN picked it in — the decisions list keeps
KubeFleet's grouping (last cycle's picks first, then by name), which hides that order."""

from __future__ import annotations

from typing import Any

from reconciler.scheduler.model import Pick
from tests.support.schedfixtures import (
    bound,
    cluster,
    crp,
    numbered,
    pick_all,
    pick_fixed,
    pick_n,
    prefer,
    run,
    selector,
    spread,
    term,
)


def picks(doc: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {
        d["clusterName"]: (d["schedulingCycle"], d["pickOrder"])
        for d in doc["clusterDecisions"]
        if "pickOrder" in d
    }


def test_topology_spread_shows_one_pick_per_cycle_in_the_order_chosen() -> None:
    fleet = [cluster(f"cluster-{i}", {"zone": z}) for i, z in enumerate("aabbcc", start=1)]
    s = run(crp(pick_n(3, spreads=[spread("zone")])), fleet)
    doc = s.to_dict()
    # listed as KubeFleet lists them: cluster-2, cluster-4, cluster-6; picked 6, then 4, then 2
    assert [d["clusterName"] for d in doc["clusterDecisions"][:3]] == ["cluster-2", "cluster-4", "cluster-6"]
    assert picks(doc) == {"cluster-6": (1, 1), "cluster-4": (2, 2), "cluster-2": (3, 3)}
    first = next(d for d in doc["clusterDecisions"] if d["clusterName"] == "cluster-6")
    assert first["clusterScore"] == {"affinityScore": 0, "priorityScore": -1}  # the components, as stored


def test_pick_n_orders_by_score_within_one_cycle() -> None:
    fleet = [cluster(f"cluster-{i}", {"tier": "gold"} if i % 2 == 0 else {}) for i in range(1, 5)]
    s = run(crp(pick_n(3, preferred=[prefer(10, term(selector(tier="gold")))])), fleet)
    assert picks(s.to_dict()) == {"cluster-4": (1, 1), "cluster-2": (1, 2), "cluster-3": (1, 3)}


def test_held_bindings_carry_no_pick_of_this_call() -> None:
    placement = crp(pick_n(2))
    s = run(placement, numbered(3), bound(placement, "cluster-1"))
    got = picks(s.to_dict())
    assert "cluster-1" not in got and len(got) == 1


def test_pick_all_and_pick_fixed_pick_in_one_cycle_by_name_or_as_listed() -> None:
    assert picks(run(crp(pick_all()), numbered(3)).to_dict()) == {
        "cluster-1": (1, 1),
        "cluster-2": (1, 2),
        "cluster-3": (1, 3),
    }
    assert picks(run(crp(pick_fixed("cluster-3", "cluster-1")), numbered(3)).to_dict()) == {
        "cluster-3": (1, 1),
        "cluster-1": (1, 2),
    }


def test_a_placement_rescheduled_keeps_its_picks_and_numbers_new_ones_after_them() -> None:
    fixed = crp(pick_fixed("cluster-3", "cluster-1"))
    first = run(fixed, numbered(3))
    assert run(fixed, numbered(3), first.bindings).picks == first.picks
    small, big = crp(pick_n(1)), crp(pick_n(2))
    one = run(small, numbered(3))
    assert one.picks == {"cluster-3": Pick(1, 1)}
    assert run(big, numbered(3), one.bindings).picks == {"cluster-3": Pick(1, 1), "cluster-2": Pick(2, 2)}
