"""Leaving the fleet (docs/hub.md): the Git-native form, eligibility, the prune confirmation and status.

KubeFleet's MemberCluster being deleted is "leaving": not eligible ("cluster has left the fleet"),
its placed resources removed before it is gone. In fleetsync the annotation ``fleetsync.io/leave``
or a ``metadata.deletionTimestamp`` written in the repo says so.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetsync_contract.report import ClusterReport, InventoryItem, PruneSummary
from reconciler.api.membercluster import LeaveMode, MemberCluster
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.clusters import IneligibleReason, cluster_state
from reconciler.hub.loop import reconcile_once
from reconciler.hub.prunesafety import judge
from reconciler.status.members import cluster_doc
from tests.support.apifixtures import parse_one
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files, joined_fleet
from tests.support.schedfixtures import NOW, healthy

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def load(metadata: str) -> tuple[MemberCluster | None, list[str]]:
    text = "apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\nmetadata:\n  name: away\n"
    obj, findings = parse_one(text + textwrap.indent(textwrap.dedent(metadata), "  "), "clusters/away.yaml")
    return obj, [str(f) for f in findings]


@pytest.mark.parametrize(
    ("metadata", "leave"),
    [
        ("", None),
        ("annotations: {fleetsync.io/leave: 'true'}\n", LeaveMode.REMOVE),
        ("annotations: {fleetsync.io/leave: 'false'}\n", None),
        ("annotations: {fleetsync.io/leave: keep-resources}\n", LeaveMode.KEEP_RESOURCES),
        ("deletionTimestamp: '2026-11-25T02:00:00Z'\n", LeaveMode.REMOVE),
        (
            "deletionTimestamp: '2026-11-25T02:00:00Z'\nannotations: {fleetsync.io/leave: keep-resources}\n",
            LeaveMode.KEEP_RESOURCES,
        ),
    ],
    ids=["member", "leave", "leave-false", "keep-resources", "deletion-timestamp", "deletion-keep"],
)
def test_leaving_is_written_as_an_annotation_or_a_deletion_timestamp(
    metadata: str, leave: LeaveMode | None
) -> None:
    m, findings = load(metadata)
    assert findings == []
    assert isinstance(m, MemberCluster)
    assert m.leave == leave


def test_a_misspelt_leave_value_is_refused_so_a_typo_never_removes_workloads() -> None:
    _, findings = load("annotations: {fleetsync.io/leave: keep-resource}\n")
    assert len(findings) == 1
    assert "metadata.annotations" in findings[0] and "'keep-resource' is not one of" in findings[0]


def test_a_leaving_cluster_is_ineligible_first_in_kubefleets_words_even_when_healthy() -> None:
    m, _ = load("annotations: {fleetsync.io/leave: 'true'}\n")
    assert m is not None
    state = cluster_state(m, healthy(), NOW)
    assert state.leaving and not state.eligible
    assert state.ineligibility is not None and state.ineligibility.reason is IneligibleReason.LEFT
    assert state.ineligible_reason == "cluster has left the fleet"


def test_a_member_without_leave_stays_eligible() -> None:
    m, _ = load("labels: {env: prod}\n")
    assert m is not None
    assert cluster_state(m, healthy(), NOW).eligible


def report(*names: str, refused: str = "", applied: str = "sha256:empty") -> ClusterReport:
    items = tuple(InventoryItem("v1", "ConfigMap", "team", n, "crp/web") for n in names)
    return ClusterReport(
        "away", "0.1.0", "2026-11-25T03:00:00Z", applied, inventory=items, prune=PruneSummary(refused)
    )


def joined(metadata: str, rep: ClusterReport | None, bundle_id: str = "sha256:empty") -> dict[str, str]:
    m, _ = load(metadata)
    assert m is not None
    doc = cluster_doc(cluster_state(m, healthy(), NOW), rep, 60, None, T0, bundle_id=bundle_id)
    condition = next(c for c in doc["status"]["conditions"] if c["type"] == "Joined")
    assert doc["metadata"]["annotations"]["fleetsync.io/ineligible-reason"] == "cluster has left the fleet"
    return {k: condition[k] for k in ("status", "reason", "message")}


def test_status_shows_the_objects_remaining_while_the_agent_removes_them() -> None:
    c = joined("annotations: {fleetsync.io/leave: 'true'}\n", report("a", "b", refused="no"))
    assert (c["status"], c["reason"]) == ("False", "MemberClusterLeaving")
    assert "2 placed object(s) remain" in c["message"] and "last prune: no" in c["message"]


def test_status_says_left_once_the_agents_inventory_is_empty_and_how_to_complete() -> None:
    c = joined("annotations: {fleetsync.io/leave: 'true'}\n", report())
    assert (c["status"], c["reason"]) == ("False", "MemberClusterLeft")
    assert "delete its MemberCluster file" in c["message"]


def test_status_waits_for_the_agent_to_apply_the_empty_bundle_before_saying_left() -> None:
    assert joined("deletionTimestamp: '2026-11-25T02:00:00Z'\n", None)["reason"] == "MemberClusterLeaving"
    c = joined("annotations: {fleetsync.io/leave: 'true'}\n", report(applied="sha256:old"))
    assert c["reason"] == "MemberClusterLeaving" and "apply the empty bundle" in c["message"]


def test_a_cluster_that_never_had_a_bundle_has_left_at_once() -> None:
    assert (
        joined("annotations: {fleetsync.io/leave: 'true'}\n", None, bundle_id="")["reason"]
        == "MemberClusterLeft"
    )


def test_keep_resources_is_left_at_once_with_the_objects_in_place() -> None:
    c = joined("annotations: {fleetsync.io/leave: keep-resources}\n", report("a"))
    assert (c["status"], c["reason"]) == ("False", "MemberClusterLeft")
    assert "keep-resources" in c["message"]


def test_an_emptying_is_still_refused_without_a_trailer_for_a_member() -> None:
    # the hub's verdict the leave bypasses (reconciler/hub/prunesafety.py): unconfirmed otherwise
    verdict = judge("away", {"/v1/ConfigMap/team/a"}, set(), 0.5, frozenset())
    assert verdict is not None and verdict.refused


# -- the hub loop: a leave empties the cluster's bundle without a trailer, or keeps it ------------
STATUS = "refs/heads/fleet/status"
LATER = NOW + timedelta(minutes=1)


def bundle_ref(cluster: str) -> str:
    return f"refs/heads/fleet/bundles/{cluster}"


@pytest.fixture
def fleet(tmp_path: Path) -> FleetWork:
    work = joined_fleet(tmp_path / "fleet", NOW)
    hub(work)
    assert all(work.bundle(c).files for c in CLUSTERS)
    for c in CLUSTERS:  # applied and available everywhere: the rollout may take a cluster away
        work.report(c, NOW)
    return work


def hub(work: FleetWork, now: datetime = NOW) -> list[str]:
    with HubRepo.local(work.path) as repo:
        return list(reconcile_once(repo, now).written)


def annotated(cluster: str, value: str) -> dict[str, str]:
    files = base_files()
    files[f"clusters/{cluster}.yaml"] = files[f"clusters/{cluster}.yaml"].replace(
        "  labels:", f"  annotations: {{fleetsync.io/leave: {value!r}}}\n  labels:"
    )
    return files


def test_a_leave_publishes_an_empty_bundle_listing_every_removal_with_no_trailer(fleet: FleetWork) -> None:
    placed = {f.identity for f in fleet.bundle("eu-1").files}
    others = {c: fleet.refs()[bundle_ref(c)] for c in CLUSTERS if c != "eu-1"}
    fleet.commit(annotated("eu-1", "true"), "eu-1 leaves the fleet")  # no Fleetsync-Allow-Prune
    written = hub(fleet, LATER)
    assert bundle_ref("eu-1") in written
    bundle = fleet.bundle("eu-1")
    assert bundle.files == () and bundle.placements == ()
    assert bundle.leaving  # bundle.yaml says so: every deletion is intended (docs/agent.md "Prune")
    # every object is listed as removed: the agent's own prune caps are lifted (docs/agent.md "Prune")
    assert {r.identity for r in bundle.removals} == placed
    assert {c: fleet.refs()[bundle_ref(c)] for c in others} == others
    assert "prune/eu-1.yaml" not in fleet.tree(STATUS)
    doc = fleet.read(STATUS, "clusters/eu-1.yaml")
    assert (
        "reason: MemberClusterLeaving" in doc
        and "fleetsync.io/ineligible-reason: cluster has left the fleet" in doc
    )


def test_keep_resources_leaves_the_bundle_branch_as_it_is(fleet: FleetWork) -> None:
    before = fleet.refs()[bundle_ref("eu-1")]
    fleet.commit(annotated("eu-1", "keep-resources"), "eu-1 leaves, keeping its objects")
    written = hub(fleet, LATER)
    assert bundle_ref("eu-1") not in written
    assert fleet.refs()[bundle_ref("eu-1")] == before
    assert "reason: MemberClusterLeft" in fleet.read(STATUS, "clusters/eu-1.yaml")


def test_deleting_the_file_of_a_member_is_gone_at_once_and_its_branch_stays(fleet: FleetWork) -> None:
    before = fleet.refs()[bundle_ref("eu-1")]
    files = {k: v for k, v in base_files().items() if k != "clusters/eu-1.yaml"}
    fleet.commit(files, "eu-1 is gone")
    hub(fleet, LATER)
    assert fleet.refs()[bundle_ref("eu-1")] == before
    assert "clusters/eu-1.yaml" not in fleet.tree(STATUS)
