"""The loop end to end: a commit to the fleet repo reaches the simulated members through Git.

The template runs as a fleet (fleetsync/demo/fleet.py: bare remote, hub, one kubesim + agent per
MemberCluster). After it has converged, a change is committed to the fleet repo — a platform
setting placed on every cluster and a web setting placed on three — and hub reconciles alternate
with agent syncs until the members hold the new values; what the clusters hold is read from the
simulators, what the hub and agents said from Git.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from fleetsync.demo.fleet import LocalFleet
from fleetsync.demo.story import TEMPLATE
from kubesim.server import KubeSim

pytestmark = pytest.mark.slow

MAX_ROUNDS = 8
PLATFORM_CM = ("platform", "cluster-defaults")
WEB_CM = ("team-web", "web-config")


def configmap(sim: KubeSim | None, where: tuple[str, str]) -> dict[str, Any] | None:
    assert sim is not None
    return sim.get_object("v1", "ConfigMap", *where)


def round_trip(fleet: LocalFleet) -> list[str]:
    """One hub reconcile and one sync of every agent; the bundle branches the hub moved."""
    moved = [w for w in fleet.reconcile().written if "/bundles/" in w]
    failed = {c: s for c, s in fleet.sync().items() if isinstance(s, BaseException) or s.errors}
    assert not failed, failed
    return moved


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    root = tmp_path_factory.mktemp("loop")
    with LocalFleet(root, TEMPLATE, clock=lambda: datetime.now(UTC), sleep=time.sleep) as f:
        f.create_repo()
        f.start_members()
        f.reconcile()
        f.sync()  # agents join: the hub schedules only clusters whose agent has reported
        for _ in range(MAX_ROUNDS):
            if not round_trip(f) and all(configmap(m.sim, PLATFORM_CM) for m in f.members.values()):
                break
        yield f


def web_clusters(fleet: LocalFleet) -> list[str]:
    return sorted(c for c, m in fleet.members.items() if configmap(m.sim, WEB_CM) is not None)


def test_the_converged_fleet_holds_the_templates_values_with_per_cluster_overrides(fleet: LocalFleet) -> None:
    for cluster, m in fleet.members.items():
        platform = configmap(m.sim, PLATFORM_CM)
        assert platform is not None and platform["data"]["log-level"] == "info", cluster
    web = web_clusters(fleet)
    assert len(web) == 3
    for cluster in web:
        data = configmap(fleet.members[cluster].sim, WEB_CM)["data"]  # type: ignore[index]
        assert data["CACHE_TTL_SECONDS"] == "60"
        region = fleet.declared[cluster].labels["region"]
        assert data["GREETING"] == f"hello from {cluster} in {region}"


def test_a_committed_change_reaches_every_cluster_that_places_it_after_hub_and_agent_rounds(
    fleet: LocalFleet,
) -> None:
    assert fleet.repo is not None
    web = web_clusters(fleet)
    platform_file = fleet.repo.work / "platform" / "platform-config.yaml"
    web_file = fleet.repo.work / "apps" / "web" / "base" / "configmap.yaml"
    fleet.repo.commit(
        {
            "platform/platform-config.yaml": platform_file.read_text().replace(
                "log-level: info", "log-level: debug"
            ),
            "apps/web/base/configmap.yaml": web_file.read_text().replace(
                'CACHE_TTL_SECONDS: "60"', 'CACHE_TTL_SECONDS: "120"'
            ),
        },
        "platform: debug logging; web: longer cache",
    )

    def arrived() -> bool:
        platform_done = all(
            configmap(m.sim, PLATFORM_CM)["data"]["log-level"] == "debug"  # type: ignore[index]
            for m in fleet.members.values()
        )
        web_done = all(
            configmap(fleet.members[c].sim, WEB_CM)["data"]["CACHE_TTL_SECONDS"] == "120"  # type: ignore[index]
            for c in web
        )
        return platform_done and web_done

    rounds = 0
    while not arrived():
        rounds += 1
        assert rounds <= MAX_ROUNDS, f"the change did not reach every cluster within {MAX_ROUNDS} rounds"
        moved = round_trip(fleet)
        # rolling updates in batches: platform maxUnavailable 25% of 8 clusters = 2, web maxUnavailable 1
        assert len(moved) <= 3, moved
    assert rounds >= 4  # 8 platform clusters, 2 at a time
    # the change travelled with the per-cluster override intact, and nowhere it is not placed
    for cluster in web:
        data = configmap(fleet.members[cluster].sim, WEB_CM)["data"]  # type: ignore[index]
        assert data["GREETING"].startswith(f"hello from {cluster} in ")
    assert web_clusters(fleet) == web
    # every agent reported the bundle it now runs, and the hub's next pass folds that in
    fleet.reconcile()
    inputs = fleet.inputs()
    for cluster, prev in inputs.bundles.items():
        report = inputs.agents[cluster].report
        assert report is not None and report.applied_bundle_id == prev.bundle.bundle_id, cluster
