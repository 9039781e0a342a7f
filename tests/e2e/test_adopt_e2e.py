"""Adopting a drift end to end: the adopted commit, merged and reconciled, ends the drift report.

Two simulated members (kubesim) with the real hub and the real agents, all through Git
(fleetsync/demo/fleet.py). The placement uses ``whenToApply: IfNotDrifted`` so an out-of-band
scale is reported rather than overwritten. ``fleetsync drift adopt``'s function turns eu-1's
drift into a ResourceOverride on a new branch; the branch is merged (pushed to main), the hub
renders it, and eu-1's agent then reports no drift while keeping the member's replicas; eu-2
keeps the hub's.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from fleetsync.demo.fleet import LocalFleet
from reconciler.drift.adopt import Mode
from reconciler.drift.commit import AdoptOptions, adopt
from tests.support.gitdaemon import git_identity
from tests.support.simfleet import Clock, deployment_app, member, sim_fleet

pytestmark = pytest.mark.slow

MAX_ROUNDS = 8
DEPLOY = "apps/Deployment/web/frontend"
CLUSTERS = ("eu-1", "eu-2")
FILES = {
    "apps/web.yaml": deployment_app("web", "frontend", replicas=2, container="web"),
    "placements/web.yaml": """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata: {name: web}
spec:
  resourceSelectors: [{group: "", version: v1, kind: Namespace, name: web}]
  policy: {placementType: PickAll}
  strategy:
    applyStrategy: {whenToApply: IfNotDrifted}
""",
    **{f"clusters/{c}.yaml": member(c) for c in CLUSTERS},
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fleet(tmp_path: Path, clock: Clock) -> Iterator[LocalFleet]:
    with sim_fleet(tmp_path, FILES, clock) as f:
        f.sync()
        yield f


def replicas(fleet: LocalFleet, cluster: str) -> int | None:
    sim = fleet.members[cluster].sim
    assert sim is not None
    obj = sim.get_object("apps/v1", "Deployment", "web", "frontend")
    return None if obj is None else int(obj["spec"]["replicas"])


def drifted(fleet: LocalFleet, cluster: str) -> list[str]:
    agent = fleet.inputs().agents[cluster]
    return sorted(d.identity for d in agent.drifts.values())


def rounds(fleet: LocalFleet, clock: Clock, until: object) -> None:
    for _ in range(MAX_ROUNDS):
        clock.now += timedelta(minutes=1)
        fleet.reconcile()
        fleet.sync()
        if until():  # type: ignore[operator]
            return
    raise AssertionError(f"not reached in {MAX_ROUNDS} rounds")


def test_an_adopted_drift_merged_and_reconciled_is_no_longer_reported(
    fleet: LocalFleet, clock: Clock, tmp_path: Path
) -> None:
    rounds(fleet, clock, lambda: all(replicas(fleet, c) == 2 for c in CLUSTERS))
    sim = fleet.members["eu-1"].sim
    assert sim is not None and fleet.repo is not None
    sim.edit(
        "apps/v1",
        "Deployment",
        "web",
        "frontend",
        lambda o: o["spec"].__setitem__("replicas", 5),
        manager="kubectl-scale",
    )
    clock.now += timedelta(minutes=1)
    fleet.sync(["eu-1"])
    assert drifted(fleet, "eu-1") == [DEPLOY]

    work = fleet.repo.work
    git_identity(work)
    out = adopt(
        work,
        AdoptOptions(
            "eu-1", DEPLOY, mode=Mode.OVERRIDE, reports=str(fleet.repo.remote), state_dir=tmp_path / "cache"
        ),
    )
    assert "new branch drift/eu-1/frontend" in out
    subprocess.run(
        ["git", "-C", str(work), "push", "-q", str(fleet.repo.remote), "drift/eu-1/frontend:main"], check=True
    )  # the pull request is merged

    rounds(fleet, clock, lambda: drifted(fleet, "eu-1") == [])
    assert (replicas(fleet, "eu-1"), replicas(fleet, "eu-2")) == (5, 2)
    assert drifted(fleet, "eu-2") == []
