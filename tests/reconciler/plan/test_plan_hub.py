"""Plan against a fleet the hub has rendered: its memory and the agents' reports are the state;
and the hub itself refuses an update KubeFleet would refuse, as plan does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.plan import run as plan_cmd
from reconciler.plan.build import ExitCode
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files, joined_fleet
from tests.support.gitdaemon import GitDaemon, git

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=2)
STATUS = "refs/heads/fleet/status"


@pytest.fixture
def rendered(tmp_path: Path) -> FleetWork:
    """The hub rendered version 1 and every agent reported it applied and available."""
    work = joined_fleet(tmp_path / "fleet", NOW)
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, NOW)
    for c in CLUSTERS:
        work.report(c, NOW)
    return work


def test_plan_uses_the_hub_memory_and_reports_to_say_which_clusters_move_first(rendered: FleetWork) -> None:
    rendered.commit(base_files(version="2"))
    refs = rendered.refs()
    out, err, code = plan_cmd.run(rendered.path, "HEAD~1", "HEAD", "json", LATER)
    assert code == ExitCode.CHANGES, err
    assert rendered.refs() == refs  # nothing written
    doc = json.loads(out)
    assert doc["clusterState"]["assumedEligible"] is False
    [placement] = doc["placements"]
    rollout = placement["rollout"]
    assert rollout["first"] == ["eu-1"]  # maxUnavailable 25% of 4, in name order (as the hub does)
    assert rollout["held"] == ["eu-2", "us-1", "us-2"]
    assert sorted(c for g in doc["groups"] for c in g["clusters"]) == sorted(CLUSTERS)


def test_reports_from_a_remote_name_reads_its_report_branches_into_a_throwaway_cache(
    rendered: FleetWork, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(rendered.path), str(clone))
    work = FleetWork.__new__(FleetWork)
    work.path = clone
    work.commit(base_files(version="2"))
    before = work.refs()
    out, err, code = plan_cmd.run(clone, "HEAD~1", "HEAD", "markdown", LATER, reports_from="origin")
    assert code == ExitCode.CHANGES, err
    assert "reports of 4 cluster(s) and the hub memory from origin" in out
    assert "rollout moves first: eu-1" in out
    assert work.refs() == before
    out, _, _ = plan_cmd.run(clone, "HEAD~1", "HEAD", "markdown", LATER)
    assert "every MemberCluster is treated as eligible" in out  # the clone has no hub refs of its own


def test_the_hub_refuses_an_immutable_change_of_one_object_and_keeps_it_as_it_was(
    rendered: FleetWork,
) -> None:
    bundles = {r: s for r, s in rendered.refs().items() if r.startswith("refs/heads/fleet/bundles/")}
    files = base_files()
    files["placements/web.yaml"] = files["placements/web.yaml"].replace(
        "placementType: PickAll", "placementType: PickN\n    numberOfClusters: 2"
    )
    bad = rendered.commit(files)
    with HubRepo.local(rendered.path) as repo:
        result = reconcile_once(repo, LATER)
    # KubeFleet refuses the one update: the placement stays as it was (docs/hub.md, "Failure isolation")
    assert result.loaded and list(result.written) == [STATUS]
    assert {r: s for r, s in rendered.refs().items() if r.startswith("refs/heads/fleet/bundles/")} == bundles
    status = rendered.read(STATUS, "status.yaml")
    assert f"commit: {bad}" in status and "immutable" in status
    placement = rendered.read(STATUS, "placements/ClusterResourcePlacement/web.yaml")
    assert "InvalidResourceSelectors" in placement and "placementType is immutable" in placement
    out, _, code = plan_cmd.run(rendered.path, "HEAD~1", "HEAD", "text", LATER)
    assert code == ExitCode.CHECKS_FAILED and "placementType is immutable" in out


def test_reports_from_a_git_url_reads_the_served_hub_refs(
    rendered: FleetWork, git_daemon: GitDaemon, tmp_path: Path
) -> None:
    bare = git_daemon.create("fleet.git")
    git(
        rendered.path,
        "push",
        "-q",
        str(bare),
        "main",
        "refs/heads/fleet/*:refs/heads/fleet/*",
        "refs/fleet/*:refs/fleet/*",
    )
    rendered.commit(base_files(version="2"))
    out, err, code = plan_cmd.run(
        rendered.path, "HEAD~1", "HEAD", "json", LATER, reports_from=git_daemon.url("fleet.git")
    )
    assert code == ExitCode.CHANGES, err
    doc = json.loads(out)
    assert doc["clusterState"]["assumedEligible"] is False
    assert doc["placements"][0]["rollout"]["first"] == ["eu-1"]
