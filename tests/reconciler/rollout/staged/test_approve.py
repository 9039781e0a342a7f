"""``fleetsync approve``: an approval is a commit in a real fleet repo, authored by the approver."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from reconciler.api.staged import ApprovalRequest
from reconciler.errors import UserError
from reconciler.load.fleet import load_directory
from reconciler.rollout.staged.approve import Approval, approve
from reconciler.rollout.staged.execute import approvals_for
from tests.support.stagedfixtures import T0, fleet_checkout, git, parse, run


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return fleet_checkout(tmp_path / "fleet")


def test_approve_commits_an_approved_request_authored_by_the_approver(repo: Path) -> None:
    (repo / "staged.yaml").write_text("unrelated\n")
    git(repo, "add", "staged.yaml")  # something else is staged: it must stay out of the approval commit
    out = approve(repo, Approval("rollout-1", "canary"), T0, message="canary metrics look fine")
    assert "approved ClusterApprovalRequest rollout-1-after-canary by Ada Lovelace <ada@example.com>" in out
    assert git(repo, "show", "--name-only", "--format=%an <%ae>", "HEAD").splitlines() == [
        "Ada Lovelace <ada@example.com>",
        "",
        "approvals/rollout-1-after-canary.yaml",
    ]
    body = git(repo, "log", "-1", "--format=%B")
    assert "canary metrics look fine" in body and "Approved-by: Ada Lovelace <ada@example.com>" in body
    assert git(repo, "diff", "--cached", "--name-only") == "staged.yaml"
    request = parse((repo / "approvals/rollout-1-after-canary.yaml").read_text())
    assert isinstance(request, ApprovalRequest)
    assert (request.update_run, request.target_stage, request.approved) == ("rollout-1", "canary", True)
    assert request.meta.labels["kubernetes-fleet.io/targetupdaterun"] == "rollout-1"
    assert request.meta.labels["kubernetes-fleet.io/taskType"] == "afterStage"
    (cond,) = request.conditions
    assert cond.message == "approved by Ada Lovelace <ada@example.com> with fleetsync approve"


def test_approving_twice_commits_nothing_new(repo: Path) -> None:
    approve(repo, Approval("rollout-1", "canary", before=True), T0)
    head = git(repo, "rev-parse", "HEAD")
    assert "nothing to commit" in approve(repo, Approval("rollout-1", "canary", before=True), T0)
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / "approvals/rollout-1-before-canary.yaml").is_file()


def test_branch_mode_commits_on_a_new_branch_without_touching_the_checkout(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    out = approve(
        repo, Approval("rollout-1", "prod", namespace="team-a"), T0, branch="approve/rollout-1-prod"
    )
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert "git push -u origin approve/rollout-1-prod" in out and "--base main" in out
    branch = "approve/rollout-1-prod"
    assert git(repo, "rev-parse", f"{branch}^") == head
    assert git(repo, "log", "-1", "--format=%an", branch) == "Ada Lovelace"
    text = git(repo, "show", f"{branch}:approvals/team-a/rollout-1-after-prod.yaml")
    request = parse(text + "\n")
    assert isinstance(request, ApprovalRequest)
    assert (request.kind, request.namespace, request.approved) == ("ApprovalRequest", "team-a", True)
    with pytest.raises(UserError, match="already exists"):
        approve(repo, Approval("rollout-1", "prod", namespace="team-a"), T0, branch=branch)


@pytest.mark.parametrize(
    ("run", "stage", "namespace", "branch"),
    [
        ("Rollout", "canary", "", None),
        ("r1", "can-ary", "", None),
        ("r1", "canary", "Team", None),
        ("r1", "canary", "", "-x"),
        ("r1", "canary", "", "a/../b"),
        ("-r1", "canary", "", None),
    ],
)
def test_names_are_checked_before_they_reach_git(
    repo: Path, run: str, stage: str, namespace: str, branch: str | None
) -> None:
    with pytest.raises(UserError):
        approve(repo, Approval(run, stage, namespace=namespace), T0, branch=branch)
    assert git(repo, "log", "--oneline").count("\n") == 0


RUN_AND_STRATEGY = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata: {name: rollout-1}
spec: {placementName: web, stagedRolloutStrategyName: s, state: Run}
---
apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata: {name: s}
spec:
  stages:
    - name: prod
      beforeStageTasks: [{type: Approval}]
"""


def test_the_cli_approves_the_before_stage_task(repo: Path) -> None:
    (repo / "rollout.yaml").write_text(RUN_AND_STRATEGY)  # the CLI approves only gates that exist
    git(repo, "add", "rollout.yaml")
    git(repo, "commit", "-qm", "rollout-1")
    result = CliRunner().invoke(app, ["approve", "rollout-1", "prod", "--before", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert git(repo, "log", "-1", "--name-only", "--format=") == "approvals/rollout-1-before-prod.yaml"


def test_the_fleet_loader_reads_the_committed_approval(repo: Path) -> None:
    approve(repo, Approval("r1", "canary"), T0)
    loaded = load_directory(repo)
    assert [f.message for f in loaded.findings if f.severity == "error"] == []
    request = loaded.spec.approvals["ClusterApprovalRequest//r1-after-canary"]
    assert approvals_for(run(), loaded.spec.approvals.values()) == {"r1-after-canary": request}
