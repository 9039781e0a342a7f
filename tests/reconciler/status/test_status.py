"""fleet/status: the hub's memory round-trips, and placement/cluster documents read like KubeFleet's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest

from fleetsync_contract.canonical import dump
from fleetsync_contract.report import (
    Availability,
    ClusterReport,
    Condition,
    DriftType,
    Health,
    ObjectDrift,
    ObjectResult,
    Outcome,
    PatchDetail,
    PlacementReport,
    PropertyValue,
)
from reconciler.errors import Finding
from reconciler.hub.clusters import ClusterState, Ineligibility, IneligibleReason
from reconciler.rollout.rolling import BindingState
from reconciler.status.conditions import Condition as Cond
from reconciler.status.conditions import Status
from reconciler.status.members import cluster_doc
from reconciler.status.memory import (
    BindingRecord,
    HubMemory,
    LoadRecord,
    PlacementMemory,
    SnapshotRecord,
    StatusFormatError,
    dump_memory,
    next_policy,
    next_snapshots,
    parse_memory,
    with_failed_load,
)
from reconciler.status.views import (
    ClusterView,
    PlacementView,
    SelectedResource,
    placement_doc,
    status_files,
)

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=7)
KEY = "ClusterResourcePlacement/web"
SCHEDULED = Cond("Scheduled", Status.TRUE, "SchedulingPolicyFulfilled", "found all cluster needed")


def memory() -> HubMemory:
    binding = BindingRecord(
        "prod-eu-1",
        BindingState.BOUND,
        0,
        "abc",
        2,
        "v2",
        MappingProxyType({"affinityScore": 5}),
        "",
        "2026-11-25T02:00:00Z",
        "2026-11-25T02:30:00Z",
    )
    placement = PlacementMemory(
        KEY,
        "abc",
        0,
        (SnapshotRecord(1, "h1", "c1"), SnapshotRecord(2, "h2", "c2")),
        (binding,),
        ("evict-1",),
    )
    finding = Finding("placements/web.yaml", 3, 5, "spec.policy", "bad", "ClusterResourcePlacement/web")
    return HubMemory("c2", LoadRecord("c3", False, (finding,)), MappingProxyType({KEY: placement}))


def test_memory_round_trips_through_status_yaml_byte_for_byte() -> None:
    data = dump_memory(memory())
    assert parse_memory(data) == memory()
    assert dump_memory(parse_memory(data)) == data


@pytest.mark.parametrize("text", [b"[]", b"apiVersion: v1\nkind: ConfigMap\n", b"a: [", b"\xff"])
def test_a_status_file_the_hub_did_not_write_is_refused(text: bytes) -> None:
    with pytest.raises(StatusFormatError):
        parse_memory(text)


def test_a_failed_load_is_recorded_and_nothing_else_changes() -> None:
    before = HubMemory("c2", LoadRecord("c2", True), memory().placements)
    after = with_failed_load(
        before,
        "c9",
        [
            Finding("x.yaml", 1, 1, "", "broken"),
            Finding("y.yaml", 1, 1, "", "just a hint", severity="warning"),
        ],
    )
    assert after.placements == before.placements and after.source_commit == "c2"
    assert after.last_load == LoadRecord("c9", False, (Finding("x.yaml", 1, 1, "", "broken"),))


@pytest.mark.parametrize(
    ("history", "new_hash", "limit", "expected"),
    [
        ((), "a", 10, [(0, "a")]),
        (((0, "a"),), "a", 10, [(0, "a")]),
        (((0, "a"),), "b", 10, [(0, "a"), (1, "b")]),
        (((0, "a"), (1, "b")), "a", 10, [(0, "a"), (1, "b"), (2, "a")]),  # an index is never reused
        (((0, "a"), (1, "b"), (2, "c")), "d", 2, [(2, "c"), (3, "d")]),  # revisionHistoryLimit
    ],
)
def test_resource_snapshot_indexes_only_grow_and_history_is_capped(
    history: tuple[tuple[int, str], ...], new_hash: str, limit: int, expected: list[tuple[int, str]]
) -> None:
    previous = PlacementMemory(KEY, snapshots=tuple(SnapshotRecord(i, h) for i, h in history))
    got = next_snapshots(previous, new_hash, limit, "c")
    assert [(s.index, s.hash) for s in got] == expected


def test_policy_index_moves_only_when_the_policy_hash_changes() -> None:
    assert next_policy(None, "p1") == ("p1", 0)
    assert next_policy(PlacementMemory(KEY, "p1", 0), "p1") == ("p1", 0)
    assert next_policy(PlacementMemory(KEY, "p1", 0), "p2") == ("p2", 1)


def report(
    bundle: str, *objects: ObjectResult, applied: str = "True", available: str = "True"
) -> PlacementReport:
    return PlacementReport(
        KEY,
        2,
        bundle,
        (
            Condition(
                "Applied",
                applied,
                "AllManifestsApplied" if applied == "True" else "SomeManifestsAreNotApplied",
            ),
            Condition("Available", available, "AllManifestsAvailable"),
        ),
        objects,
    )


def view(*clusters: ClusterView) -> PlacementView:
    return PlacementView(
        "ClusterResourcePlacement",
        "",
        "web",
        KEY,
        SCHEDULED,
        (SelectedResource("", "v1", "Namespace", "", "web"),),
        "2",
        clusters=clusters,
    )


def bound(cluster: str, rep: PlacementReport | None = None, **kw: object) -> ClusterView:
    return ClusterView(cluster, rollout=Status.TRUE, bound_index=2, bundle_id="sha256:b", report=rep, **kw)  # type: ignore[arg-type]


def types_and_reasons(doc: dict[str, object], index: int | None = None) -> list[tuple[str, str, str]]:
    status = doc["status"]
    assert isinstance(status, dict)
    conds = status["conditions"] if index is None else status["placementStatuses"][index]["conditions"]
    return [(c["type"], c["status"], c["reason"]) for c in conds]


def test_a_placement_applied_and_available_everywhere_reads_like_kubefleet() -> None:
    doc = placement_doc(view(bound("a", report("sha256:b")), bound("b", report("sha256:b"))), None, T0)
    assert types_and_reasons(doc) == [
        ("ClusterResourcePlacementScheduled", "True", "SchedulingPolicyFulfilled"),
        ("ClusterResourcePlacementRolloutStarted", "True", "RolloutStarted"),
        ("ClusterResourcePlacementOverridden", "True", "NoOverrideSpecified"),
        ("ClusterResourcePlacementWorkSynchronized", "True", "WorkSynchronized"),
        ("ClusterResourcePlacementApplied", "True", "ApplySucceeded"),
        ("ClusterResourcePlacementAvailable", "True", "ResourceAvailable"),
    ]
    assert doc["status"]["observedResourceIndex"] == "2"
    assert doc["status"]["selectedResources"] == [
        {"group": "", "version": "v1", "kind": "Namespace", "name": "web"}
    ]
    assert [s["clusterName"] for s in doc["status"]["placementStatuses"]] == ["a", "b"]
    assert types_and_reasons(doc, 0)[-1] == ("Available", "True", "ResourceAvailable")


def test_a_report_about_an_older_bundle_leaves_apply_pending() -> None:
    doc = placement_doc(view(bound("a", report("sha256:old"))), None, T0)
    assert types_and_reasons(doc)[-1] == ("ClusterResourcePlacementApplied", "Unknown", "ApplyPending")
    assert types_and_reasons(doc, 0)[-1] == ("Applied", "Unknown", "ApplyPending")


def test_a_cluster_held_by_the_rollout_stops_its_conditions_at_rollout_started() -> None:
    held = ClusterView("b", rollout=Status.FALSE, bound_index=1, bundle_id="sha256:b")
    doc = placement_doc(view(bound("a", report("sha256:b")), held), None, T0)
    assert types_and_reasons(doc, 1) == [
        ("Scheduled", "True", "ScheduleSucceeded"),
        ("RolloutStarted", "False", "RolloutNotStartedYet"),
    ]
    assert types_and_reasons(doc)[-1] == (
        "ClusterResourcePlacementRolloutStarted",
        "False",
        "RolloutNotStartedYet",
    )


def test_failed_objects_are_listed_with_their_condition_and_capped_at_100() -> None:
    failed = [
        ObjectResult(f"/ConfigMap/web/c{i:03}", "v1", Outcome.FAILED_TO_APPLY, "ManifestApplyFailed", "no")
        for i in range(150)
    ]
    slow = ObjectResult(
        "apps/Deployment/web/front", "apps/v1", Outcome.APPLIED, availability=Availability.NOT_YET_AVAILABLE
    )
    doc = placement_doc(view(bound("a", report("sha256:b", slow, *failed, applied="False"))), None, T0)
    listed = doc["status"]["placementStatuses"][0]["failedPlacements"]
    assert len(listed) == 100
    assert listed[0] == {
        "group": "",
        "version": "v1",
        "kind": "ConfigMap",
        "namespace": "web",
        "name": "c000",
        "condition": {"type": "Applied", "status": "False", "reason": "ManifestApplyFailed", "message": "no"},
    }
    assert types_and_reasons(doc)[-1] == ("ClusterResourcePlacementApplied", "False", "ApplyFailed")


def test_drifts_and_diffs_are_listed_separately() -> None:
    drift = ObjectDrift(
        "apps/Deployment/web/front",
        KEY,
        DriftType.DRIFT,
        "2026-11-25T03:00:00Z",
        "2026-11-25T02:00:00Z",
        7,
        (PatchDetail("/spec/replicas", "3", "5"),),
    )
    diff = ObjectDrift(
        "/ConfigMap/web/c",
        KEY,
        DriftType.DIFF,
        "2026-11-25T03:00:00Z",
        "2026-11-25T02:00:00Z",
        None,
        (PatchDetail("/data/x", "1", None),),
    )
    doc = placement_doc(view(bound("a", report("sha256:b"), drifts={"d/1": drift, "d/2": diff})), None, T0)
    entry = doc["status"]["placementStatuses"][0]
    assert entry["driftedPlacements"][0]["observedDrifts"] == [
        {"path": "/spec/replicas", "valueInHub": "3", "valueInMember": "5"}
    ]
    assert entry["driftedPlacements"][0]["firstDriftedObservedTime"] == "2026-11-25T02:00:00Z"
    assert entry["diffedPlacements"][0]["observedDiffs"] == [{"path": "/data/x", "valueInHub": "1"}]


def test_an_unchanged_placement_is_byte_identical_later_and_times_move_only_on_change() -> None:
    v = view(bound("a", report("sha256:b", available="False")))
    first = placement_doc(v, None, T0)
    again = placement_doc(v, first, T1)
    assert dump(again) == dump(first)
    changed = placement_doc(view(bound("a", report("sha256:b"))), first, T1)
    times = {c["type"]: c["lastTransitionTime"] for c in changed["status"]["conditions"]}
    assert times["ClusterResourcePlacementApplied"] == "2026-11-25T03:00:00Z"
    assert times["ClusterResourcePlacementAvailable"] == "2026-11-25T03:07:00Z"


def test_a_cluster_document_carries_health_properties_and_eligibility_stably() -> None:
    state = ClusterState(
        "a",
        MappingProxyType({"env": "prod"}),
        ineligibility=Ineligibility(IneligibleReason.NO_RECENT_HEARTBEAT, T0 - timedelta(minutes=5.1)),
        properties=MappingProxyType({"kubernetes-fleet.io/node-count": "3"}),
        heartbeat_time=T0,
        healthy=True,
    )
    rep = ClusterReport(
        "a",
        "0.1.0",
        "2026-11-25T03:00:00Z",
        health=Health(True, "", "2026-11-25T01:00:00Z"),
        properties={"kubernetes-fleet.io/node-count": PropertyValue("3", "2026-11-25T03:00:00Z")},
    )
    doc = cluster_doc(state, rep, 60, None, T0)
    agent = doc["status"]["agentStatus"][0]
    assert "lastReceivedHeartbeat" not in agent  # read live from the heartbeat refs by `fleetsync get`
    assert [(c["type"], c["status"]) for c in agent["conditions"]] == [
        ("Joined", "True"),
        ("Healthy", "True"),
    ]
    assert agent["conditions"][1]["lastTransitionTime"] == "2026-11-25T01:00:00Z"
    assert doc["status"]["properties"] == {
        "kubernetes-fleet.io/node-count": {"value": "3", "observationTime": "2026-11-25T03:00:00Z"}
    }
    assert doc["metadata"]["annotations"] == {
        "fleetsync.io/eligible": "false",
        "fleetsync.io/ineligible-reason": "cluster is not connected to the fleet: no recent heartbeat signals",
    }
    later = ClusterState(
        **{
            s: getattr(state, s)
            for s in ClusterState.__slots__
            if s not in ("ineligibility", "heartbeat_time")
        },
        ineligibility=Ineligibility(IneligibleReason.NO_RECENT_HEARTBEAT, T0 - timedelta(minutes=6.2)),
        heartbeat_time=T1,
    )
    assert dump(cluster_doc(later, rep, 60, doc, T1)) == dump(doc)


def test_status_files_lay_out_the_branch() -> None:
    files = status_files(
        memory(), [placement_doc(view(), None, T0)], [{"metadata": {"name": "a"}, "kind": "MemberCluster"}]
    )
    assert sorted(files) == ["clusters/a.yaml", "placements/ClusterResourcePlacement/web.yaml", "status.yaml"]
