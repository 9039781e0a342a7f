"""A team's status end to end: the hub (a cached clone of the platform repo), real agents on
kubesim members, and two team repos on a ``git daemon``; the team reads what its agents applied
from its own repo alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync_contract.canonical import load
from tests.support.gitdaemon import GitDaemon, git
from tests.support.simfleet import Clock, member, sim_fleet
from tests.support.teamfixtures import team_files, team_yaml

STATUS = "refs/heads/fleet/status"
SELECTORS = {"team-a": None, "team-b": {"region": "europe"}}


def _team_repo(tmp_path: Path, daemon: GitDaemon, team: str) -> None:
    daemon.create(f"{team}.git")
    work = tmp_path / f"work-{team}"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    for path, text in team_files(team).items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "the team's app")
    git(work, "push", "-q", daemon.url(f"{team}.git"), "main")


def test_a_team_reads_what_its_agents_applied_from_its_own_repo(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    clock = Clock()
    with GitDaemon(served) as daemon:
        for team in SELECTORS:
            _team_repo(tmp_path, daemon, team)
        files = {
            "clusters/eu-1.yaml": member("eu-1", {"region": "europe"}),
            "clusters/us-1.yaml": member("us-1", {"region": "america"}),
        }
        for team, selector in SELECTORS.items():
            files[f"teams/{team}.yaml"] = team_yaml(team, daemon.url(f"{team}.git"), [team], selector)
        with sim_fleet(tmp_path / "fleet", files, clock) as fleet:
            for _ in range(3):  # render, apply and report, status
                fleet.reconcile()
                fleet.sync()
                clock.now += timedelta(seconds=30)
            fleet.reconcile()
        state = str(tmp_path / "state")
        got = CliRunner().invoke(
            app,
            [
                "get",
                "placements",
                "team-a-app",
                "-o",
                "json",
                "--repo",
                daemon.url("team-a.git"),
                "--state-dir",
                state,
            ],
        )
        assert got.exit_code == 0, got.output
        doc = load(got.stdout.encode())
        conditions = {c["type"]: c["status"] for c in doc["status"]["conditions"]}
        assert conditions["ClusterResourcePlacementApplied"] == "True"
        assert conditions["ClusterResourcePlacementAvailable"] == "True"
        assert {s["clusterName"] for s in doc["status"]["placementStatuses"]} == {"eu-1", "us-1"}
        team_b = served / "team-b.git"
        paths = git(team_b, "ls-tree", "-r", "--name-only", STATUS).splitlines()
        assert paths == ["placements/ClusterResourcePlacement/team-b-app.yaml", "status.yaml"]
        b_doc = load(git(team_b, "show", f"{STATUS}:{paths[0]}").encode())
        assert {s["clusterName"] for s in b_doc["status"]["placementStatuses"]} == {"eu-1"}
        assert "team-a" not in git(team_b, "show", f"{STATUS}:status.yaml")
