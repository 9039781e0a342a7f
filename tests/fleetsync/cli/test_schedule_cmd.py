"""``fleetsync schedule``: a repo plus a directory of reports in, explained decisions out."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync.cli import schedule as schedule_cmd
from fleetsync_contract.canonical import load
from fleetsync_contract.report import (
    ClusterReport,
    Health,
    Heartbeat,
    PropertyValue,
    ResourceUsage,
    dump_heartbeat,
    dump_report,
    format_time,
)
from tests.support.schedfixtures import NOW

MEMBER = """apiVersion: cluster.kubernetes-fleet.io/v1beta1
kind: MemberCluster
metadata:
  name: {name}
  labels: {{env: prod}}
spec:
  identity: {{name: agent, kind: ServiceAccount, namespace: fleet-system, apiGroup: ""}}
"""
PLACEMENT = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: web
spec:
  resourceSelectors:
  - {group: "", version: v1, kind: Namespace, name: web}
  policy:
    placementType: PickN
    numberOfClusters: 2
    affinity:
      clusterAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 10
          preference:
            propertySorter: {name: resources.kubernetes-fleet.io/available-cpu, sortOrder: Descending}
---
apiVersion: v1
kind: Namespace
metadata:
  name: web
"""


def repo(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "fleet"
    root.mkdir()
    for name in ("small", "big", "silent", "stale"):
        (root / f"{name}.yaml").write_text(MEMBER.format(name=name))
    (root / "web.yaml").write_text(PLACEMENT)
    reports = tmp_path / "reports"
    (reports / "big").mkdir(parents=True)
    for name, cpu, age in (("small", "2", 10), ("big", "16", 10), ("stale", "64", 3600)):
        t = format_time(NOW - timedelta(seconds=age))
        report = ClusterReport(
            cluster=name,
            agent_version="0.1.0",
            observed_time=t,
            health=Health(True, "", t),
            properties={"kubernetes-fleet.io/node-count": PropertyValue("3", t)},
            resource_usage=ResourceUsage(available={"cpu": cpu}, observation_time=t),
        )
        target = reports / "big" / "report.yaml" if name == "big" else reports / f"{name}.yaml"
        target.write_bytes(dump_report(report))
    # a fresh heartbeat keeps "small" current even though its report is older
    (reports / "small-beat.yaml").write_bytes(
        dump_heartbeat(Heartbeat("small", format_time(NOW), "", Health()))
    )
    return root, reports


def test_schedule_explains_every_cluster(tmp_path: Path) -> None:
    root, reports = repo(tmp_path)
    out, err, code = schedule_cmd.run(root, reports, NOW, "json")
    assert code == 0 and err == ""
    [doc] = json.loads(out)
    assert doc["placement"] == "ClusterResourcePlacement/web"
    assert doc["selectedClusters"] == ["big", "small"]
    by = {d["clusterName"]: d for d in doc["clusterDecisions"]}
    # the stale cluster still sets the sorter's maximum (64): big scores round(14/62*10) = 2
    assert by["big"]["clusterScore"] == {"affinityScore": 2, "priorityScore": 0}
    assert by["silent"]["reason"].endswith("member agent not online yet")
    assert "no recent heartbeat signals" in by["stale"]["reason"]
    assert doc["conditions"][0]["status"] == "True"


def test_schedule_cli_table_and_assume_healthy(tmp_path: Path) -> None:
    root, _ = repo(tmp_path)
    result = CliRunner().invoke(app, ["schedule", str(root), "--assume-healthy"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("ClusterResourcePlacement/web: Scheduled=True")
    assert "CLUSTER" in result.output


def test_schedule_reports_a_repo_that_does_not_load(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ClusterResourcePlacement\n"
    )
    out, err, code = schedule_cmd.run(tmp_path, None, NOW, "table")
    assert code == 1 and out == "" and "error:" in err


def test_schedule_shows_the_cycle_and_order_of_each_pick(tmp_path: Path) -> None:
    root, reports = repo(tmp_path)
    for output in ("json", "yaml"):
        out, _, code = schedule_cmd.run(root, reports, NOW, output)
        assert code == 0
        [doc] = json.loads(out) if output == "json" else load(out.encode())
        by = {d["clusterName"]: d for d in doc["clusterDecisions"]}
        # big scores higher on the CPU sorter, so PickN chose it first
        assert (by["big"]["schedulingCycle"], by["big"]["pickOrder"]) == (1, 1)
        assert (by["small"]["schedulingCycle"], by["small"]["pickOrder"]) == (1, 2)
        assert "pickOrder" not in by["silent"]
    table = schedule_cmd.run(root, reports, NOW, "table")[0]
    header = table.splitlines()[1].split()
    assert header[:6] == ["CLUSTER", "SELECTED", "PICK", "CYCLE", "AFFINITY", "TOPOLOGY"]
    big = next(line.split() for line in table.splitlines() if line.split()[:1] == ["big"])
    assert big[1:5] == ["yes", "1", "1", "2"]
