"""The hub writes each placement's latest scheduling policy snapshot (KubeFleet's
ClusterSchedulingPolicySnapshot) to ``fleet/status``: the selected clusters and up to 20 it did not
pick, each with KubeFleet's reason, and a Scheduled condition with KubeFleet's messages — and the
file moves only when the policy or the decisions do, never with a heartbeat."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tests.support.schedfixtures as sf
from fleetsync_contract.canonical import dump, load
from reconciler.api.placement import Placement
from reconciler.api.policy import PropertyOperator, SortOrder, Toleration
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.clusters import ClusterState
from reconciler.hub.loop import reconcile_once
from reconciler.status.policysnapshots import NUMBER_OF_CLUSTERS_ANNOTATION, snapshot_doc, snapshot_path
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files, crp, joined_fleet, member
from tests.support.gitdaemon import git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
STATUS = "refs/heads/fleet/status"
SNAPSHOT = "policysnapshots/ClusterResourcePlacement/web.yaml"
PICK_N = crp().replace("placementType: PickAll", "placementType: PickN\n    numberOfClusters: 2")
PICK_N_EUROPE = crp(affinity_region="europe").replace(
    "placementType: PickAll", "placementType: PickN\n    numberOfClusters: 3"
)
PICK_FIXED = crp().replace(
    "placementType: PickAll", "placementType: PickFixed\n    clusterNames: [eu-1, eu-2, nowhere]"
)


def snapshot(fleet: FleetWork) -> dict[str, Any]:
    doc = load(fleet.read(STATUS, SNAPSHOT).encode())
    assert isinstance(doc, dict)
    return doc


def decisions(doc: dict[str, Any]) -> list[tuple[str, bool, str]]:
    return [(d["clusterName"], d["selected"], d["reason"]) for d in doc["status"]["targetClusters"]]


def scheduled(doc: dict[str, Any]) -> dict[str, Any]:
    (cond,) = doc["status"]["conditions"]
    return {k: cond[k] for k in ("type", "status", "reason", "message")}


def hub(fleet: FleetWork, now: datetime = NOW) -> list[str]:
    with HubRepo.local(fleet.path) as repo:
        return list(reconcile_once(repo, now).written)


def status_commits(fleet: FleetWork) -> int:
    return int(git(fleet.path, "rev-list", "--count", STATUS))


def test_pickall_lists_the_picked_clusters_and_why_the_others_were_filtered(tmp_path: Path) -> None:
    fleet = joined_fleet(tmp_path / "fleet", NOW, base_files(placement=crp(affinity_region="europe")))
    hub(fleet)
    doc = snapshot(fleet)
    assert doc["apiVersion"] == "placement.kubernetes-fleet.io/v1beta1"
    assert doc["kind"] == "ClusterSchedulingPolicySnapshot"
    assert doc["metadata"]["name"] == "web-0"
    assert doc["metadata"]["labels"] == {
        "kubernetes-fleet.io/is-latest-snapshot": "true",
        "kubernetes-fleet.io/parent-CRP": "web",
        "kubernetes-fleet.io/policy-index": "0",
    }
    assert "annotations" not in doc["metadata"]  # number-of-clusters is PickN's
    assert doc["spec"]["policy"] == {
        "placementType": "PickAll",
        "affinity": {
            "clusterAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "clusterSelectorTerms": [{"labelSelector": {"matchLabels": {"region": "europe"}}}]
                }
            }
        },
    }
    assert scheduled(doc) == {
        "type": "Scheduled",
        "status": "True",
        "reason": "SchedulingPolicyFulfilled",
        "message": "found all cluster needed as specified by the scheduling policy, found 2 cluster(s)",
    }
    got = decisions(doc)
    assert [(c, s) for c, s, _ in got] == [("eu-1", True), ("eu-2", True), ("us-1", False), ("us-2", False)]
    for _, _, reason in got[2:]:
        assert reason.startswith("ClusterUnschedulable, "), reason  # the filter's Status string
    assert all("clusterScore" not in d for d in doc["status"]["targetClusters"][2:])  # filtered: no score


def test_pickn_lists_the_clusters_that_did_not_score_high_enough_with_their_scores(tmp_path: Path) -> None:
    fleet = joined_fleet(tmp_path / "fleet", NOW, base_files(placement=PICK_N))
    hub(fleet)
    doc = snapshot(fleet)
    assert doc["metadata"]["annotations"] == {"kubernetes-fleet.io/number-of-clusters": "2"}
    assert doc["spec"]["policy"] == {"placementType": "PickN"}  # numberOfClusters is the annotation
    assert scheduled(doc)["reason"] == "SchedulingPolicyFulfilled"
    # equal scores: KubeFleet picks by descending name; the rest in its rank order
    assert decisions(doc) == [
        (
            "us-1",
            True,
            'Successfully scheduled resources for placement in "us-1" (affinity score: 0, '
            "topology spread score: 0): picked by scheduling policy",
        ),
        (
            "us-2",
            True,
            'Successfully scheduled resources for placement in "us-2" (affinity score: 0, '
            "topology spread score: 0): picked by scheduling policy",
        ),
        (
            "eu-2",
            False,
            'Cluster "eu-2" does not score high enough (affinity score: 0, topology spread score: 0)',
        ),
        (
            "eu-1",
            False,
            'Cluster "eu-1" does not score high enough (affinity score: 0, topology spread score: 0)',
        ),
    ]
    unpicked = doc["status"]["targetClusters"][2]
    assert unpicked["clusterScore"] == {"affinityScore": 0, "priorityScore": 0}


def test_an_unfulfilled_pickn_says_how_many_it_found_and_why_the_others_were_filtered(tmp_path: Path) -> None:
    fleet = joined_fleet(tmp_path / "fleet", NOW, base_files(placement=PICK_N_EUROPE))
    hub(fleet)
    doc = snapshot(fleet)
    assert scheduled(doc) == {
        "type": "Scheduled",
        "status": "False",
        "reason": "SchedulingPolicyUnfulfilled",
        "message": "could not find all clusters needed as specified by the scheduling policy, "
        "found 2 cluster(s) instead",
    }
    got = decisions(doc)
    assert [(c, s) for c, s, _ in got] == [("eu-1", True), ("eu-2", True), ("us-1", False), ("us-2", False)]
    assert all(r.startswith("ClusterUnschedulable, ") for _, _, r in got[2:])


def test_pickfixed_says_which_named_cluster_is_missing_or_not_eligible(tmp_path: Path) -> None:
    fleet = joined_fleet(tmp_path / "fleet", NOW, base_files(placement=PICK_FIXED))
    later = NOW + timedelta(minutes=6)  # eu-2 fell silent at NOW
    for c in CLUSTERS:
        if c != "eu-2":
            fleet.beat(c, later)
    hub(fleet, later)
    doc = snapshot(fleet)
    assert doc["spec"]["policy"] == {
        "placementType": "PickFixed",
        "clusterNames": ["eu-1", "eu-2", "nowhere"],
    }
    assert scheduled(doc)["status"] == "False" and scheduled(doc)["reason"] == "SchedulingPolicyUnfulfilled"
    got = {c: (s, r) for c, s, r in decisions(doc)}
    assert set(got) == {"eu-1", "eu-2", "nowhere"}
    assert got["eu-1"] == (
        True,
        'Successfully scheduled resources for placement in "eu-1": picked by scheduling policy',
    )
    assert got["nowhere"] == (False, 'Specified cluster "nowhere" is not found')
    assert got["eu-2"][0] is False
    assert got["eu-2"][1].startswith('Cluster "eu-2" is not eligible for resource placement yet: ')
    assert "last received at 2026-11-25T03:00:00Z" in got["eu-2"][1]  # a time, never an age


def test_the_not_picked_reasons_stay_while_the_rollout_moves_and_heartbeats_add_no_commit(
    tmp_path: Path,
) -> None:
    """KubeFleet does not re-run a fully scheduled PickN placement when clusters change, so its
    snapshot keeps the cycle that picked; the hub's sticky passes must not drop those reasons."""
    fleet = joined_fleet(tmp_path / "fleet", NOW, base_files(placement=PICK_N))
    hub(fleet)
    picked = fleet.read(STATUS, SNAPSHOT)
    when = NOW + timedelta(minutes=1)
    for c in ("us-1", "us-2"):
        fleet.report(c, when)  # the agents applied: status moves, the decisions do not
    assert STATUS in hub(fleet, when)
    assert fleet.read(STATUS, SNAPSHOT) == picked
    before = status_commits(fleet)
    for i in range(20):  # only heartbeats and the clock move
        when += timedelta(seconds=30)
        for c in CLUSTERS:
            fleet.beat(c, when)
        assert hub(fleet, when) == [], f"poll {i} wrote"
    assert status_commits(fleet) == before
    assert [c for c, s, _ in decisions(snapshot(fleet)) if not s] == ["eu-2", "eu-1"]


def test_a_new_policy_is_a_new_snapshot_and_a_lost_cluster_a_new_pick(tmp_path: Path) -> None:
    fleet = joined_fleet(tmp_path / "fleet", NOW, base_files(placement=PICK_N))
    hub(fleet)
    files = base_files(placement=PICK_N)
    del files["clusters/us-2.yaml"]  # a picked cluster leaves: the scheduler picks again
    fleet.commit(files, "us-2 leaves\n\nFleetsync-Allow-Prune: all")
    hub(fleet)
    doc = snapshot(fleet)
    assert doc["metadata"]["name"] == "web-0"
    assert [(c, s) for c, s, _ in decisions(doc)] == [("eu-2", True), ("us-1", True), ("eu-1", False)]
    files["placements/web.yaml"] = PICK_N_EUROPE.replace("numberOfClusters: 3", "numberOfClusters: 1")
    files["clusters/us-2.yaml"] = member("us-2", "america")
    fleet.commit(files, "europe only")
    hub(fleet)
    doc = snapshot(fleet)
    assert doc["metadata"]["name"] == "web-1"
    assert doc["metadata"]["labels"]["kubernetes-fleet.io/policy-index"] == "1"
    assert doc["metadata"]["annotations"] == {"kubernetes-fleet.io/number-of-clusters": "1"}


def test_a_deleted_placement_takes_its_snapshot_with_it(tmp_path: Path) -> None:
    fleet = joined_fleet(tmp_path / "fleet", NOW, base_files(placement=PICK_N))
    hub(fleet)
    fleet.commit(
        {k: v for k, v in base_files().items() if k != "placements/web.yaml"},
        "delete web\n\nFleetsync-Allow-Prune: all",
    )
    hub(fleet)
    assert SNAPSHOT not in fleet.tree(STATUS)


# -- the document, from the scheduler's result (pure) -------------------------------------------------
FLEET = ("eu-1", "eu-2", "us-1", "us-2")


def sched_clusters(cpu: Mapping[str, str] | None = None) -> list[ClusterState]:
    """The four clusters, each reporting a CPU count (``cpu`` overrides some)."""
    values = {"eu-1": "4", "eu-2": "8", "us-1": "16", "us-2": "32", **(cpu or {})}
    return [sf.cluster(c, properties={"cpu": values[c]}) for c in FLEET]


BY_CPU = sf.pick_n(2, preferred=[sf.prefer(10, sf.term(sorter=sf.sorter("cpu")))])


def picked_then_sticky(
    placement: Placement, later: list[ClusterState] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The snapshot of the cycle that picked, and of the sticky pass after it."""
    first = sf.run(placement, sched_clusters())
    doc = snapshot_doc(placement, first, None, NOW, FLEET)
    second = sf.run(placement, later or sched_clusters(), first.bindings)
    return doc, snapshot_doc(placement, second, doc, NOW + timedelta(hours=1), FLEET)


def test_a_sticky_pickn_pass_keeps_the_not_picked_clusters_and_their_scores_while_properties_move() -> None:
    placement = sf.crp(BY_CPU)
    first, sticky = picked_then_sticky(placement, sched_clusters({"eu-1": "64", "us-1": "1"}))
    assert [(d["clusterName"], d["selected"]) for d in first["status"]["targetClusters"]] == [
        ("us-1", True),
        ("us-2", True),
        ("eu-2", False),
        ("eu-1", False),
    ]
    assert first["status"]["targetClusters"][2]["clusterScore"] == {"affinityScore": 1, "priorityScore": 0}
    assert dump(sticky) == dump(first)  # eu-1 would score highest now: the snapshot does not move


@pytest.mark.parametrize(
    "change",
    ["another policy index", "another N recorded", "recorded unfulfilled", "a cluster left", "hand-edited"],
)
def test_recorded_not_picked_clusters_are_kept_only_for_the_same_snapshot_n_and_fulfilment(
    change: str,
) -> None:
    placement = sf.crp(BY_CPU)
    first = sf.run(placement, sched_clusters())
    doc = snapshot_doc(placement, first, None, NOW, FLEET)
    sticky = sf.run(placement, sched_clusters(), first.bindings)
    fleet: tuple[str, ...] = FLEET
    if change == "another policy index":
        sticky = replace(sticky, policy_index=1)
    elif change == "another N recorded":
        doc["metadata"]["annotations"][NUMBER_OF_CLUSTERS_ANNOTATION] = "3"
    elif change == "recorded unfulfilled":
        doc["status"]["conditions"][0]["status"] = "False"
    elif change == "a cluster left":
        fleet = ("eu-2", "us-1", "us-2")
    else:
        unselected = {"clusterName": "eu-1", "selected": False, "reason": "x"}
        doc["status"]["targetClusters"] += [unselected] * 40
    kept = [
        d["clusterName"] for d in snapshot_doc(placement, sticky, doc, NOW, fleet)["status"]["targetClusters"]
    ]
    expected = {
        "another policy index": ["us-1", "us-2"],
        "another N recorded": ["us-1", "us-2"],
        "recorded unfulfilled": ["us-1", "us-2"],
        "a cluster left": ["us-1", "us-2", "eu-2"],
        "hand-edited": ["us-1", "us-2", "eu-2", *["eu-1"] * 19],  # at most KubeFleet's 20
    }[change]
    assert kept == expected


def test_pickall_never_keeps_old_reasons_it_says_what_the_filters_say_now() -> None:
    placement = sf.crp(sf.pick_all(required=[sf.term(sf.selector(region="eu"))]))
    clusters = [sf.cluster(c, {"region": c[:2]}) for c in FLEET]
    first = sf.run(placement, clusters)
    doc = snapshot_doc(placement, first, None, NOW, FLEET)
    moved = [sf.cluster(c, {"region": "eu" if c != "eu-2" else "us"}) for c in FLEET]
    again = sf.run(placement, moved, first.bindings)
    got = snapshot_doc(placement, again, doc, NOW, FLEET)["status"]["targetClusters"]
    assert [(d["clusterName"], d["selected"]) for d in got] == [
        ("eu-1", True),
        ("eu-2", True),  # KubeFleet keeps a placed cluster that stops matching (IgnoredDuringExecution)
        ("us-1", True),
        ("us-2", True),
    ]


def test_a_resource_placement_s_snapshot_is_namespaced_and_its_policy_in_kubefleet_s_shape() -> None:
    policy = replace(
        sf.pick_n(
            1,
            required=[sf.term(sf.selector(region="eu"), sf.prop("cpu", PropertyOperator.GT, "2"))],
            preferred=[sf.prefer(5, sf.term(sorter=sf.sorter("cpu", SortOrder.ASCENDING)))],
            spreads=[sf.spread("region")],
        ),
        tolerations=(Toleration(key="gpu", operator="Exists", effect="NoSchedule"),),
    )
    placement = sf.rp(policy, "shop", "cart")
    doc = snapshot_doc(placement, sf.run(placement, sched_clusters()), None, NOW, FLEET)
    assert doc["kind"] == "SchedulingPolicySnapshot"
    assert doc["metadata"]["name"] == "cart-0" and doc["metadata"]["namespace"] == "shop"
    assert doc["metadata"]["labels"]["kubernetes-fleet.io/parent-CRP"] == "cart"
    assert doc["spec"]["policy"] == {
        "placementType": "PickN",
        "affinity": {
            "clusterAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "clusterSelectorTerms": [
                        {
                            "labelSelector": {"matchLabels": {"region": "eu"}},
                            "propertySelector": {
                                "matchExpressions": [{"name": "cpu", "operator": "Gt", "values": ["2"]}]
                            },
                        }
                    ]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "preference": {"propertySorter": {"name": "cpu", "sortOrder": "Ascending"}}}
                ],
            }
        },
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "region", "whenUnsatisfiable": "DoNotSchedule"}
        ],
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    assert snapshot_path(placement.key) == "policysnapshots/ResourcePlacement/shop/cart.yaml"


def test_the_condition_keeps_its_transition_time_only_within_one_snapshot() -> None:
    placement = sf.crp(BY_CPU)
    first = sf.run(placement, sched_clusters())
    doc = snapshot_doc(placement, first, None, NOW, FLEET)
    later = NOW + timedelta(hours=1)
    same = snapshot_doc(placement, first, doc, later, FLEET)
    assert same["status"]["conditions"][0]["lastTransitionTime"] == "2026-11-25T03:00:00Z"
    renamed = snapshot_doc(placement, replace(first, policy_index=1), doc, later, FLEET)
    assert renamed["status"]["conditions"][0]["lastTransitionTime"] == "2026-11-25T04:00:00Z"
