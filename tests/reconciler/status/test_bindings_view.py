"""The bindings view (reconciler/status/bindings.py): KubeFleet's binding objects joined from the
hub memory and the placement status documents, for both placement kinds and every state."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from reconciler.errors import NotFound
from reconciler.rollout.rolling import BindingState
from reconciler.status.bindings import binding_docs, binding_name
from reconciler.status.memory import BindingRecord, HubMemory, PlacementMemory

RP = "ResourcePlacement/shop/cart"
CRP = "ClusterResourcePlacement/web"


def memory() -> HubMemory:
    rp = PlacementMemory(
        key=RP,
        policy_index=2,
        bindings=(
            BindingRecord(
                "eu-1",
                BindingState.BOUND,
                2,
                resource_index=5,
                version="v5",
                first_seen="t1",
                pick_cycle=2,
                pick_order=3,
            ),
            BindingRecord(
                "us-1", BindingState.UNSCHEDULED, 1, resource_index=4, version="v4", previous_state="Bound"
            ),
        ),
    )
    crp = PlacementMemory(
        key=CRP, policy_index=0, bindings=(BindingRecord("eu-1", BindingState.SCHEDULED, 0),)
    )
    return HubMemory(placements=MappingProxyType({RP: rp, CRP: crp}))


RP_DOC = {
    "status": {
        "placementStatuses": [
            {
                "clusterName": "eu-1",
                "conditions": [
                    {"type": "Scheduled", "status": "True", "message": "picked"},
                    {"type": "RolloutStarted", "status": "True"},
                ],
                "applicableClusterResourceOverrides": ["cro-1"],
                "failedPlacements": [{"kind": "ConfigMap", "name": "x"}],
            }
        ]
    }
}


def test_a_resource_placement_has_namespaced_resource_bindings() -> None:
    docs = binding_docs(memory(), {RP: RP_DOC}, "shop/cart")
    assert [d["kind"] for d in docs] == ["ResourceBinding", "ResourceBinding"]
    bound, unscheduled = docs
    assert bound["metadata"]["namespace"] == "shop"
    assert bound["metadata"]["name"] == binding_name(RP, "eu-1", "t1")
    assert bound["metadata"]["name"].startswith("cart-eu-1-")
    assert bound["spec"]["resourceSnapshotName"] == "cart-5-snapshot"
    assert bound["spec"]["schedulingPolicySnapshotName"] == "cart-2"
    assert bound["spec"]["clusterResourceOverrideSnapshots"] == ["cro-1"]
    assert bound["spec"]["clusterDecision"] == {
        "clusterName": "eu-1",
        "selected": True,
        "reason": "picked",
        "schedulingCycle": 2,
        "pickOrder": 3,
    }
    assert bound["status"]["conditions"] == [{"type": "RolloutStarted", "status": "True"}]
    assert bound["status"]["failedPlacements"] == [{"kind": "ConfigMap", "name": "x"}]
    assert unscheduled["spec"]["state"] == "Unscheduled"
    assert unscheduled["spec"]["clusterDecision"]["selected"] is False
    assert unscheduled["metadata"]["annotations"] == {"kubernetes-fleet.io/previous-binding-state": "Bound"}


def test_a_scheduled_binding_points_at_no_resource_snapshot_yet() -> None:
    (doc,) = binding_docs(memory(), {}, "web")
    assert doc["kind"] == "ClusterResourceBinding" and "namespace" not in doc["metadata"]
    assert doc["spec"]["resourceSnapshotName"] == "" and doc["spec"]["state"] == "Scheduled"


def test_all_placements_are_listed_by_placement_key_then_cluster() -> None:
    docs = binding_docs(memory(), {})
    assert [
        (d["metadata"]["labels"]["kubernetes-fleet.io/parent-CRP"], d["spec"]["targetCluster"]) for d in docs
    ] == [
        ("web", "eu-1"),
        ("cart", "eu-1"),
        ("cart", "us-1"),
    ]


def test_an_unknown_placement_is_not_found() -> None:
    with pytest.raises(NotFound):
        binding_docs(memory(), {}, "nothing")


def test_names_fit_a_dns_label_and_change_when_the_binding_is_created_again() -> None:
    long = binding_name("ClusterResourcePlacement/" + "p" * 80, "c" * 80, "t1")
    assert len(long) <= 63
    assert binding_name(CRP, "eu-1", "t1") != binding_name(CRP, "eu-1", "t2")
