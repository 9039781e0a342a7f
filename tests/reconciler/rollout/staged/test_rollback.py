"""Rolling out an older resource snapshot: a rollback run, read back from the commit that made it.

KubeFleet lets a staged update run name any resource snapshot still in the history
(``resourceSnapshotIndex``); fleetsync keeps a snapshot as the fleet commit that created it and
re-selects from that commit (reconciler/hub/snapshots.py). These tests drive the real hub loop
over real git, as a team would roll back: commit v1, roll it out, commit v2, roll it out, then
commit a run that names snapshot 0.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import reconciler.hub.loop as loop
from fleetsync_contract.canonical import load
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.snapshots import SnapshotReader, SnapshotUnavailable
from reconciler.plan import run as plan_cmd
from reconciler.plan.build import ExitCode
from reconciler.status.memory import SnapshotRecord
from reconciler.status.runs import summary
from reconciler.status.views import placement_path
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files, crp

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
KEY = "ClusterResourcePlacement/web"
STRATEGY = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata:
  name: all-at-once
spec:
  stages:
    - name: everyone
      labelSelector: {}
      maxConcurrency: 100%
"""


def run(name: str, index: str | None = None) -> str:
    pinned = f'  resourceSnapshotIndex: "{index}"\n' if index is not None else ""
    return f"""apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata:
  name: {name}
spec:
  placementName: web
  stagedRolloutStrategyName: all-at-once
{pinned}  state: Run
"""


def external() -> str:
    text = crp()
    return text[: text.index("  strategy:")] + "  strategy:\n    type: External\n"


def reconcile(work: FleetWork, now: datetime) -> None:
    with HubRepo.local(work.path) as repo:
        loop.reconcile_once(repo, now)


def version_on(work: FleetWork, cluster: str) -> tuple[int, str, str]:
    """(resource index, VERSION, GREETING) of the web ConfigMap in the cluster's bundle."""
    bundle = work.bundle(cluster)
    (entry,) = [p for p in bundle.placements if p.key == KEY]
    (cm,) = [f for f in bundle.files if f.identity == "/ConfigMap/web/settings"]
    data = load(work.read(f"refs/heads/fleet/bundles/{cluster}", cm.path).encode())["data"]
    return entry.resource_index, data["VERSION"], data["GREETING"]


def roll_out(work: FleetWork, files: dict[str, str], name: str, now: datetime) -> datetime:
    """Commit ``files``; reconcile, let every agent report, reconcile: the run ``name`` succeeds."""
    work.commit(files)
    reconcile(work, now)
    for c in CLUSTERS:
        work.beat(c, now)
        work.report(c, now)
    now += timedelta(minutes=1)
    reconcile(work, now)
    doc = load(
        work.read("refs/heads/fleet/status", f"runs/ClusterStagedUpdateRun/_cluster/{name}.yaml").encode()
    )
    assert summary(doc)[4] == "UpdateRunSucceeded", doc["status"]["conditions"]
    return now + timedelta(minutes=1)


def v1_then_v2(tmp_path: Path) -> tuple[FleetWork, dict[str, str], datetime]:
    """A fleet that rolled out v1 (snapshot 0), then v2 (snapshot 1), each with its own run:
    (the repo, v2's files, the time after)."""
    work = FleetWork(tmp_path / "fleet")
    for c in CLUSTERS:
        work.beat(c, NOW)
    v1 = {
        **base_files("1", placement=external()),
        "rollouts/strategy.yaml": STRATEGY,
        "rollouts/v1.yaml": run("v1"),
    }
    now = roll_out(work, v1, "v1", NOW)
    assert {version_on(work, c)[:2] for c in CLUSTERS} == {(0, "1")}
    v2 = {**v1, **base_files("2", placement=external()), "rollouts/v2.yaml": run("v2")}
    return work, v2, roll_out(work, v2, "v2", now)


def test_a_run_naming_an_older_snapshot_rolls_every_cluster_back_to_that_commit(tmp_path: Path) -> None:
    work, v2, now = v1_then_v2(tmp_path)
    assert {version_on(work, c)[:2] for c in CLUSTERS} == {(1, "2")}

    now = roll_out(work, {**v2, "rollouts/back.yaml": run("back", "0")}, "back", now)

    for c in CLUSTERS:  # v1's objects, with today's overrides, on every cluster
        assert version_on(work, c) == (0, "1", f"hello from {c} in {CLUSTERS[c]}")
    status = load(work.read("refs/heads/fleet/status", placement_path(KEY)).encode())["status"]
    assert status["observedResourceIndex"] == "0"
    assert {s["observedResourceIndex"] for s in status["placementStatuses"]} == {"0"}
    rollout = next(c for c in status["conditions"] if c["type"].endswith("RolloutStarted"))
    assert rollout["status"] == "True"


def test_plan_shows_a_rollback_run_and_the_older_objects_it_brings_back(tmp_path: Path) -> None:
    work, v2, now = v1_then_v2(tmp_path)
    work.commit({**v2, "rollouts/back.yaml": run("back", "0")})
    out, err, code = plan_cmd.run(work.path, "HEAD~1", "HEAD", "json", now)
    assert code == ExitCode.CHANGES, err
    doc = json.loads(out)
    [placement] = doc["placements"]
    [back] = placement["runs"]
    assert (back["run"], back["resourceSnapshotIndex"]) == ("ClusterStagedUpdateRun/back", "0")
    assert "error" not in back
    assert sorted(c for g in doc["groups"] for c in g["clusters"]) == sorted(CLUSTERS)
    for group in doc["groups"]:
        [change] = group["objects"]
        assert '-  VERSION: "2"' in change["diff"] and '+  VERSION: "1"' in change["diff"], change["diff"]
    markdown, _, _ = plan_cmd.run(work.path, "HEAD~1", "HEAD", "markdown", now)
    assert "strategy all-at-once, resource snapshot 0) would start" in markdown


def test_clusters_on_different_snapshots_make_the_placement_say_so(tmp_path: Path) -> None:
    work = FleetWork(tmp_path / "fleet")
    for c in CLUSTERS:
        work.beat(c, NOW)
    v1 = {
        **base_files("1", placement=external()),
        "rollouts/strategy.yaml": STRATEGY,
        "rollouts/v1.yaml": run("v1"),
    }
    now = roll_out(work, v1, "v1", NOW)
    europe = STRATEGY.replace("labelSelector: {}", "labelSelector: {matchLabels: {region: europe}}")
    # v2 goes to Europe first; America's stage waits for an approval, still on snapshot 0
    two = (
        europe
        + """    - name: later
      labelSelector: {matchLabels: {region: america}}
      beforeStageTasks: [{type: Approval}]
"""
    )
    work.commit(
        {
            **v1,
            **base_files("2", placement=external()),
            "rollouts/strategy.yaml": two,
            "rollouts/v2.yaml": run("v2"),
        }
    )
    reconcile(work, now)
    indexes = {c: version_on(work, c)[0] for c in CLUSTERS}
    assert indexes == {"eu-1": 1, "eu-2": 1, "us-1": 0, "us-2": 0}
    status = load(work.read("refs/heads/fleet/status", placement_path(KEY)).encode())["status"]
    rollout = next(c for c in status["conditions"] if c["type"].endswith("RolloutStarted"))
    assert (rollout["status"], rollout["reason"]) == ("Unknown", "RolloutControlledByExternalController")
    assert "different resource snapshot versions" in rollout["message"]
    assert "observedResourceIndex" not in status and status["selectedResources"] == []


def test_the_reader_refuses_a_snapshot_whose_commit_is_gone_or_selects_other_objects(tmp_path: Path) -> None:
    work = FleetWork(tmp_path / "fleet")
    commit = work.commit(base_files("1"))
    with HubRepo.local(work.path) as repo:
        reader = SnapshotReader(repo)
        gone = SnapshotRecord(0, "h", "0" * 40)
        with pytest.raises(SnapshotUnavailable, match="no longer in the repository"):
            reader(KEY, gone)
        with pytest.raises(SnapshotUnavailable, match="no longer selects the objects recorded"):
            reader(KEY, SnapshotRecord(0, "not-the-hash", commit))
        with pytest.raises(SnapshotUnavailable, match="recorded without its fleet commit"):
            reader(KEY, SnapshotRecord(0, "h", ""))
        with pytest.raises(SnapshotUnavailable, match="has no placement ClusterResourcePlacement/api"):
            reader("ClusterResourcePlacement/api", SnapshotRecord(0, "h", commit))
        first = reader(KEY, SnapshotRecord(0, _hash_of(repo, commit), commit))
        assert [o.identity for o in first] == ["/Namespace//web", "/ConfigMap/web/settings"]


def _hash_of(repo: HubRepo, commit: str, key: str = KEY) -> str:
    from reconciler.hub.inputs import LoadCache
    from reconciler.hub.select import select_resources

    spec = LoadCache(0).load(repo, commit).result.spec
    return select_resources(spec.placements[key], spec.resources).hash


def test_a_run_applies_the_overrides_of_the_commit_it_started_at_and_a_new_run_takes_new_ones(
    tmp_path: Path,
) -> None:
    work = FleetWork(tmp_path / "fleet")
    for c in CLUSTERS:
        work.beat(c, NOW)
    regions = STRATEGY.replace(
        """    - name: everyone
      labelSelector: {}
""",
        """    - name: europe
      labelSelector: {matchLabels: {region: europe}}
      maxConcurrency: 100%
    - name: america
      labelSelector: {matchLabels: {region: america}}
""",
    )
    v1 = {
        **base_files("1", placement=external()),
        "rollouts/strategy.yaml": regions,
        "rollouts/v1.yaml": run("v1"),
    }
    work.commit(v1)
    reconcile(work, NOW)
    assert [c for c in sorted(CLUSTERS) if version_on_or_none(work, c)] == ["eu-1", "eu-2"]
    howdy = {
        **v1,
        "apps/web/override.yaml": v1["apps/web/override.yaml"].replace('"hello from', '"howdy from'),
    }
    work.commit(howdy)  # the override changes while the run is in its first stage
    for c in ("eu-1", "eu-2"):
        work.report(c, NOW)
    reconcile(work, NOW + timedelta(minutes=1))
    assert version_on(work, "us-1") == (0, "1", "hello from us-1 in america")  # the run's overrides, frozen
    status = load(
        work.read("refs/heads/fleet/status", "runs/ClusterStagedUpdateRun/_cluster/v1.yaml").encode()
    )
    assert status["status"]["fleetCommitUsed"] == git_rev(work, "HEAD~1")

    # a new run for the same snapshot rolls the changed override out, stage by stage
    work.commit({**howdy, "rollouts/again.yaml": run("again")})
    now = NOW + timedelta(minutes=2)
    for _ in range(3):
        reconcile(work, now)
        for c in CLUSTERS:
            work.report(c, now)
        now += timedelta(minutes=1)
    reconcile(work, now)
    doc = load(
        work.read("refs/heads/fleet/status", "runs/ClusterStagedUpdateRun/_cluster/again.yaml").encode()
    )
    assert summary(doc)[4] == "UpdateRunSucceeded", doc["status"]["conditions"]
    assert {c: version_on(work, c)[2].split()[0] for c in CLUSTERS} == dict.fromkeys(CLUSTERS, "howdy")


def version_on_or_none(work: FleetWork, cluster: str) -> tuple[int, str, str] | None:
    ref = f"refs/heads/fleet/bundles/{cluster}"
    if ref not in work.refs() or not any(p.key == KEY for p in work.bundle(cluster).placements):
        return None
    return version_on(work, cluster)


def git_rev(work: FleetWork, rev: str) -> str:
    from tests.support.gitdaemon import git

    return git(work.path, "rev-parse", rev)


def test_the_reader_reads_a_namespaced_placements_snapshot_back(tmp_path: Path) -> None:
    work = FleetWork(tmp_path / "fleet")
    rp = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ResourcePlacement
metadata: {name: web-settings, namespace: web}
spec:
  resourceSelectors: [{group: "", version: v1, kind: ConfigMap, name: settings}]
  strategy: {type: External}
"""
    commit = work.commit({**base_files("1"), "placements/web-settings.yaml": rp})
    key = "ResourcePlacement/web/web-settings"
    with HubRepo.local(work.path) as repo:
        objects = SnapshotReader(repo)(key, SnapshotRecord(0, _hash_of(repo, commit, key), commit))
    assert [(o.identity, o.manifest["data"]["VERSION"]) for o in objects] == [
        ("/ConfigMap/web/settings", "1")
    ]
