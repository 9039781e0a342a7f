"""The hub writes each placement's latest scheduling policy snapshot (KubeFleet's
ClusterSchedulingPolicySnapshot) to ``fleet/status``: the selected clusters and up to 20 it did not
pick, each with KubeFleet's reason, and a Scheduled condition with KubeFleet's messages — and the
file moves only when the policy or the decisions do, never with a heartbeat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleetsync_contract.canonical import load
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
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
