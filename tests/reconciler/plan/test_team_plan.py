"""``fleetsync plan --platform``: a team repo's pull request planned against the platform repo.

Real git repos: a platform repo with two clusters and a Team (its clusters: region europe), and
the team's repo with a base and a head commit. The team's change is rendered with the
platform's clusters and boundaries, as the hub would render it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.plan import run as plan_run
from tests.support.fleethelpers import FleetWork, member
from tests.support.teamfixtures import configmap, team_files, team_yaml

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team-a
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: registry.k8s.io/pause:3.9
          resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 16Mi}}
"""


class Repos:
    def __init__(self, tmp_path: Path, limit: int | None = None):
        self.team = FleetWork(tmp_path / "team-a")
        self.platform = FleetWork(tmp_path / "platform")
        self.platform.commit(
            {
                "clusters/eu-1.yaml": member("eu-1", "europe"),
                "clusters/us-1.yaml": member("us-1", "america"),
                "teams/team-a.yaml": team_yaml(
                    "team-a", str(self.team.path), ["team-a"], {"region": "europe"}, objects_per_cluster=limit
                ),
            }
        )
        self.team.commit(team_files("team-a"), "base")

    def plan(self, head: dict[str, str], *extra: str) -> tuple[dict[str, Any], str, int]:
        self.team.commit({**team_files("team-a"), **head}, "head")
        out, err, code = plan_run.run(
            self.team.path, "HEAD~1", "HEAD", "json", NOW, platform=str(self.platform.path), **_opts(extra)
        )
        return (json.loads(out) if out else {}), err, code


def _opts(extra: tuple[str, ...]) -> dict[str, str]:
    return {"team": extra[0]} if extra else {}


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    return Repos(tmp_path)


def _added(plan: dict[str, Any]) -> dict[str, list[str]]:
    """cluster -> identities added there."""
    out: dict[str, list[str]] = {}
    for group in plan["groups"]:
        for cluster in group["clusters"]:
            out.setdefault(cluster, []).extend(
                o["identity"] for o in group["objects"] if o["action"] == "added"
            )
    return out


def test_a_team_pr_adding_a_deployment_plans_it_onto_the_teams_clusters_only(repos: Repos) -> None:
    plan, err, code = repos.plan({"app/web.yaml": DEPLOYMENT})
    assert (err, code) == ("", 1)
    assert _added(plan) == {"eu-1": ["apps/Deployment/team-a/web"]}  # us-1 is outside the team's selector
    assert plan["summary"]["checksPassed"] is True
    assert any("team 'team-a'" in n and "platform repo's head" in n for n in plan["notes"])


def test_the_platforms_policies_gate_a_team_pr(repos: Repos) -> None:
    plan, _, code = repos.plan({"app/web.yaml": DEPLOYMENT.replace("registry.k8s.io/pause:3.9", "nginx")})
    assert code == 2
    denied = [v for v in plan["violations"] if v["action"] == "Deny" and v["new"]]
    assert [(v["policy"], v["cluster"]) for v in denied] == [("no-latest-tag", "eu-1")]


def test_a_team_pr_reaching_into_another_namespace_blocks_naming_the_rule(repos: Repos) -> None:
    plan, err, code = repos.plan({"app/other.yaml": configmap("stolen", "team-b")})
    assert (err, code) == ("", 2)
    failed = plan["failedObjects"]
    assert [f["identity"] for f in failed] == ["/ConfigMap/team-b/stolen"]
    assert failed[0]["new"] is True
    message = failed[0]["errors"][0]["message"]
    assert message == "team 'team-a': namespace 'team-b' is not the team's (it owns: team-a)"
    assert _added(plan) == {}  # the refused object goes nowhere


def test_a_boundary_break_base_already_had_does_not_block(repos: Repos) -> None:
    repos.team.commit({**team_files("team-a"), "app/other.yaml": configmap("stolen", "team-b")}, "base")
    plan, err, code = repos.plan(
        {"app/other.yaml": configmap("stolen", "team-b"), "app/web.yaml": DEPLOYMENT}
    )
    assert (err, code) == ("", 1)
    assert plan["failedObjects"][0]["new"] is False


def test_an_unknown_team_is_a_usage_error(repos: Repos) -> None:
    _, err, code = repos.plan({"app/web.yaml": DEPLOYMENT}, "team-z")
    assert code == 2
    assert "--team 'team-z'" in err and "team-a" in err


def test_a_checkout_no_team_names_needs_team(repos: Repos, tmp_path: Path) -> None:
    other = FleetWork(tmp_path / "elsewhere")
    other.commit(team_files("team-a"), "base")
    other.commit({**team_files("team-a"), "app/web.yaml": DEPLOYMENT}, "head")
    out, err, code = plan_run.run(
        other.path, "HEAD~1", "HEAD", "json", NOW, platform=str(repos.platform.path)
    )
    assert (out, code) == ("", 2)
    assert "pass --team NAME" in err
    out, err, code = plan_run.run(
        other.path, "HEAD~1", "HEAD", "json", NOW, platform=str(repos.platform.path), team="team-a"
    )
    assert (err, code) == ("", 1)


def test_the_cli_takes_platform_and_team_and_refuses_reports_from_beside_them(repos: Repos) -> None:
    repos.team.commit({**team_files("team-a"), "app/web.yaml": DEPLOYMENT}, "head")
    args = ["plan", str(repos.team.path), "--platform", str(repos.platform.path), "--team", "team-a"]
    assert CliRunner().invoke(app, args).exit_code == 1
    assert CliRunner().invoke(app, [*args, "--reports-from", "origin"]).exit_code == 2
    assert CliRunner().invoke(app, ["plan", str(repos.team.path), "--team", "team-a"]).exit_code == 2


def test_the_cluster_state_is_the_platform_repos_reports_and_hub_memory(repos: Repos) -> None:
    """After the hub rendered the team's base, a team PR plans against the agents' reports on
    the platform repo's hub refs: base renders as the hub rendered it, only the change shows."""
    for c in ("eu-1", "us-1"):
        repos.platform.beat(c, NOW)
    with HubRepo.local(repos.platform.path) as hub:
        reconcile_once(hub, NOW)
    assert "refs/heads/fleet/bundles/eu-1" in repos.platform.refs()
    repos.platform.report("eu-1", NOW)
    plan, err, code = repos.plan({"app/web.yaml": DEPLOYMENT})
    assert (err, code) == ("", 1)
    assert plan["clusterState"]["assumedEligible"] is False
    assert plan["clusterState"]["note"].endswith(
        "reports of 2 cluster(s) and the hub memory from the platform repo"
    )
    assert _added(plan) == {"eu-1": ["apps/Deployment/team-a/web"]}


def test_a_team_pr_over_its_limits_says_the_hub_keeps_that_cluster_as_it_is(tmp_path: Path) -> None:
    repos = Repos(tmp_path, limit=2)  # base: the Namespace and the ConfigMap on eu-1
    plan, err, code = repos.plan({"app/web.yaml": DEPLOYMENT})
    assert (err, code) == ("", 1)
    assert plan["notes"][-1] == (
        "team 'team-a' on eu-1: 3 objects, more than spec.limits.objectsPerCluster (2): "
        "the hub keeps the team's objects there as they are"
    )
