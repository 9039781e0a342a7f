"""``fleetsync approve RUN STAGE`` approves only what can be approved: a run that exists, a stage
of its strategy, and a gate (before- or after-stage Approval task) that stage has; anything else
is a usage error (exit 2) naming what does exist, and nothing is committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from tests.support import TEMPLATE
from tests.support.stagedfixtures import fleet_checkout, git

RUN = "checkout-2-8-1"  # the template's run: staging → (before approval) canary → production (after approval)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = fleet_checkout(tmp_path / "fleet")
    shutil.copytree(TEMPLATE / "rollouts", path / "rollouts")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "a staged rollout")
    return path


def approve(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["approve", *args, "--repo", str(repo)])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["checkout-2-9-0", "canary"], f"no staged update run 'checkout-2-9-0'; runs: {RUN}"),
        ([RUN, "qa"], "stages: staging, canary, production"),
        (
            [RUN, "canary"],
            "stage canary has no after-stage approval; it has a before-stage approval (--before)",
        ),
        ([RUN, "staging", "--before"], "stage staging has no before-stage approval; it has none"),
        ([RUN, "canary", "-n", "team-a"], "no staged update run 'team-a/checkout-2-8-1'"),
    ],
    ids=["unknown-run", "unknown-stage", "no-after-gate", "no-gate-at-all", "namespaced-run-missing"],
)
def test_approving_what_does_not_exist_is_a_usage_error_that_names_what_does(
    repo: Path, args: list[str], says: str
) -> None:
    head = git(repo, "rev-parse", "HEAD")
    code, output = approve(repo, *args)
    assert code == 2, output
    assert says in output
    assert git(repo, "rev-parse", "HEAD") == head  # nothing committed


@pytest.mark.parametrize(
    ("args", "path"),
    [
        ([RUN, "canary", "--before"], f"approvals/{RUN}-before-canary.yaml"),
        ([RUN, "production"], f"approvals/{RUN}-after-production.yaml"),
    ],
)
def test_approving_a_gate_the_stage_has_commits_it(repo: Path, args: list[str], path: str) -> None:
    code, output = approve(repo, *args)
    assert code == 0, output
    assert git(repo, "log", "-1", "--name-only", "--format=") == path


FROZEN = b"""apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata: {name: checkout-2-8-1}
status:
  stagedUpdateStrategySnapshot:
    stages:
      - name: canary
        maxConcurrency: 1
        afterStageTasks: [{type: Approval}]
"""


def test_the_strategy_a_run_froze_on_the_status_branch_decides_over_the_repo(repo: Path) -> None:
    """The run executes the stages it froze at initialization, whatever the strategy says now."""
    tree = _tree(repo, _blob(repo))
    commit = git(repo, "commit-tree", tree, "-m", "status")
    git(repo, "update-ref", "refs/heads/fleet/status", commit)
    assert approve(repo, RUN, "canary")[0] == 0  # after-stage: frozen, though the repo's canary has none
    code, output = approve(repo, RUN, "production")
    assert code == 2 and "stages: canary" in output


def _blob(repo: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
        input=FROZEN,
        capture_output=True,
        check=True,
    )
    return done.stdout.decode().strip()


def _tree(repo: Path, blob: str) -> str:
    def mktree(entry: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), "mktree"], input=entry.encode(), capture_output=True, check=True
        )
        return done.stdout.decode().strip()

    inner = mktree(f"100644 blob {blob}\tcheckout-2-8-1.yaml\n")
    cluster = mktree(f"040000 tree {inner}\t_cluster\n")
    kind = mktree(f"040000 tree {cluster}\tClusterStagedUpdateRun\n")
    return mktree(f"040000 tree {kind}\truns\n")
