"""``fleetsync get policysnapshots|csps|sps [PLACEMENT]``: each placement's latest scheduling policy
snapshot as ``kubectl get clusterschedulingpolicysnapshot -o yaml`` shows it, read from
``fleet/status`` only — the one place that says why an eligible cluster was not picked."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app, main
from fleetsync_contract.canonical import load
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import FleetWork, base_files, crp, joined_fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
RP = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ResourcePlacement
metadata: {name: settings, namespace: web}
spec:
  resourceSelectors: [{group: "", version: v1, kind: ConfigMap, name: settings}]
  policy: {placementType: PickN, numberOfClusters: 1}
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> FleetWork:
    files = base_files(
        placement=crp().replace("placementType: PickAll", "placementType: PickN\n    numberOfClusters: 3")
    )
    files["placements/settings.yaml"] = RP
    work = joined_fleet(tmp_path_factory.mktemp("policysnapshots") / "fleet", NOW, files)
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, NOW)
    return work


def get(work: FleetWork, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["get", *args, "--repo", str(work.path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_the_table_shows_each_placement_s_snapshot_and_how_many_clusters_were_and_were_not_picked(
    fleet: FleetWork,
) -> None:
    code, out, err = get(fleet, "policysnapshots")
    assert code == 0, err
    assert err.startswith("status: commit ")
    header, *rows = [line.split() for line in out.splitlines()]
    assert header == [
        "NAME",
        "PLACEMENT",
        "TYPE",
        "CLUSTERS",
        "SCHEDULED",
        "REASON",
        "SELECTED",
        "NOT-SELECTED",
    ]
    assert rows == [
        ["web-0", "web", "PickN", "3", "True", "SchedulingPolicyFulfilled", "3", "1"],
        ["web/settings-0", "web/settings", "PickN", "1", "True", "SchedulingPolicyFulfilled", "1", "3"],
    ]


def test_yaml_of_one_placement_gives_the_unpicked_cluster_and_kubefleet_s_reason(fleet: FleetWork) -> None:
    code, out, err = get(fleet, "policysnapshots", "web", "-o", "yaml")
    assert code == 0, err
    doc = load(out.encode())
    assert isinstance(doc, dict)
    (snapshot,) = doc["items"]
    assert snapshot["kind"] == "ClusterSchedulingPolicySnapshot" and snapshot["metadata"]["name"] == "web-0"
    unpicked = [d for d in snapshot["status"]["targetClusters"] if not d["selected"]]
    assert unpicked == [
        {
            "clusterName": "eu-1",
            "selected": False,
            "clusterScore": {"affinityScore": 0, "priorityScore": 0},
            "reason": 'Cluster "eu-1" does not score high enough (affinity score: 0, topology spread score: 0)',
        }
    ]


def test_kubefleet_s_short_names_pick_one_kind(fleet: FleetWork) -> None:
    code, out, _ = get(fleet, "csps", "-o", "json")
    assert code == 0
    assert [d["metadata"]["name"] for d in json.loads(out)["items"]] == ["web-0"]
    code, out, _ = get(fleet, "sps", "web/settings", "-o", "json")
    assert code == 0
    (rp,) = json.loads(out)["items"]
    assert rp["kind"] == "SchedulingPolicySnapshot"
    assert rp["metadata"]["namespace"] == "web" and rp["metadata"]["name"] == "settings-0"
    assert rp["metadata"]["labels"]["kubernetes-fleet.io/parent-CRP"] == "settings"


def test_a_placement_without_a_snapshot_exits_1(
    fleet: FleetWork, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    argv = ["fleetsync", "get", "policysnapshots", "nothing-like-it", "--repo", str(fleet.path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 1
    assert "nothing-like-it" in capsys.readouterr().err
