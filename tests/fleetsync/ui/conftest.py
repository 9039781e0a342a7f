"""A fleet for the view's tests, built by the real hub and agents on kubesim members, once per run.

Three members (dev-1, canary-1, prod-1). ``web`` places a namespace (a Deployment and a Secret)
on the production clusters only, so dev-1 is "not selected"; ``api`` picks one production
cluster (PickN), so canary-1 is eligible and not picked; ``shop`` is rolled out by a staged
run dev → canary → prod whose canary stage waits for an approval. Then someone scales the
Deployment and rewrites the Secret on prod-1 behind its agent's back: prod-1 reports both drifts
and the hub folds them into web's status. The tests read the remote as ``fleetsync ui`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetsync.demo.fleet import LocalFleet
from reconciler.gitstore.repo import HubRepo, open_hub_repo
from reconciler.status.runs import run_docs, summary
from tests.support.simfleet import EXTERNAL_SHOP, Clock, deployment_app, member, sim_fleet

SECRET_VALUE = "hunter2-on-the-member"
SECRET_IN_HUB = "c3VwZXJzZWNyZXQ="  # base64 of the hub's value
MEMBERS = {
    "dev-1": {"ring": "dev", "environment": "dev", "order": "1"},
    "canary-1": {"ring": "canary", "environment": "production", "order": "1"},
    "prod-1": {"ring": "prod", "environment": "production", "order": "1"},
}
WEB = (
    deployment_app("web", "frontend", replicas=2, container="web")
    + f"""---
apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: web}}
type: Opaque
data: {{password: {SECRET_IN_HUB}}}
"""
)
FILES = {
    "apps/web.yaml": WEB,
    "apps/shop.yaml": deployment_app("shop", "cart", replicas=1, container="cart"),
    "placements/web.yaml": """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata: {name: web}
spec:
  resourceSelectors: [{group: "", version: v1, kind: Namespace, name: web}]
  policy:
    placementType: PickAll
    affinity:
      clusterAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          clusterSelectorTerms: [{labelSelector: {matchLabels: {environment: production}}}]
  strategy:
    applyStrategy: {whenToApply: IfNotDrifted}
""",
    "apps/api.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: api}\n",
    "placements/api.yaml": """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata: {name: api}
spec:
  resourceSelectors: [{group: "", version: v1, kind: Namespace, name: api}]
  policy:
    placementType: PickN
    numberOfClusters: 1
    affinity:
      clusterAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          clusterSelectorTerms: [{labelSelector: {matchLabels: {environment: production}}}]
""",
    "placements/shop.yaml": EXTERNAL_SHOP,
    "rollouts/strategy.yaml": """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata: {name: rings}
spec:
  stages:
    - {name: dev, labelSelector: {matchLabels: {ring: dev}}}
    - name: canary
      labelSelector: {matchLabels: {ring: canary}}
      afterStageTasks: [{type: Approval}]
    - {name: prod, labelSelector: {matchLabels: {ring: prod}}}
""",
    "rollouts/shop-v1.yaml": """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata: {name: shop-v1}
spec: {placementName: shop, stagedRolloutStrategyName: rings, state: Run}
""",
    **{f"clusters/{c}.yaml": member(c, labels) for c, labels in MEMBERS.items()},
}
MAX_ROUNDS = 12


@dataclass(frozen=True)
class BuiltFleet:
    remote: Path
    clock: Clock


def _run(fleet: LocalFleet) -> dict[str, Any]:
    assert fleet.hub is not None
    fleet.hub.refresh()
    (doc,) = run_docs(fleet.hub.read_files(fleet.hub.hub_refs()["refs/heads/fleet/status"]), "shop-v1")
    return doc


def _settle(fleet: LocalFleet, clock: Clock) -> None:
    """Rounds a minute apart until the run waits for canary's approval."""
    for _ in range(MAX_ROUNDS):
        clock.now += timedelta(minutes=1)
        fleet.reconcile()
        fleet.sync()
        if summary(_run(fleet))[4] == "UpdateRunWaiting":
            return
    raise AssertionError(f"the run did not reach its approval: {summary(_run(fleet))}")


def _drift(fleet: LocalFleet, clock: Clock) -> None:
    sim = fleet.members["prod-1"].sim
    assert sim is not None
    sim.edit(
        "apps/v1",
        "Deployment",
        "web",
        "frontend",
        lambda o: o["spec"].__setitem__("replicas", 5),
        manager="kubectl-scale",
    )
    sim.edit(
        "v1",
        "Secret",
        "web",
        "db",
        lambda o: o.__setitem__("stringData", {"password": SECRET_VALUE}),
        manager="kubectl-edit",
    )
    clock.now += timedelta(minutes=1)
    fleet.sync(["prod-1"])
    fleet.reconcile()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltFleet]:
    root = tmp_path_factory.mktemp("uifleet")
    clock = Clock()
    with sim_fleet(root, FILES, clock) as fleet:
        fleet.sync()  # agents join: the hub schedules only clusters whose agent has reported
        _settle(fleet, clock)
        _drift(fleet, clock)
        assert fleet.repo is not None
        yield BuiltFleet(fleet.repo.remote, clock)


@pytest.fixture
def hub(built: BuiltFleet) -> Iterator[HubRepo]:
    with open_hub_repo(str(built.remote)) as repo:
        yield repo
