"""A crash-looping app is fixed through Git: issue 14 point 11, end to end (beyond KubeFleet).

One simulated member whose cluster never makes a workload available (kubesim ``never``, like a
cluster whose pods crash-loop), the real hub and the real agent, all through Git
(fleetsync/demo/fleet.py). The Deployment's rollout exceeds its ``progressDeadlineSeconds``; the
agent reports ``Available=False`` with reason ``ProgressDeadlineExceeded``; the placement's
RollingUpdate has ``maxUnavailable: 100%``, under which KubeFleet would move nothing while the
cluster is not available — here the failed binding is updated, and the fix committed to the fleet
repo reaches the cluster.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetsync.demo.fleet import LocalFleet
from fleetsync_contract.canonical import load
from kubesim.server import KubeSim
from tests.support.simfleet import Clock, member, sim_fleet

pytestmark = pytest.mark.slow

KEY = "ClusterResourcePlacement/shop"
PLACEMENT = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata: {name: shop}
spec:
  resourceSelectors: [{group: "", version: v1, kind: Namespace, name: shop}]
  policy: {placementType: PickAll}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 100%, unavailablePeriodSeconds: 0}}
"""


def app(image: str) -> str:
    return f"""apiVersion: v1
kind: Namespace
metadata: {{name: shop}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: cart, namespace: shop}}
spec:
  replicas: 1
  progressDeadlineSeconds: 1
  selector: {{matchLabels: {{app: cart}}}}
  template:
    metadata: {{labels: {{app: cart}}}}
    spec:
      containers: [{{name: cart, image: "{image}"}}]
"""


FILES = {"clusters/m1.yaml": member("m1"), "apps/shop.yaml": app("shop:1"), "placements/shop.yaml": PLACEMENT}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fleet(tmp_path: Path, clock: Clock) -> Iterator[LocalFleet]:
    with sim_fleet(tmp_path, FILES, clock) as f:
        sim(f).controllers.delay = None  # like a cluster whose pods never become ready
        f.sync()  # the agent joins: the hub schedules only clusters whose agent has reported
        yield f


def sim(fleet: LocalFleet) -> KubeSim:
    s = fleet.members["m1"].sim
    assert s is not None
    return s


def cart(fleet: LocalFleet) -> dict[str, Any]:
    obj = sim(fleet).get_object("apps/v1", "Deployment", "shop", "cart")
    assert obj is not None
    return obj


def progressing_reason(fleet: LocalFleet) -> str:
    conds = (cart(fleet).get("status") or {}).get("conditions") or []
    return next((c.get("reason", "") for c in conds if c.get("type") == "Progressing"), "")


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        threading.Event().wait(0.05)


def round_trip(fleet: LocalFleet, clock: Clock) -> list[str]:
    """A hub reconcile and an agent sync a minute later; the bundle branches the hub moved."""
    clock.now += timedelta(minutes=1)
    moved = [w for w in fleet.reconcile().written if "/bundles/" in w]
    fleet.sync()
    return moved


def cluster_status(fleet: LocalFleet) -> dict[str, Any]:
    assert fleet.hub is not None
    fleet.hub.refresh()
    doc = load(
        fleet.hub.read_file(fleet.hub.hub_refs()["refs/heads/fleet/status"], f"placements/{KEY}.yaml") or b""
    )
    (entry,) = doc["status"]["placementStatuses"]
    return dict(entry)


def test_a_fix_reaches_a_cluster_whose_deployment_exceeded_its_progress_deadline(
    fleet: LocalFleet, clock: Clock
) -> None:
    assert round_trip(fleet, clock) == ["refs/heads/fleet/bundles/m1"]
    wait_for(lambda: progressing_reason(fleet) == "ProgressDeadlineExceeded")  # 1 s of real time
    round_trip(fleet, clock)  # the agent reports it; the hub reads it on its next pass
    clock.now += timedelta(minutes=1)
    fleet.reconcile()
    status = cluster_status(fleet)
    available = next(c for c in status["conditions"] if c["type"] == "Available")
    assert (available["status"], available["reason"]) == ("False", "ProgressDeadlineExceeded")
    (failed,) = status["failedPlacements"]
    assert (failed["kind"], failed["name"], failed["condition"]["reason"]) == (
        "Deployment",
        "cart",
        "ProgressDeadlineExceeded",
    )

    assert fleet.repo is not None
    fleet.repo.commit({"apps/shop.yaml": app("shop:2")}, "shop: fix the crash loop")
    assert round_trip(fleet, clock) == ["refs/heads/fleet/bundles/m1"]
    containers = cart(fleet)["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["shop:2"]
    assert progressing_reason(fleet) == "ReplicaSetUpdated"  # a new rollout, a new deadline
