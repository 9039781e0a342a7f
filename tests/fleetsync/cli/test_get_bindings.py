"""``fleetsync get bindings [PLACEMENT]``: the placement's bindings as a KubeFleet user knows them
(ClusterResourceBinding / ResourceBinding), read from ``fleet/status`` only."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app, main
from fleetsync_contract.canonical import load
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import CLUSTERS, FleetWork, joined_fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> FleetWork:
    work = joined_fleet(tmp_path_factory.mktemp("bindings") / "fleet", NOW)
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, NOW)
    return work


def get(work: FleetWork, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["get", "bindings", *args, "--repo", str(work.path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_get_bindings_json_lists_one_kubefleet_shaped_binding_per_cluster(fleet: FleetWork) -> None:
    code, out, err = get(fleet, "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "List"
    items = doc["items"]
    assert sorted(b["spec"]["targetCluster"] for b in items) == sorted(CLUSTERS)
    for b in items:
        cluster = b["spec"]["targetCluster"]
        assert b["apiVersion"] == "placement.kubernetes-fleet.io/v1beta1"
        assert b["kind"] == "ClusterResourceBinding"
        assert re.fullmatch(rf"web-{cluster}-[0-9a-f]{{8}}", b["metadata"]["name"])
        assert "namespace" not in b["metadata"]
        assert b["metadata"]["labels"] == {"kubernetes-fleet.io/parent-CRP": "web"}
        spec = b["spec"]
        assert spec["state"] in ("Scheduled", "Bound")
        assert spec["schedulingPolicySnapshotName"] == "web-0"
        if spec["state"] == "Bound":
            assert spec["resourceSnapshotName"] == "web-0-snapshot"
        decision = spec["clusterDecision"]
        assert decision["clusterName"] == cluster and decision["selected"] is True
        assert decision["reason"].startswith(f'Successfully scheduled resources for placement in "{cluster}"')
        assert spec["resourceOverrideSnapshots"] == [{"name": "greeting", "namespace": "web"}]
        types = [c["type"] for c in b["status"]["conditions"]]
        assert types[0] == "RolloutStarted" and "Scheduled" not in types
    assert any(b["spec"]["state"] == "Bound" for b in items)


def test_binding_names_are_stable_between_reads(fleet: FleetWork) -> None:
    first = json.loads(get(fleet, "-o", "json")[1])
    second = json.loads(get(fleet, "-o", "json")[1])
    assert [b["metadata"]["name"] for b in first["items"]] == [b["metadata"]["name"] for b in second["items"]]
    assert len({b["metadata"]["name"] for b in first["items"]}) == len(CLUSTERS)


def test_get_bindings_yaml_of_one_placement(fleet: FleetWork) -> None:
    code, out, err = get(fleet, "web", "-o", "yaml")
    assert code == 0, err
    doc = load(out.encode())
    assert isinstance(doc, dict)
    assert {b["spec"]["targetCluster"] for b in doc["items"]} == set(CLUSTERS)
    assert {b["metadata"]["labels"]["kubernetes-fleet.io/parent-CRP"] for b in doc["items"]} == {"web"}


def test_get_bindings_table_shows_name_cluster_state_and_snapshot(fleet: FleetWork) -> None:
    code, out, err = get(fleet)
    assert code == 0, err
    assert err.startswith("status: commit ")
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "PLACEMENT",
        "CLUSTER",
        "STATE",
        "RESOURCE-SNAPSHOT",
        "WORK-SYNCHRONIZED",
        "APPLIED",
        "AVAILABLE",
    ]
    rows = [line.split() for line in lines[1:]]
    assert sorted(r[2] for r in rows) == sorted(CLUSTERS)
    assert all(r[1] == "web" and r[0].startswith(f"web-{r[2]}-") for r in rows)


def test_get_bindings_of_an_unknown_placement_exits_1(
    fleet: FleetWork, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(
        sys, "argv", ["fleetsync", "get", "bindings", "nothing-like-it", "--repo", str(fleet.path)]
    )
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 1
    assert "nothing-like-it" in capsys.readouterr().err
