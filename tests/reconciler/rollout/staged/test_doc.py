"""The run's file on fleet/status: KubeFleet's field names, and a faithful read-back after a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleetsync_contract.canonical import dump, load
from reconciler.api.staged import StagedUpdateRun
from reconciler.rollout.staged.documents import (
    format_duration,
    parse_duration,
    parse_run_status,
    run_doc,
    run_path,
    run_status_doc,
    stage_config_doc,
    stage_config_from_doc,
)
from reconciler.rollout.staged.model import RunStatus
from tests.support.stagedfixtures import Fleet, example, strategy

STAGES = """
- name: first
  labelSelector: {matchLabels: {ring: "1"}, matchExpressions: [{key: zone, operator: In, values: [a, b]}]}
  sortingLabelKey: order
  maxConcurrency: 50%
  beforeStageTasks: [{type: Approval}]
  afterStageTasks: [{type: TimedWait, waitTime: 1h30m}, {type: Approval}]
- name: rest
"""


def mid_flight() -> Fleet:
    fleet = Fleet(
        strategy(STAGES),
        {"a": {"ring": "1", "zone": "a", "order": "2"}, "b": {"ring": "1", "zone": "b", "order": "1"}},
        obsolete=["old"],
    )
    fleet.step()
    fleet.approve("r1-before-first", "first")
    fleet.step(timedelta(minutes=1))
    fleet.available("b")
    fleet.step(timedelta(minutes=1))
    return fleet


def test_a_status_reads_back_exactly_through_its_canonical_file() -> None:
    status = mid_flight().status
    assert status.stages[0].before_tasks[0].conditions and status.stages[0].clusters[0].conditions
    text = dump(run_status_doc(status))
    assert parse_run_status(load(text)) == status


def test_the_status_uses_kubefleets_field_names() -> None:
    doc = run_status_doc(mid_flight().status)
    assert list(doc) == [
        "conditions",
        "policySnapshotIndexUsed",
        "policyObservedClusterCount",
        "resourceSnapshotIndexUsed",
        "appliedStrategy",
        "stagedUpdateStrategySnapshot",
        "stagesStatus",
        "deletionStageStatus",
    ]
    first = doc["stagesStatus"][0]
    assert (
        first["stageName"] == "first"
        and first["beforeStageTaskStatus"][0]["approvalRequestName"] == "r1-before-first"
    )
    assert first["clusters"][0]["clusterName"] == "b"  # order 1 before order 2
    assert {c["type"] for c in first["clusters"][0]["conditions"]} == {"Started", "Succeeded"}
    assert doc["stagedUpdateStrategySnapshot"]["stages"][0]["afterStageTasks"][0] == {
        "type": "TimedWait",
        "waitTime": "1h30m0s",
    }
    assert doc["deletionStageStatus"]["stageName"] == "kubernetes-fleet.io/deleteStage"


def test_an_initialization_failure_is_only_its_condition() -> None:
    doc = run_status_doc(RunStatus())
    assert doc == {"conditions": []}


@pytest.mark.parametrize(
    ("seconds", "text"), [(3600, "1h0m0s"), (5400, "1h30m0s"), (90, "1m30s"), (45, "45s")]
)
def test_durations_are_written_as_go_writes_them_and_read_back(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_a_strategy_snapshot_round_trips_including_nil_and_empty_selectors() -> None:
    for stage in strategy(STAGES + "- {name: all, labelSelector: {}}").stages:
        assert stage_config_from_doc(stage_config_doc(stage)) == stage


def test_the_example_strategy_round_trips() -> None:
    s = example("kubefleet.examples_stagedupdaterun_updateStrategy.d1.ClusterStagedUpdateStrategy.yaml")
    assert tuple(stage_config_from_doc(stage_config_doc(c)) for c in s.stages) == s.stages


def test_run_files_sit_under_runs_by_kind_and_namespace() -> None:
    assert run_path("ClusterStagedUpdateRun", "", "r1") == "runs/ClusterStagedUpdateRun/_cluster/r1.yaml"
    assert run_path("StagedUpdateRun", "team-a", "r1") == "runs/StagedUpdateRun/team-a/r1.yaml"


def test_a_run_document_reads_like_kubectl_get_csur() -> None:
    run = example("website.how-tos_staged-update.L144.ClusterStagedUpdateRun.yaml")
    assert isinstance(run, StagedUpdateRun)
    doc = run_doc(run, RunStatus())
    assert doc["kind"] == "ClusterStagedUpdateRun" and doc["metadata"] == {"name": "rollback-run"}
    assert doc["spec"] == {
        "placementName": "example-placement",
        "resourceSnapshotIndex": "0",
        "stagedRolloutStrategyName": "example-strategy",
        "state": "Run",
    }


def test_each_stage_status_shows_its_resolved_max_concurrency_beside_the_raw_snapshot() -> None:
    fleet = Fleet(
        strategy(
            "- {name: all, labelSelector: {}, maxConcurrency: 50%}\n- {name: none, labelSelector: {matchLabels: {x: y}}, maxConcurrency: 3}"
        ),
        {c: {} for c in ("a", "b", "c", "d", "e")},
    )
    fleet.step()
    doc = run_status_doc(fleet.status)
    assert doc["stagedUpdateStrategySnapshot"]["stages"][0]["maxConcurrency"] == "50%"  # the spec, as written
    stages = doc["stagesStatus"]
    assert [s["stageName"] for s in stages] == ["all", "none"]
    assert stages[0]["maxConcurrency"] == 2  # 50% of 5 clusters, rounded down
    assert stages[1]["maxConcurrency"] == 3
    assert parse_run_status(load(dump(doc))) == fleet.status  # an addition: read back unchanged
