"""A staged run through the real hub loop and real git: commits in, bundle branches and status out.

The loop reaches the run machinery through reconciler/rollout/staged/step.py ``step`` (its input
built by reconciler/hub/staged.py); these tests drive it as a team would: commit a strategy and a
run, let agents report, approve with ``fleetsync approve``'s function, and read the run back as
``fleetsync get runs`` does.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import reconciler.hub.loop as loop
from fleetsync_contract.canonical import load
from reconciler.gitstore.repo import HubRepo
from reconciler.rollout.staged.approve import Approval, approve
from reconciler.status.runs import run_docs, summary
from tests.support import TEMPLATE
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files, crp, joined_fleet
from tests.support.gitdaemon import git_identity

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
RUN_FILE = "runs/ClusterStagedUpdateRun/_cluster/web-v2.yaml"
STRATEGY = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata:
  name: by-region
spec:
  stages:
    - name: europe
      labelSelector: {matchLabels: {region: europe}}
      afterStageTasks: [{type: Approval}]
    - name: america
      labelSelector: {matchLabels: {region: america}}
      maxConcurrency: 100%
"""
RUN = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata:
  name: web-v2
spec:
  placementName: web
  stagedRolloutStrategyName: by-region
  state: Run
"""


def external() -> str:
    text = str(crp())
    return text[: text.index("  strategy:")] + "  strategy:\n    type: External\n"


def reconcile(work: FleetWork, now: datetime) -> list[str]:
    with HubRepo.local(work.path) as repo:
        return list(loop.reconcile_once(repo, now).written)


def has_web(work: FleetWork, cluster: str) -> bool:
    ref = f"refs/heads/fleet/bundles/{cluster}"
    return ref in work.refs() and any(
        p.key == "ClusterResourcePlacement/web" for p in work.bundle(cluster).placements
    )


def test_a_two_stage_run_with_an_approval_commit_moves_every_cluster(tmp_path: Path) -> None:
    files = base_files(placement=external())
    work = joined_fleet(tmp_path / "fleet", NOW, files)
    reconcile(work, NOW)
    assert not any(has_web(work, c) for c in CLUSTERS)  # External: nothing moves without a run
    work.commit({**files, "rollouts/strategy.yaml": STRATEGY, "rollouts/web-v2.yaml": RUN})
    now = NOW + timedelta(minutes=1)
    reconcile(work, now)
    assert [c for c in sorted(CLUSTERS) if has_web(work, c)] == ["eu-1"]
    for step, cluster in enumerate(["eu-1", "eu-2"]):
        work.report(cluster, now)
        now += timedelta(minutes=1)
        reconcile(work, now)
        if step == 0:
            assert has_web(work, "eu-2") and not has_web(work, "us-1")
    status = load(work.read("refs/heads/fleet/status", RUN_FILE).encode())
    assert summary(status)[4:7] == [
        "UpdateRunWaiting",
        "europe",
        "approval web-v2-after-europe (fleetsync approve web-v2 europe --after)",
    ]
    assert "approvalrequests/ClusterApprovalRequest/_cluster/web-v2-after-europe.yaml" in work.tree(
        "refs/heads/fleet/status"
    )
    git_identity(work.path)
    approve(work.path, Approval("web-v2", "europe"), now)
    now += timedelta(minutes=1)
    reconcile(work, now)
    assert has_web(work, "us-1") and has_web(work, "us-2")  # maxConcurrency 100%
    # The hub records who approved: the author of the commit that made the approval say so.
    request = work.read(
        "refs/heads/fleet/status", "approvalrequests/ClusterApprovalRequest/_cluster/web-v2-after-europe.yaml"
    )
    approved_by = load(request.encode())["status"]["approvedBy"]
    assert "Ada Lovelace" in str(approved_by) and "ada@example.com" in str(approved_by)
    for cluster in ("us-1", "us-2"):
        work.report(cluster, now)
    now += timedelta(minutes=1)
    reconcile(work, now)
    with HubRepo.local(work.path) as repo:
        (doc,) = run_docs(repo.read_files(repo.hub_refs()["refs/heads/fleet/status"]), "web-v2")
    assert summary(doc)[4] == "UpdateRunSucceeded"
    assert reconcile(work, now + timedelta(minutes=1)) == []  # done: nothing changes any more


def test_the_template_checkout_run_starts_with_its_staging_cluster(tmp_path: Path) -> None:
    work = FleetWork(tmp_path / "fleet")
    shutil.copytree(TEMPLATE, work.path, dirs_exist_ok=True)
    subprocess.run(["git", "-C", str(work.path), "add", "-A"], check=True)
    work.commit({}, "fork the template", replace=False)
    for c in sorted(p.stem for p in (work.path / "clusters").glob("*.yaml")):
        work.beat(c, NOW)
    reconcile(work, NOW)
    checkout = sorted(c.stem for c in (work.path / "clusters").glob("*.yaml") if has_placement(work, c.stem))
    assert checkout == ["staging-eu-1"]
    doc = load(
        work.read(
            "refs/heads/fleet/status", "runs/ClusterStagedUpdateRun/_cluster/checkout-2-8-1.yaml"
        ).encode()
    )
    assert summary(doc)[4:7] == ["UpdateRunProgressing", "staging", "staging-eu-1 to become available"]


def has_placement(work: FleetWork, cluster: str, key: str = "ClusterResourcePlacement/checkout") -> bool:
    ref = f"refs/heads/fleet/bundles/{cluster}"
    return ref in work.refs() and any(p.key == key for p in work.bundle(cluster).placements)
