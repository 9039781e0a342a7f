"""A team's errors reach the person running the hub: ``hub reconcile`` prints them (exit 1) and
``fleetsync get teams`` reads every team's record from ``status.yaml``.

Team findings are kept out of the fleet's own ``lastLoad`` (they are paths of the team repo), so
these two commands are where a platform engineer sees that a team's head does not load, that its
repo cannot be fetched, or that the hub refused some of its objects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from fleetsync.cli import app
from tests.support.fleethelpers import CLUSTERS, FleetWork, member
from tests.support.teamfixtures import configmap, team_files, team_yaml

# an invalid MemberCluster holds a commit whole (repo scope): the team's head does not load
ROGUE_MEMBER = """apiVersion: cluster.kubernetes-fleet.io/v1beta1
kind: MemberCluster
metadata: {name: rogue}
spec: {bogus: 1}
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def platform(tmp_path: Path, teams: dict[str, Path]) -> FleetWork:
    files = {f"clusters/{c}.yaml": member(c, r) for c, r in CLUSTERS.items()}
    for name, repo in teams.items():
        files[f"teams/{name}.yaml"] = team_yaml(name, str(repo), [name])
    work = FleetWork(tmp_path / "platform")
    work.commit(files)
    return work


def team_repo(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    work = FleetWork(tmp_path / name)
    work.commit(files)
    return work.path


def test_hub_reconcile_prints_each_teams_errors_and_exits_1(tmp_path: Path) -> None:
    good = team_repo(tmp_path, "team-a", team_files("team-a"))
    reaching = team_repo(  # one object in another team's namespace: refused alone
        tmp_path, "team-b", team_files("team-b") | {"app/theirs.yaml": configmap("theirs", "team-a")}
    )
    broken = team_repo(tmp_path, "team-c", team_files("team-c") | {"rogue.yaml": ROGUE_MEMBER})
    fleet = platform(
        tmp_path,
        {"team-a": good, "team-b": reaching, "team-c": broken, "team-d": tmp_path / "missing.git"},
    )
    code, out, _ = run("hub", "reconcile", "--repo", str(fleet.path))
    assert code == 1, out
    lines = out.splitlines()
    assert not any(line.startswith("team team-a") for line in lines)  # nothing to say about it
    assert "team team-b: commit" in out and "1 error(s), the failed objects keep their last good" in out
    assert "app/theirs.yaml" in out and "team-a" in out
    assert "team team-c: the newest commit" in out and "does not load" in out and "rogue.yaml" in out
    assert "team team-d:" in out and "cannot be fetched" in out
    assert "teams: 1 of 4 rendered without errors" in out


def test_hub_reconcile_exits_0_when_every_team_renders(tmp_path: Path) -> None:
    fleet = platform(tmp_path, {"team-a": team_repo(tmp_path, "team-a", team_files("team-a"))})
    code, out, _ = run("hub", "reconcile", "--repo", str(fleet.path))
    assert code == 0, out
    assert "teams: 1 of 1 rendered without errors" in out


def test_get_teams_reads_every_teams_record_from_the_status_branch(tmp_path: Path) -> None:
    good = team_repo(tmp_path, "team-a", team_files("team-a"))
    fleet = platform(tmp_path, {"team-a": good, "team-d": tmp_path / "missing.git"})
    assert run("hub", "reconcile", "--repo", str(fleet.path))[0] == 1
    head = fleet.refs("refs/heads/main")["refs/heads/main"]

    code, out, err = run("get", "teams", "--repo", str(fleet.path))
    assert code == 0 and f"commit {head[:12]} rendered" in err
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["NAME", "SOURCE-COMMIT", "LOADED", "ERRORS", "KEPT", "LIMITED", "FETCH-ERROR"]
    team_a = FleetWork(good).refs("refs/heads/main")["refs/heads/main"]
    assert rows[1][:6] == ["team-a", team_a[:12], "True", "0", "0", "-"] and rows[1][6] == "-"
    assert rows[2][:5] == ["team-d", "-", "False", "1", "0"] and rows[2][6] != "-"

    code, out, _ = run("get", "teams", "-o", "json", "--repo", str(fleet.path))
    listing = json.loads(out)
    assert code == 0 and [t["name"] for t in listing["items"]] == ["team-a", "team-d"]
    assert listing["items"][0]["sourceCommit"] == team_a and listing["items"][1]["fetchError"]

    code, out, _ = run("get", "teams", "team-d", "-o", "yaml", "--repo", str(fleet.path))
    assert code == 0 and out.startswith("fetchError:") and "name: team-d" in out
    assert run("get", "teams", "team-z", "--repo", str(fleet.path))[0] == 1


def test_a_team_over_its_limits_is_reported_without_failing_the_reconcile(tmp_path: Path) -> None:
    repo = team_repo(tmp_path, "team-a", team_files("team-a"))  # a Namespace and a ConfigMap
    fleet = FleetWork(tmp_path / "platform")
    files = {f"clusters/{c}.yaml": member(c, r) for c, r in CLUSTERS.items()}
    fleet.commit(
        files | {"teams/team-a.yaml": team_yaml("team-a", str(repo), ["team-a"], objects_per_cluster=1)}
    )
    for c in CLUSTERS:  # healthy members, so the team's placement binds (hub reconcile reads the clock)
        fleet.beat(c, datetime.now(UTC))
    code, out, _ = run("hub", "reconcile", "--repo", str(fleet.path))
    assert code == 0, out
    assert f"team team-a: over its limits on {sorted(CLUSTERS)[0]}: 2 objects" in out
    code, out, _ = run("get", "teams", "--repo", str(fleet.path))
    assert code == 0 and out.splitlines()[1].split()[5] == ",".join(sorted(CLUSTERS))
