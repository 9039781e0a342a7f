"""The hub with a platform repo and three team repos on a real ``git daemon``.

Each team repo is its own source: boundaries are refused object by object, one team's broken
commit or unreachable repo leaves the others rendering (and keeps its own last good objects),
collisions are refused, and removing a Team goes through the hub's prune safety.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.hub.session import HubSession
from reconciler.status.memory import TeamRecord, parse_memory
from tests.support.fleethelpers import CLUSTERS, FleetWork, member
from tests.support.gitdaemon import GitDaemon, git
from tests.support.teamfixtures import configmap, team_crp, team_files, team_yaml

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
STATUS = "refs/heads/fleet/status"
EUROPE = sorted(c for c, r in CLUSTERS.items() if r == "europe")
AMERICA = sorted(c for c, r in CLUSTERS.items() if r == "america")
SELECTORS: dict[str, dict[str, str] | None] = {
    "team-a": None,
    "team-b": {"region": "europe"},
    "team-c": {"region": "europe"},
}


def manifest(team: str, kind: str = "ConfigMap", name: str = "config") -> str:
    path = f"core/{kind}/{team}/{name}" if kind == "ConfigMap" else f"core/{kind}/{name}"
    return f"manifests/ClusterResourcePlacement/{team}-app/{path}.yaml"


class Fleet:
    """A platform repo (read in place by the hub) and team repos served by a git daemon."""

    def __init__(self, tmp_path: Path, daemon: GitDaemon):
        self.daemon = daemon
        self.platform = FleetWork(tmp_path / "platform")
        self.teams: dict[str, FleetWork] = {}
        self.now = NOW
        self.session: HubSession | None = None  # a long-running hub keeps one
        for team in SELECTORS:
            daemon.create(f"{team}.git")
            self.teams[team] = FleetWork(tmp_path / f"work-{team}")

    def platform_files(
        self, teams: list[str] | None = None, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        files = {f"clusters/{c}.yaml": member(c, r) for c, r in CLUSTERS.items()}
        for team in teams if teams is not None else list(SELECTORS):
            files[f"teams/{team}.yaml"] = team_yaml(
                team, self.daemon.url(f"{team}.git"), [team], SELECTORS[team]
            )
        files.update(extra or {})
        return files

    def push(self, team: str, files: dict[str, str], message: str = "change") -> str:
        work = self.teams[team]
        commit = work.commit(files, message)
        git(work.path, "push", "-q", "--force", self.daemon.url(f"{team}.git"), "main")
        return commit

    def reconcile(self, report: bool = True) -> list[str]:
        self.now += timedelta(minutes=1)
        for c in CLUSTERS:
            self.platform.beat(c, self.now)
        with HubRepo.local(self.platform.path) as repo:
            written = list(reconcile_once(repo, self.now, session=self.session).written)
        for c in CLUSTERS if report else ():  # the agents apply what they got
            if f"refs/heads/fleet/bundles/{c}" in self.platform.refs():
                self.platform.report(c, self.now)
        return written

    def files(self, cluster: str) -> list[str]:
        return self.platform.tree(f"refs/heads/fleet/bundles/{cluster}")

    def read(self, cluster: str, path: str) -> str:
        return self.platform.read(f"refs/heads/fleet/bundles/{cluster}", path)

    def team_status(self, team: str) -> TeamRecord:
        memory = parse_memory(self.platform.read(STATUS, "status.yaml").encode() + b"\n")
        return memory.teams[team]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    served = tmp_path / "served"
    served.mkdir()
    with GitDaemon(served) as daemon:
        f = Fleet(tmp_path, daemon)
        for team in SELECTORS:
            f.push(team, team_files(team))
        f.platform.commit(f.platform_files())
        f.reconcile()
        yield f


def test_every_team_renders_from_its_own_repo_onto_its_own_clusters(fleet: Fleet) -> None:
    for c in EUROPE:
        assert {manifest(t) for t in SELECTORS} <= set(fleet.files(c))
    for c in AMERICA:  # team-b and team-c select europe only: their PickAll narrows silently
        files = set(fleet.files(c))
        assert manifest("team-a") in files
        assert manifest("team-b") not in files and manifest("team-c") not in files
    for team in SELECTORS:
        record = fleet.team_status(team)
        assert record.commit == git(fleet.teams[team].path, "rev-parse", "HEAD")
        assert record.last_load.ok and not record.fetch_error


def test_boundary_violations_are_refused_per_object_and_the_rest_of_the_team_renders(fleet: Fleet) -> None:
    fleet.push(
        "team-a",
        {
            **team_files("team-a", value="2"),
            "steal.yaml": configmap("steal", "team-b"),  # another team's namespace
            "web.yaml": team_crp("web", "team-a"),  # a cluster-scoped placement not named team-a-...
        },
    )
    fleet.push(
        "team-c",
        {  # a PickFixed naming a cluster outside the team's clusterSelector
            **team_files("team-c"),
            "fixed.yaml": team_crp("team-c-us", "team-c", clusters=["us-1"]),
        },
    )
    fleet.reconcile()
    for c in CLUSTERS:
        assert 'VALUE: "2"' in fleet.read(c, manifest("team-a"))  # the valid part moved on
        assert not any("steal" in f or "ClusterResourcePlacement/web/" in f for f in fleet.files(c))
    assert "manifests/ClusterResourcePlacement/team-c-us/" not in " ".join(fleet.files("us-1"))
    a = fleet.team_status("team-a").last_load
    messages = " ".join(f.message for f in a.findings)
    assert "team 'team-a': namespace 'team-b' is not the team's" in messages
    assert "must be named 'team-a-...'" in messages
    team_c = fleet.team_status("team-c").last_load
    assert any(
        "cluster 'us-1' is outside the team's spec.clusterSelector" in f.message for f in team_c.findings
    )
    platform = parse_memory(fleet.platform.read(STATUS, "status.yaml").encode() + b"\n")
    assert platform.last_load.ok and not platform.last_load.findings  # the platform is not blamed


def test_one_teams_broken_commit_leaves_the_others_rendering_and_keeps_its_last_good_objects(
    fleet: Fleet,
) -> None:
    broken = {**team_files("team-a", value="2"), "app/config.yaml": "data: [unclosed\n"}
    broken["fleetsync.yaml"] = "include: ['nothing/**']\n"  # settings of a team repo are ignored
    head = fleet.push("team-a", broken)
    fleet.push("team-b", team_files("team-b", value="2"))
    fleet.reconcile()
    for c in EUROPE:
        assert 'VALUE: "2"' in fleet.read(c, manifest("team-b"))  # team-b is not held back
    for c in CLUSTERS:
        assert 'VALUE: "1"' in fleet.read(c, manifest("team-a"))  # team-a: its last good ConfigMap
    record = fleet.team_status("team-a")
    assert record.last_load.commit == head
    assert any("invalid YAML" in f.message for f in record.last_load.findings)
    assert any(f.file == "fleetsync.yaml" and f.severity == "warning" for f in record.last_load.findings)


def test_a_team_repo_that_cannot_be_fetched_keeps_its_objects_and_says_why(fleet: Fleet) -> None:
    shutil.rmtree(fleet.daemon.root / "team-b.git")  # the team repo is gone (or unreachable)
    fleet.push("team-c", team_files("team-c", value="3"))
    fleet.reconcile()
    for c in EUROPE:
        assert manifest("team-b") in fleet.files(c)  # not a removal
        assert 'VALUE: "3"' in fleet.read(c, manifest("team-c"))
    record = fleet.team_status("team-b")
    assert record.fetch_error and "team-b.git" in record.fetch_error
    assert "spec.repo.url" in record.fetch_error and "--repo" not in record.fetch_error  # the fix for a team


def test_a_team_object_colliding_with_the_platforms_is_refused(fleet: Fleet) -> None:
    platform_app = team_crp("team-b-app", "team-b").replace("PickAll", "PickFixed\n    clusterNames: [eu-1]")
    fleet.platform.commit(fleet.platform_files(extra={"platform/team-b-app.yaml": platform_app}))
    fleet.reconcile()
    record = fleet.team_status("team-b")
    assert any(
        "is also declared by the platform repo (platform/team-b-app.yaml" in f.message
        for f in record.last_load.findings
    )
    assert manifest("team-b") in fleet.files("eu-1") and manifest("team-b") not in fleet.files("eu-2")


def test_removing_a_team_prunes_its_objects_only_with_the_prune_confirmation(fleet: Fleet) -> None:
    fleet.platform.commit(fleet.platform_files(teams=["team-b", "team-c"]), "offboard team-a")
    fleet.reconcile()
    for c in AMERICA:  # team-a was all these clusters held: refused without a confirmation
        assert manifest("team-a") in fleet.files(c)
        assert "PruneConfirmationRequired" in fleet.platform.read(STATUS, f"prune/{c}.yaml")
    for c in EUROPE:  # a third of their objects: below pruneMaxShare, it goes
        assert manifest("team-a") not in fleet.files(c)
    fleet.platform.commit(
        fleet.platform_files(teams=["team-b", "team-c"]), "offboard team-a\n\nFleetsync-Allow-Prune: all"
    )
    fleet.reconcile()
    for c in AMERICA:
        assert manifest("team-a") not in fleet.files(c)
    assert "team-a" not in parse_memory(fleet.platform.read(STATUS, "status.yaml").encode() + b"\n").teams


def test_a_long_running_hub_renders_a_team_push_even_when_the_platform_is_quiet(fleet: Fleet) -> None:
    fleet.session = HubSession()
    fleet.reconcile(report=False)
    assert fleet.reconcile(report=False) == []  # nothing moved: the next pass may be a quiet one
    fleet.push("team-c", team_files("team-c", value="4"))
    assert STATUS in fleet.reconcile(report=False)
    for c in EUROPE:
        assert 'VALUE: "4"' in fleet.read(c, manifest("team-c"))


def test_a_team_over_its_objects_per_cluster_is_held_there_and_the_others_move(fleet: Fleet) -> None:
    files = fleet.platform_files()
    url = fleet.daemon.url("team-b.git")
    files["teams/team-b.yaml"] = team_yaml(
        "team-b", url, ["team-b"], {"region": "europe"}, objects_per_cluster=2
    )
    fleet.platform.commit(files)
    fleet.reconcile()
    grown = {**team_files("team-b", value="2"), "more.yaml": configmap("more", "team-b")}  # 3 objects
    fleet.push("team-b", grown)
    fleet.push("team-c", team_files("team-c", value="2"))
    fleet.reconcile()
    for c in EUROPE:
        assert 'VALUE: "1"' in fleet.read(c, manifest("team-b"))  # held as it was
        assert manifest("team-b", name="more") not in fleet.files(c)
        assert 'VALUE: "2"' in fleet.read(c, manifest("team-c"))  # the other team moves on
    limited = fleet.team_status("team-b").limited
    assert set(limited) == set(EUROPE) and "objectsPerCluster (2)" in limited[EUROPE[0]]
    fleet.push("team-b", team_files("team-b", value="3"))  # back within its limit
    fleet.reconcile()
    for c in EUROPE:
        assert 'VALUE: "3"' in fleet.read(c, manifest("team-b"))
    assert not fleet.team_status("team-b").limited


def test_a_team_placement_that_reaches_outside_is_frozen_with_a_condition_naming_the_rule(
    fleet: Fleet,
) -> None:
    reaching = team_crp("team-a-app", "team-a").replace("name: team-a}", "name: team-b}")
    fleet.push("team-a", {**team_files("team-a"), "placements/app.yaml": reaching})
    fleet.reconcile()
    for c in CLUSTERS:  # its last good render stays
        assert manifest("team-a") in fleet.files(c)
        assert not any("ConfigMap/team-b/" in f for f in fleet.files(c) if "team-a-app" in f)
    doc = fleet.platform.read(STATUS, "placements/ClusterResourcePlacement/team-a-app.yaml")
    assert "InvalidResourceSelectors" in doc and "Namespace 'team-b' is not one of the team" in doc


ROLE = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n"


def test_two_teams_declaring_one_object_are_both_refused_and_the_rest_of_each_renders(fleet: Fleet) -> None:
    files = fleet.platform_files()
    for team in ("team-b", "team-c"):
        url = fleet.daemon.url(f"{team}.git")
        files[f"teams/{team}.yaml"] = team_yaml(
            team, url, [team], SELECTORS[team], cluster_kinds=["rbac.authorization.k8s.io/ClusterRole"]
        )
    fleet.platform.commit(files)
    for team in ("team-b", "team-c"):
        app = team_crp(f"{team}-app", team).replace(
            "  policy:",
            "    - {group: rbac.authorization.k8s.io, version: v1, kind: ClusterRole, name: reader}\n  policy:",
        )
        fleet.push(team, {**team_files(team, value="2"), "role.yaml": ROLE, "placements/app.yaml": app})
    fleet.reconcile()
    for c in EUROPE:
        assert not any("ClusterRole" in f for f in fleet.files(c))  # neither team gets it
        assert 'VALUE: "2"' in fleet.read(c, manifest("team-b"))
        assert 'VALUE: "2"' in fleet.read(c, manifest("team-c"))
    b, c_ = fleet.team_status("team-b").last_load, fleet.team_status("team-c").last_load
    assert any("also declared by team 'team-c' (role.yaml" in f.message for f in b.findings)
    assert any("also declared by team 'team-b' (role.yaml" in f.message for f in c_.findings)


def test_a_team_head_that_does_not_load_keeps_the_whole_team_at_its_last_good_commit(fleet: Fleet) -> None:
    good = fleet.team_status("team-a").commit
    rogue = member("rogue", "europe").replace("heartbeatPeriodSeconds: 60", "heartbeatPeriodSeconds: often")
    head = fleet.push("team-a", {**team_files("team-a", value="2"), "rogue.yaml": rogue})  # repo-wide error
    fleet.push("team-b", team_files("team-b", value="2"))
    fleet.reconcile()
    for c in CLUSTERS:
        assert 'VALUE: "1"' in fleet.read(c, manifest("team-a"))  # not even its valid change
    for c in EUROPE:
        assert 'VALUE: "2"' in fleet.read(c, manifest("team-b"))
    record = fleet.team_status("team-a")
    assert record.commit == good and record.last_load.commit == head and not record.last_load.ok
