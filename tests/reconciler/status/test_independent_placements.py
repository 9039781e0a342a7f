"""Each placement's status is its own: a change to one placement's objects on a cluster does not
send the other placements on that cluster back to ApplyPending (KubeFleet keeps them apart)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleetsync_contract.bundle import placement_digests
from fleetsync_contract.canonical import load
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.inputs import read_inputs
from reconciler.hub.loop import reconcile_once
from reconciler.hub.outcome import current_report
from tests.support.fleethelpers import CLUSTERS, NAMESPACE, FleetWork, base_files, crp, joined_fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
STATUS = "refs/heads/fleet/status"


def applied(work: FleetWork, name: str) -> dict[str, str]:
    """cluster -> the reason of its Applied condition for placement ``name``."""
    doc: dict[str, Any] = load(work.read(STATUS, f"placements/ClusterResourcePlacement/{name}.yaml").encode())
    out: dict[str, str] = {}
    for ps in doc["status"]["placementStatuses"]:
        conds = {c["type"]: c for c in ps["conditions"]}
        out[ps["clusterName"]] = conds["Applied"]["reason"] if "Applied" in conds else "-"
    return out


def files(version: str) -> dict[str, str]:
    out = base_files(version)
    out["apps/api/namespace.yaml"] = NAMESPACE.replace("web", "api")
    out["placements/api.yaml"] = crp("api").replace("name: web", "name: api")
    return out


def test_changing_one_placement_leaves_the_other_placements_applied_condition_alone(tmp_path: Path) -> None:
    fleet = joined_fleet(tmp_path / "fleet", NOW, files("1"))
    with HubRepo.local(fleet.path) as repo:
        reconcile_once(repo, NOW)
        for c in CLUSTERS:
            fleet.report(c, NOW)
        reconcile_once(repo, NOW + timedelta(seconds=10))
        everywhere = dict.fromkeys(CLUSTERS, "ApplySucceeded")
        assert applied(fleet, "web") == applied(fleet, "api") == everywhere
        before = {c: placement_digests(fleet.bundle(c).placements, fleet.bundle(c).files) for c in CLUSTERS}

        fleet.commit(files("2"), "web: version 2")  # only web's ConfigMap changes
        later = NOW + timedelta(seconds=20)
        written = reconcile_once(repo, later).written
        moved = [c for c in CLUSTERS if f"refs/heads/fleet/bundles/{c}" in written]  # web rolls out
        assert moved
        after = {c: placement_digests(fleet.bundle(c).placements, fleet.bundle(c).files) for c in CLUSTERS}
        for c in moved:
            assert after[c]["ClusterResourcePlacement/api"] == before[c]["ClusterResourcePlacement/api"]
            assert after[c]["ClusterResourcePlacement/web"] != before[c]["ClusterResourcePlacement/web"]
        assert applied(fleet, "api") == everywhere  # untouched by web's change: still applied
        web = applied(fleet, "web")
        assert {web[c] for c in moved} == {"ApplyPending"}  # the changed one waits for its agent
        inputs = read_inputs(repo)  # the rollout reads the same report entries as status
        for c in moved:
            assert current_report(inputs, c, "ClusterResourcePlacement/api", None) is not None
            assert current_report(inputs, c, "ClusterResourcePlacement/web", None) is None
