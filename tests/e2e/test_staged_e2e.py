"""Staged runs end to end: fleet repo → hub → bundle branches → agents → simulated clusters → reports.

Six simulated members (kubesim, whose controllers make Deployments available), the real hub and
the real agents, all through Git (fleetsync/demo/fleet.py). A three-stage run rolls a Deployment
out dev → canary → prod with an after-stage approval on canary, given by ``fleetsync approve``'s
function and pushed like any commit. In the second fleet one prod cluster never makes its
workload available: the run stops at that stage, says which cluster it waits for, and after
five minutes (an injected clock) says ``UpdateRunStuck``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetsync.demo.fleet import LocalFleet
from fleetsync_contract.canonical import load
from reconciler.rollout.staged.approve import Approval, approve
from reconciler.status.runs import run_docs, summary
from tests.support.gitdaemon import git_identity
from tests.support.simfleet import EXTERNAL_SHOP, T0, Clock, deployment_app, member, sim_fleet

pytestmark = pytest.mark.slow

MAX_ROUNDS = 12
RINGS = {
    "dev-1": ("dev", 1),
    "dev-2": ("dev", 2),
    "canary-1": ("canary", 1),
    "canary-2": ("canary", 2),
    "prod-1": ("prod", 1),
    "prod-2": ("prod", 2),
}
KEY = "ClusterResourcePlacement/shop"
FILES = {
    "apps/shop.yaml": deployment_app("shop", "cart", replicas=1, container="cart"),
    "placements/shop.yaml": EXTERNAL_SHOP,
    "rollouts/strategy.yaml": """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata: {name: rings}
spec:
  stages:
    - {name: dev, labelSelector: {matchLabels: {ring: dev}}, maxConcurrency: 100%}
    - name: canary
      labelSelector: {matchLabels: {ring: canary}}
      sortingLabelKey: order
      afterStageTasks: [{type: Approval}]
    - {name: prod, labelSelector: {matchLabels: {ring: prod}}, sortingLabelKey: order, maxConcurrency: 1}
""",
    "rollouts/shop-v1.yaml": """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata: {name: shop-v1}
spec: {placementName: shop, stagedRolloutStrategyName: rings, state: Run}
""",
    **{
        f"clusters/{c}.yaml": member(c, {"ring": ring, "order": str(order)})
        for c, (ring, order) in RINGS.items()
    },
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fleet(tmp_path: Path, clock: Clock) -> Iterator[LocalFleet]:
    with sim_fleet(tmp_path, FILES, clock) as f:
        f.sync()  # agents join: the hub schedules only clusters whose agent has reported
        yield f


def run_status(fleet: LocalFleet) -> dict[str, Any]:
    assert fleet.hub is not None
    fleet.hub.refresh()
    files = fleet.hub.read_files(fleet.hub.hub_refs()["refs/heads/fleet/status"])
    (doc,) = run_docs(files, "shop-v1")
    return doc


def has_cart(fleet: LocalFleet, cluster: str) -> bool:
    sim = fleet.members[cluster].sim
    assert sim is not None
    return sim.get_object("apps/v1", "Deployment", "shop", "cart") is not None


def rounds(fleet: LocalFleet, clock: Clock, until: Any) -> list[list[str]]:
    """Hub reconcile + agent syncs, a minute apart, until ``until(status)``; clusters moved per round."""
    moved: list[list[str]] = []
    for _ in range(MAX_ROUNDS):
        clock.now += timedelta(minutes=1)
        written = fleet.reconcile().written
        moved.append(sorted(w.rsplit("/", 1)[-1] for w in written if "/bundles/" in w))
        fleet.sync()
        if until(run_status(fleet)):
            return moved
    raise AssertionError(f"the run did not get there in {MAX_ROUNDS} rounds: {summary(run_status(fleet))}")


def approve_and_push(fleet: LocalFleet, stage: str) -> None:
    assert fleet.repo is not None
    work = fleet.repo.work
    git_identity(work)
    approve(work, Approval("shop-v1", stage), T0)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(fleet.repo.remote), "main:main"], check=True)


def waiting_for(doc: dict[str, Any]) -> list[str]:
    return summary(doc)[4:7]


def test_a_three_stage_run_with_an_approval_puts_every_cluster_on_the_new_bundle(
    fleet: LocalFleet, clock: Clock
) -> None:
    moved = rounds(fleet, clock, lambda d: waiting_for(d)[0] == "UpdateRunWaiting")
    assert [m for m in moved if m] == [["dev-1", "dev-2"], ["canary-1"], ["canary-2"]]
    assert waiting_for(run_status(fleet)) == [
        "UpdateRunWaiting",
        "canary",
        "approval shop-v1-after-canary (fleetsync approve shop-v1 canary --after)",
    ]
    assert not has_cart(fleet, "prod-1")
    approve_and_push(fleet, "canary")
    moved = rounds(fleet, clock, lambda d: waiting_for(d)[0] == "UpdateRunSucceeded")
    assert [m for m in moved if m] == [["prod-1"], ["prod-2"]]
    assert all(has_cart(fleet, c) for c in RINGS)
    inputs = fleet.inputs()
    index = int(run_status(fleet)["status"]["resourceSnapshotIndexUsed"])
    for cluster in RINGS:
        (entry,) = [p for p in inputs.bundles[cluster].bundle.placements if p.key == KEY]
        assert entry.resource_index == index, cluster
        report = inputs.agents[cluster].report
        assert report is not None and report.applied_bundle_id == inputs.bundles[cluster].bundle_id, cluster
    assert fleet.hub is not None
    placement = load(
        fleet.hub.read_file(fleet.hub.hub_refs()["refs/heads/fleet/status"], f"placements/{KEY}.yaml") or b""
    )
    assert placement["status"]["observedResourceIndex"] == str(index)


def test_a_cluster_that_never_becomes_available_stops_the_run_at_its_stage(
    tmp_path: Path, clock: Clock
) -> None:
    with sim_fleet(tmp_path, FILES, clock) as fleet:
        sim = fleet.members["prod-1"].sim
        assert sim is not None
        sim.controllers.delay = None  # like a cluster without kubelets: observed, never available
        fleet.sync()
        rounds(fleet, clock, lambda d: waiting_for(d)[0] == "UpdateRunWaiting")
        approve_and_push(fleet, "canary")
        rounds(fleet, clock, lambda d: waiting_for(d)[1] == "prod" and "prod-1" in waiting_for(d)[2])
        assert waiting_for(run_status(fleet))[2] == "prod-1 to become available"
        assert has_cart(fleet, "prod-1") and not has_cart(fleet, "prod-2")
        clock.now += timedelta(minutes=6)
        fleet.sync()  # agents beat again at the new time
        rounds(fleet, clock, lambda d: waiting_for(d)[0] == "UpdateRunStuck")
        progressing = next(c for c in run_status(fleet)["status"]["conditions"] if c["type"] == "Progressing")
        assert progressing["message"] == (
            "The updateRun is stuck waiting for prod-1 cluster(s) in stage prod to finish updating, please check "
            "placement status for potential errors"
        )
        assert not has_cart(fleet, "prod-2")
