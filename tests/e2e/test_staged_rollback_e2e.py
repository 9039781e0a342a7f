"""A rollback end to end: a run naming snapshot 0 puts v1 back on live clusters, in place.

tests/reconciler/rollout/staged/test_rollback.py drives the hub alone with faked agent reports; here the real agents
apply every bundle to simulated clusters (kubesim) and their reports move the runs, all through
Git (fleetsync/demo/fleet.py, started by tests/support/simfleet.py). Three members in two stages (canary,
then prod one at a time) get v1, then v2 — another image, replicas and label, a new ConfigMap,
v1's other ConfigMap removed — then, from a hub restarted with an empty cache (snapshot 0 can
only come from Git), a run with ``resourceSnapshotIndex: "0"``, and last a run forward again.
What a user relies on is the live object, so the test reads it from each cluster: v1 again, the
same object (same uid: updated, never re-created), and what someone else put in the cluster left
exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetsync.demo.fleet import LocalFleet
from fleetsync_contract.canonical import load
from reconciler.gitstore.repo import HubRepo
from reconciler.status.runs import run_docs, summary
from reconciler.status.views import placement_path
from tests.support.simfleet import EXTERNAL_SHOP, Clock, deployment_app, member, sim_fleet

pytestmark = pytest.mark.slow

# per cluster a round to apply and one to report it available, then one for the verdict: 7 here
MAX_ROUNDS = 10
V1, V2 = "nginx:1.26", "nginx:1.27"
KEY = "ClusterResourcePlacement/shop"
RINGS = {"canary-1": ("canary", 1), "prod-1": ("prod", 1), "prod-2": ("prod", 2)}
NOTES = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "oncall-notes", "namespace": "shop"},
    "data": {"who": "alice"},
}


def config_map(name: str) -> str:
    return (
        f'apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\ndata: {{on: "yes"}}\n'
    )


def run(name: str, index: str | None = None) -> str:
    pinned = f', resourceSnapshotIndex: "{index}"' if index is not None else ""
    return f"""apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata: {{name: {name}}}
spec: {{placementName: shop, stagedRolloutStrategyName: canary-then-prod, state: Run{pinned}}}
"""


FILES = {
    "apps/shop.yaml": deployment_app("shop", "cart", replicas=2, container="cart", image=V1),
    "apps/legacy.yaml": config_map("cart-legacy"),
    "placements/shop.yaml": EXTERNAL_SHOP,
    "rollouts/strategy.yaml": """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata: {name: canary-then-prod}
spec:
  stages:
    - {name: canary, labelSelector: {matchLabels: {ring: canary}}}
    - {name: prod, labelSelector: {matchLabels: {ring: prod}}, sortingLabelKey: order, maxConcurrency: 1}
""",
    "rollouts/v1.yaml": run("v1"),
    **{
        f"clusters/{c}.yaml": member(c, {"ring": ring, "order": str(order)})
        for c, (ring, order) in RINGS.items()
    },
}
V2_FILES: dict[str, str | None] = {
    "apps/shop.yaml": deployment_app("shop", "cart", replicas=3, container="cart", image=V2).replace(
        "metadata: {name: cart, namespace: shop}",
        "metadata: {name: cart, namespace: shop, labels: {release: two}}",
    ),
    "apps/legacy.yaml": None,
    "apps/flags.yaml": config_map("cart-flags"),
    "rollouts/v2.yaml": run("v2"),
}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[LocalFleet]:
    with sim_fleet(tmp_path, FILES, Clock()) as f:
        f.sync()  # agents join: the hub schedules only clusters whose agent has reported
        yield f


def run_doc(fleet: LocalFleet, name: str) -> dict[str, Any]:
    assert fleet.hub is not None
    fleet.hub.refresh()
    (doc,) = run_docs(fleet.hub.read_files(fleet.hub.hub_refs()["refs/heads/fleet/status"]), name)
    return doc


def live(fleet: LocalFleet, cluster: str, kind: str, name: str) -> dict[str, Any] | None:
    """The object (a Namespace, or in namespace shop) as the cluster's API server has it now."""
    sim = fleet.members[cluster].sim
    assert sim is not None
    api_version = "apps/v1" if kind == "Deployment" else "v1"
    return sim.get_object(api_version, kind, None if kind == "Namespace" else "shop", name)


def cart(fleet: LocalFleet, cluster: str) -> dict[str, Any]:
    deployment = live(fleet, cluster, "Deployment", "cart")
    assert deployment is not None, cluster
    return deployment


def images(fleet: LocalFleet) -> dict[str, str]:
    """The image of each cluster's live cart Deployment (clusters that have one)."""
    return {
        c: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for c in RINGS
        if (d := live(fleet, c, "Deployment", "cart")) is not None
    }


def has(fleet: LocalFleet, name: str) -> dict[str, bool]:
    return {c: live(fleet, c, "ConfigMap", name) is not None for c in RINGS}


def uids(fleet: LocalFleet) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for c in RINGS:
        ns = live(fleet, c, "Namespace", "shop")
        assert ns is not None, c
        out[c] = (ns["metadata"]["uid"], cart(fleet, c)["metadata"]["uid"])
    return out


def roll(fleet: LocalFleet, name: str) -> list[dict[str, str]]:
    """Hub reconcile + agent syncs, a minute apart, until run ``name`` succeeded; the distinct image states."""
    clock = fleet.clock
    assert isinstance(clock, Clock)
    states = [images(fleet)]
    for _ in range(MAX_ROUNDS):
        clock.now += timedelta(minutes=1)
        fleet.reconcile()
        fleet.sync()
        if images(fleet) != states[-1]:
            states.append(images(fleet))
        verdict = summary(run_doc(fleet, name))
        if verdict[4] == "UpdateRunSucceeded":
            return states[1:]
        assert "Failed" not in verdict[4], verdict
    raise AssertionError(
        f"run {name} did not succeed in {MAX_ROUNDS} rounds: {summary(run_doc(fleet, name))}"
    )


def restart_hub(fleet: LocalFleet, cache: Path) -> None:
    """A new hub process: an empty cache cloned from the fleet repo, nothing kept in memory."""
    assert fleet.hub is not None
    fleet.hub.close()
    fleet.hub = HubRepo.cached(cache, fleet.url)


def test_a_rollback_run_puts_v1_back_in_place_stage_by_stage_and_a_new_run_rolls_forward(
    fleet: LocalFleet, tmp_path: Path
) -> None:
    roll(fleet, "v1")
    assert images(fleet) == dict.fromkeys(RINGS, V1)
    first = uids(fleet)
    theirs: dict[
        str, tuple[dict[str, Any], dict[str, Any]]
    ] = {}  # not the agent's: a ConfigMap, an annotation
    for c in RINGS:
        sim = fleet.members[c].sim
        assert sim is not None
        notes = sim.create(NOTES, manager="kubectl")
        annotated = sim.edit(
            "apps/v1",
            "Deployment",
            "shop",
            "cart",
            lambda d: d["metadata"].setdefault("annotations", {}).update({"oncall": "alice"}),
        )
        theirs[c] = (notes, annotated)
    assert fleet.repo is not None
    fleet.repo.commit(V2_FILES, "cart v2")
    roll(fleet, "v2")
    assert images(fleet) == dict.fromkeys(RINGS, V2)
    assert {c: cart(fleet, c)["metadata"]["labels"].get("release") for c in RINGS} == dict.fromkeys(
        RINGS, "two"
    )
    assert (has(fleet, "cart-flags"), has(fleet, "cart-legacy")) == (
        dict.fromkeys(RINGS, True),
        dict.fromkeys(RINGS, False),
    )
    restart_hub(fleet, tmp_path / "hub-restarted")

    fleet.repo.commit({"rollouts/back.yaml": run("back", "0")}, "roll cart back to snapshot 0")
    states = roll(fleet, "back")

    assert states == [  # a rollback is staged like any run: canary, then prod one cluster at a time
        {"canary-1": V1, "prod-1": V2, "prod-2": V2},
        {"canary-1": V1, "prod-1": V1, "prod-2": V2},
        {"canary-1": V1, "prod-1": V1, "prod-2": V1},
    ]
    assert uids(fleet) == first  # updated in place: never deleted and re-created
    assert (has(fleet, "cart-flags"), has(fleet, "cart-legacy")) == (
        dict.fromkeys(RINGS, False),
        dict.fromkeys(RINGS, True),
    )
    for c in RINGS:
        deployment = cart(fleet, c)
        assert "release" not in deployment["metadata"]["labels"], c  # what only v2 set is gone
        assert deployment["spec"]["replicas"] == 2, c
        assert deployment["status"]["updatedReplicas"] == deployment["status"]["availableReplicas"] == 2, c
        notes, annotated = theirs[c]
        assert live(fleet, c, "ConfigMap", "oncall-notes") == notes, c  # not even written to
        assert deployment["metadata"]["annotations"]["oncall"] == "alice", c
        assert deployment["metadata"]["generation"] > annotated["metadata"]["generation"], c

    assert run_doc(fleet, "back")["status"]["resourceSnapshotIndexUsed"] == "0"
    inputs = fleet.inputs()
    for c in RINGS:
        (entry,) = [p for p in inputs.bundles[c].bundle.placements if p.key == KEY]
        assert entry.resource_index == 0, c
        report = inputs.agents[c].report
        assert report is not None and report.applied_bundle_id == inputs.bundles[c].bundle_id, c
    assert fleet.hub is not None
    status = fleet.hub.read_file(fleet.hub.hub_refs()["refs/heads/fleet/status"], placement_path(KEY))
    assert load(status or b"")["status"]["observedResourceIndex"] == "0"

    fleet.repo.commit({"rollouts/forward.yaml": run("forward")}, "cart v2 again")  # no index: the newest
    roll(fleet, "forward")
    assert images(fleet) == dict.fromkeys(RINGS, V2)
    assert uids(fleet) == first
    assert (has(fleet, "cart-flags"), has(fleet, "cart-legacy")) == (
        dict.fromkeys(RINGS, True),
        dict.fromkeys(RINGS, False),
    )
