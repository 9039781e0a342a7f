"""Each team's own status, on ``fleet/status`` in its own repo, over a real ``git daemon``.

A platform repo (read in place by the hub, with a placement of its own) and two team repos: a
team's status branch holds its placements and their per-cluster conditions and nothing of the
other team or of the platform; ``fleetsync get`` reads it with the team repo alone; it is written
only on change; a team repo that refuses the push is recorded in its team's record and holds
back neither the platform nor the other team.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync_contract.canonical import load
from fleetsync_contract.drift import REDACTED, DriftType, ObjectDrift, PatchDetail, drift_path, dump_drift
from reconciler.gitstore.refs import RefUpdate
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.hub.session import HubSession
from reconciler.status.memory import TeamRecord, parse_memory
from tests.support.fleethelpers import CLUSTERS, NAMESPACE, FleetWork, crp, member
from tests.support.gitdaemon import GitDaemon, git
from tests.support.teamfixtures import team_crp, team_files, team_yaml

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
STATUS = "refs/heads/fleet/status"
TEAMS = ("team-a", "team-b")
APP = "placements/ClusterResourcePlacement/{}-app.yaml"


class Fleet:
    def __init__(self, tmp_path: Path, daemon: GitDaemon):
        self.tmp = tmp_path
        self.daemon = daemon
        self.platform = FleetWork(tmp_path / "platform")
        self.teams = {t: FleetWork(tmp_path / f"work-{t}") for t in TEAMS}
        self.now = NOW
        self.session: HubSession | None = None
        for team in TEAMS:
            daemon.create(f"{team}.git")

    def push(self, team: str, files: dict[str, str]) -> str:
        commit = self.teams[team].commit(files)
        git(self.teams[team].path, "push", "-q", "--force", self.daemon.url(f"{team}.git"), "main")
        return commit

    def reconcile(self) -> list[str]:
        self.now += timedelta(minutes=1)
        for c in CLUSTERS:
            self.platform.beat(c, self.now)
        with HubRepo.local(self.platform.path) as repo:
            written = list(reconcile_once(repo, self.now, session=self.session).written)
        for c in CLUSTERS:
            if f"refs/heads/fleet/bundles/{c}" in self.platform.refs():
                self.platform.report(c, self.now)
        return written

    def served(self, team: str) -> Path:
        return self.daemon.root / f"{team}.git"

    def tip(self, team: str) -> str:
        return git(self.served(team), "rev-parse", "--verify", "-q", STATUS)

    def status_files(self, team: str) -> dict[str, str]:
        paths = git(self.served(team), "ls-tree", "-r", "--name-only", STATUS).splitlines()
        return {p: git(self.served(team), "show", f"{STATUS}:{p}") for p in paths}

    def drift(self, cluster: str, drifts: list[ObjectDrift]) -> None:
        """The cluster's agent reports ``drifts`` beside its report (its next report drops them)."""
        ref = f"refs/heads/fleet/reports/{cluster}"
        with HubRepo.local(self.platform.path) as repo:
            old = repo.hub_refs()[ref]
            files = {
                **repo.read_files(old),
                **{drift_path(d.placement, d.identity): dump_drift(d) for d in drifts},
            }
            new = repo.write_commit(repo.write_tree(files), [old], f"drift: {cluster}", self.now)
            repo.publish([RefUpdate(ref, new, old)])

    def record(self, team: str) -> TeamRecord:
        return parse_memory(self.platform.read(STATUS, "status.yaml").encode() + b"\n").teams[team]

    def refuse_pushes(self, team: str, refuse: bool) -> None:
        """The team repo refuses the hub's pushes (fleet/status is read-only: the hub lost its push
        rights there), or takes them again; the team's own pushes go on."""
        hook = self.served(team) / "hooks" / "pre-receive"
        if refuse:
            hook.write_text(
                "#!/bin/sh\n"
                "while read old new ref; do\n"
                '  if [ "$ref" = refs/heads/fleet/status ]; then\n'
                "    echo 'fleet/status is read-only' >&2; exit 1\n"
                "  fi\n"
                "done\n"
            )
            hook.chmod(0o755)
        else:
            hook.unlink()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    served = tmp_path / "served"
    served.mkdir()
    with GitDaemon(served) as daemon:
        f = Fleet(tmp_path, daemon)
        for team in TEAMS:
            f.push(team, team_files(team))
        files = {f"clusters/{c}.yaml": member(c, r) for c, r in CLUSTERS.items()}
        files["platform/web.yaml"] = crp("platform-web")  # the platform's own placement
        files["platform/ns.yaml"] = NAMESPACE
        for team in TEAMS:
            files[f"teams/{team}.yaml"] = team_yaml(team, daemon.url(f"{team}.git"), [team])
        f.platform.commit(files)
        f.reconcile()
        f.reconcile()  # the agents' reports reach the placements' conditions
        yield f


def test_a_teams_status_branch_holds_its_placements_and_nothing_of_the_others(fleet: Fleet) -> None:
    files = fleet.status_files("team-a")
    assert sorted(files) == ["placements/ClusterResourcePlacement/team-a-app.yaml", "status.yaml"]
    everything = "\n".join(files.values())
    assert "team-b" not in everything and "platform-web" not in everything  # no other team, no platform
    assert "region" not in everything  # no MemberCluster labels: no cluster documents at all
    doc = load(files[APP.format("team-a")].encode())
    assert doc["metadata"]["name"] == "team-a-app"
    placed = {s["clusterName"] for s in doc["status"]["placementStatuses"]}
    assert placed == set(CLUSTERS)
    conditions = {c["type"]: c["status"] for c in doc["status"]["conditions"]}
    assert conditions["ClusterResourcePlacementScheduled"] == "True"
    assert conditions["ClusterResourcePlacementApplied"] == "True"
    memory = parse_memory(files["status.yaml"].encode() + b"\n")
    head = git(fleet.teams["team-a"].path, "rev-parse", "HEAD")
    assert memory.source_commit == head and memory.last_load.ok  # the team's own commit and load
    assert list(memory.placements) == ["ClusterResourcePlacement/team-a-app"]
    assert list(memory.teams) == ["team-a"] and not memory.bundles
    # the platform's status is unchanged in shape: every placement, every team
    platform = fleet.platform.tree(STATUS)
    assert "placements/ClusterResourcePlacement/platform-web.yaml" in platform
    assert "placements/ClusterResourcePlacement/team-b-app.yaml" in platform


def test_get_reads_a_teams_status_with_only_the_team_repo(fleet: Fleet, tmp_path: Path) -> None:
    url = fleet.daemon.url("team-a.git")
    state = str(tmp_path / "state")
    got = CliRunner().invoke(app, ["get", "placements", "-o", "json", "--repo", url, "--state-dir", state])
    assert got.exit_code == 0, got.output
    names = [i["metadata"]["name"] for i in load(got.stdout.encode())["items"]]
    assert names == ["team-a-app"]
    clone = tmp_path / "clone"  # a team member's checkout: the platform repo is never named
    git(tmp_path, "clone", "-q", url, str(clone))
    git(clone, "fetch", "-q", "origin", "fleet/status:fleet/status")
    got = CliRunner().invoke(app, ["get", "bindings", "-o", "json", "--repo", str(clone)])
    assert got.exit_code == 0, got.output
    bindings = load(got.stdout.encode())["items"]
    assert {b["spec"]["targetCluster"] for b in bindings} == set(CLUSTERS)
    assert all(b["metadata"]["labels"]["kubernetes-fleet.io/parent-CRP"] == "team-a-app" for b in bindings)


def test_a_teams_status_is_written_only_when_it_changes(fleet: Fleet) -> None:
    tips = {t: fleet.tip(t) for t in TEAMS}
    fleet.reconcile()
    assert {t: fleet.tip(t) for t in TEAMS} == tips  # nothing changed: no commit
    fleet.session = HubSession()  # a restarted hub reads the branches before it writes
    fleet.reconcile()
    assert {t: fleet.tip(t) for t in TEAMS} == tips
    head = fleet.push("team-a", team_files("team-a", value="2"))
    fleet.reconcile()
    assert fleet.tip("team-b") == tips["team-b"]
    assert git(fleet.served("team-a"), "rev-parse", f"{STATUS}^") == tips["team-a"]  # history grows
    memory = parse_memory(fleet.status_files("team-a")["status.yaml"].encode() + b"\n")
    assert memory.source_commit == head


def test_a_push_refused_by_one_team_repo_is_recorded_and_holds_back_nobody(fleet: Fleet) -> None:
    fleet.session = HubSession()  # a long-running hub
    before = {t: fleet.tip(t) for t in TEAMS}
    fleet.refuse_pushes("team-b", True)
    a_head = fleet.push("team-a", team_files("team-a", value="2"))
    fleet.push("team-b", team_files("team-b", value="2"))
    fleet.reconcile()
    for c in CLUSTERS:  # the platform published both teams' changes
        bundle = "refs/heads/fleet/bundles/" + c
        assert 'VALUE: "2"' in fleet.platform.read(
            bundle, "manifests/ClusterResourcePlacement/team-b-app/core/ConfigMap/team-b/config.yaml"
        )
    a_memory = parse_memory(fleet.status_files("team-a")["status.yaml"].encode() + b"\n")
    assert fleet.tip("team-a") != before["team-a"] and a_memory.source_commit == a_head
    assert fleet.tip("team-b") == before["team-b"]
    error = fleet.record("team-b").status_error
    assert fleet.daemon.url("team-b.git") in error and "pre-receive hook declined" in error
    assert "give the hub push rights to fleet/status of the team repo" in error
    assert not fleet.record("team-a").status_error
    fleet.reconcile()  # still refused: recorded once, not rewritten
    assert fleet.record("team-b").status_error == error
    fleet.refuse_pushes("team-b", False)
    fleet.reconcile()  # retried on the next pass
    b_memory = parse_memory(fleet.status_files("team-b")["status.yaml"].encode() + b"\n")
    assert b_memory.source_commit == git(fleet.teams["team-b"].path, "rev-parse", "HEAD")
    assert not fleet.record("team-b").status_error


def _drift(team: str, kind: str, path: str, hub: str, member: str) -> ObjectDrift:
    at = "2026-12-01T03:05:00Z"
    ident = f"/{kind}/{team}/config"
    return ObjectDrift(
        ident,
        f"ClusterResourcePlacement/{team}-app",
        DriftType.DRIFT,
        at,
        at,
        2,
        (PatchDetail(path, hub, member),),
    )


def test_a_teams_status_branch_holds_its_drift_and_get_drift_reads_it_there(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.drift(
        "eu-1",
        [
            _drift("team-a", "ConfigMap", "/data/VALUE", "1", "5"),
            _drift("team-a", "Secret", "/data/token", "aGVsbG8=", "c2VjcmV0"),  # an agent that did not mask
            _drift("team-b", "ConfigMap", "/data/VALUE", "1", "7"),
        ],
    )
    fleet.reconcile()
    a_files, b_files = fleet.status_files("team-a"), fleet.status_files("team-b")
    cm = "drift/eu-1/ClusterResourcePlacement/team-a-app/core/ConfigMap/team-a/config.yaml"
    secret = "drift/eu-1/ClusterResourcePlacement/team-a-app/core/Secret/team-a/config.yaml"
    assert sorted(p for p in a_files if p.startswith("drift/")) == [cm, secret]
    assert sorted(p for p in b_files if p.startswith("drift/")) == [
        "drift/eu-1/ClusterResourcePlacement/team-b-app/core/ConfigMap/team-b/config.yaml"
    ]
    assert "team-b" not in "\n".join(a_files.values())
    everything = "\n".join(a_files.values())  # drift files and placement status alike
    assert "c2VjcmV0" not in everything and "aGVsbG8=" not in everything  # masked again by the hub
    assert REDACTED in a_files[secret]
    url, state = fleet.daemon.url("team-a.git"), str(tmp_path / "state")
    got = CliRunner().invoke(app, ["get", "drift", "-o", "json", "--repo", url, "--state-dir", state])
    assert got.exit_code == 0, got.output
    items = load(got.stdout.encode())["items"]
    assert [(i["cluster"], i["identity"]) for i in items] == [
        ("eu-1", "/ConfigMap/team-a/config"),
        ("eu-1", "/Secret/team-a/config"),
    ]
    assert items[0]["details"] == [{"path": "/data/VALUE", "valueInHub": "1", "valueInMember": "5"}]
    assert items[1]["details"][0]["valueInMember"] == REDACTED
    got = CliRunner().invoke(app, ["get", "drift", "us-1", "--repo", url, "--state-dir", state])
    assert got.exit_code == 0 and got.stdout == "No drift found.\n", got.output  # bound, not drifted
    got = CliRunner().invoke(app, ["get", "drift", "nowhere", "--repo", url, "--state-dir", state])
    assert got.exit_code == 1, got.output  # not one of the team's clusters
    fleet.reconcile()  # the agent's next report has no drift: neither has the team's branch
    assert not [p for p in fleet.status_files("team-a") if p.startswith("drift/")]


STRATEGY = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata: {{name: {team}-rings}}
spec:
  stages:
    - name: all
      labelSelector: {{}}
      beforeStageTasks: [{{type: Approval}}]
"""
RUN = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata: {{name: {team}-run}}
spec:
  placementName: {team}-app
  stagedRolloutStrategyName: {team}-rings
  state: Run
"""


def _staged(team: str) -> dict[str, str]:
    """The team's placement rolled out by a staged run that waits for an approval."""
    placement = team_crp(f"{team}-app", team).replace("type: RollingUpdate\n", "type: External\n")
    placement = placement.replace("    rollingUpdate: {maxUnavailable: 100%, maxSurge: 100%}\n", "")
    return {
        **team_files(team, value="2"),
        "placements/app.yaml": placement,
        "rollout/strategy.yaml": STRATEGY.format(team=team),
        "rollout/run.yaml": RUN.format(team=team),
    }


def test_a_teams_status_branch_holds_its_staged_runs_and_approval_requests(
    fleet: Fleet, tmp_path: Path
) -> None:
    for team in TEAMS:
        fleet.push(team, _staged(team))
    fleet.reconcile()
    platform = fleet.platform.tree(STATUS)
    run_a = "runs/ClusterStagedUpdateRun/_cluster/team-a-run.yaml"
    request_a = "approvalrequests/ClusterApprovalRequest/_cluster/team-a-run-before-all.yaml"
    assert run_a in platform and request_a in platform, platform
    files = fleet.status_files("team-a")
    assert sorted(p for p in files if p.startswith(("runs/", "approvalrequests/"))) == [request_a, run_a]
    assert files[run_a] == fleet.platform.read(STATUS, run_a)  # the platform's very document
    assert "team-b" not in "\n".join(files.values())
    url, state = fleet.daemon.url("team-a.git"), str(tmp_path / "state")
    got = CliRunner().invoke(app, ["get", "runs", "--repo", url, "--state-dir", state])
    assert got.exit_code == 0, got.output
    assert "team-a-run" in got.stdout and "fleetsync approve team-a-run all --before" in got.stdout
    assert "team-b" not in got.stdout


def test_a_collision_in_a_teams_branch_says_who_without_their_names_or_files(fleet: Fleet) -> None:
    role = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n"
    )
    kinds = ["rbac.authorization.k8s.io/ClusterRole"]
    files = {f"clusters/{c}.yaml": member(c, r) for c, r in CLUSTERS.items()}
    files["platform/web.yaml"] = crp("platform-web")
    files["platform/ns.yaml"] = NAMESPACE
    files["platform/clash.yaml"] = team_crp("team-a-clash", "team-a")  # the platform's: it wins
    for team in TEAMS:
        files[f"teams/{team}.yaml"] = team_yaml(
            team, fleet.daemon.url(f"{team}.git"), [team], cluster_kinds=kinds
        )
    fleet.platform.commit(files)
    fleet.push(
        "team-a",
        {**team_files("team-a"), "shared/role.yaml": role, "clash.yaml": team_crp("team-a-clash", "team-a")},
    )
    fleet.push("team-b", {**team_files("team-b"), "theirs/role.yaml": role})
    fleet.reconcile()
    platform = "\n".join(f.message for f in fleet.record("team-a").last_load.findings)
    assert (
        "team 'team-b' (theirs/role.yaml" in platform and "the platform repo (platform/clash.yaml" in platform
    )
    findings = parse_memory(fleet.status_files("team-a")["status.yaml"].encode() + b"\n").teams["team-a"]
    assert sorted(f.message for f in findings.last_load.findings) == [
        "team 'team-a': placements 'ClusterResourcePlacement/team-a-clash' is also declared by the platform "
        "repo: the object is refused",
        "team 'team-a': resources 'rbac.authorization.k8s.io/ClusterRole//reader' is also declared by another "
        "team: the object is refused",
    ]
    assert sorted(f.file for f in findings.last_load.findings) == ["clash.yaml", "shared/role.yaml"]
