"""Staged update strategies, runs and approval requests: versions, defaults and validation.

Invalid cases mark the line the finding must point at with ``#!``.
"""

from __future__ import annotations

import textwrap
from datetime import timedelta
from typing import Any

import pytest

from reconciler.api.meta import LabelSelector
from reconciler.api.staged import (
    ApprovalRequest,
    RunState,
    StagedUpdateRun,
    StagedUpdateStrategy,
    StageTask,
    StageTaskType,
)
from reconciler.errors import Finding
from tests.support.apifixtures import finding_at, marked_line, parse_one


def load(text: str) -> tuple[Any, list[Finding]]:
    return parse_one(text, "fleet/staged.yaml")


def obj(kind: str, spec: str, *, version: str = "v1beta1", name: str = "rollout", extra: str = "") -> str:
    ns = "  namespace: team-a\n" if not kind.startswith("Cluster") else ""
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return (
        f"apiVersion: placement.kubernetes-fleet.io/{version}\nkind: {kind}\nmetadata:\n  name: {name}\n{ns}"
        f"spec:\n{body}\n{extra}"
    )


def strategy(stages: str, **kw: Any) -> str:
    return obj(
        "ClusterStagedUpdateStrategy",
        "stages:\n" + textwrap.indent(textwrap.dedent(stages).strip("\n"), "  "),
        **kw,
    )


def valid(text: str) -> Any:
    o, findings = load(text)
    assert [str(f) for f in findings] == []
    return o


def test_a_strategy_keeps_stage_order_defaults_and_parsed_wait_times() -> None:
    s = valid(
        strategy("""
        - name: staging
          labelSelector: {matchLabels: {env: staging}}
          afterStageTasks:
            - {type: TimedWait, waitTime: 1h30m}
        - name: canary
          labelSelector: {}
          sortingLabelKey: order
          maxConcurrency: 50%
          beforeStageTasks: [{type: Approval}]
          afterStageTasks: [{type: Approval}, {type: TimedWait, waitTime: 90s}]
        - name: prod
    """)
    )
    assert isinstance(s, StagedUpdateStrategy)
    staging, canary, prod = s.stages
    assert staging.max_concurrency == 1 and staging.after_stage_tasks == (
        StageTask(StageTaskType.TIMED_WAIT, timedelta(hours=1, minutes=30)),
    )
    assert canary.label_selector == LabelSelector() and canary.max_concurrency == "50%"
    assert canary.before_stage_tasks == (StageTask(StageTaskType.APPROVAL),)
    assert canary.sorting_label_key == "order"
    assert prod.label_selector is None  # nil selector: the stage gets no clusters


def test_a_v1alpha1_stage_without_selector_takes_every_cluster() -> None:
    s = valid(strategy("- name: all", version="v1alpha1"))
    assert s.stages[0].label_selector == LabelSelector()


def test_the_namespaced_strategy_and_v1_share_the_model() -> None:
    s = valid(obj("StagedUpdateStrategy", "stages:\n  - name: one\n", version="v1"))
    assert (s.kind, s.namespace, s.stages[0].name) == ("StagedUpdateStrategy", "team-a", "one")


def test_a_run_defaults_to_initialize_and_names_its_placement() -> None:
    r = valid(obj("ClusterStagedUpdateRun", "placementName: web\nstagedRolloutStrategyName: rollout\n"))
    assert isinstance(r, StagedUpdateRun)
    assert (r.state, r.resource_snapshot_index, r.placement_key) == (
        RunState.INITIALIZE,
        "",
        "ClusterResourcePlacement/web",
    )
    nr = valid(obj("StagedUpdateRun", "placementName: web\nstagedRolloutStrategyName: s\nstate: Run\n"))
    assert (nr.state, nr.placement_key) == (RunState.RUN, "ResourcePlacement/team-a/web")


def test_a_v1alpha1_run_starts_on_creation() -> None:
    r = valid(
        obj(
            "ClusterStagedUpdateRun",
            "placementName: web\nresourceSnapshotIndex: '2'\nstagedRolloutStrategyName: s\n",
            version="v1alpha1",
        )
    )
    assert (r.state, r.resource_snapshot_index) == (RunState.RUN, "2")


def test_server_status_of_a_run_is_ignored() -> None:
    valid(
        obj(
            "ClusterStagedUpdateRun",
            "placementName: web\nstagedRolloutStrategyName: s\n",
            extra="status:\n  policySnapshotIndexUsed: '0'\n",
        )
    )


def test_an_approval_request_keeps_its_conditions_so_a_commit_can_approve() -> None:
    text = obj(
        "ClusterApprovalRequest",
        "parentStageRollout: run-1\ntargetStage: canary\n",
        extra="status:\n  conditions:\n    - {type: Approved, status: 'True', reason: lgtm}\n",
    )
    a = valid(text)
    assert isinstance(a, ApprovalRequest)
    assert (a.update_run, a.target_stage, a.approved) == ("run-1", "canary", True)
    assert a.conditions[0].reason == "lgtm"
    pending = valid(obj("ApprovalRequest", "parentStageRollout: run-1\ntargetStage: canary\n"))
    assert not pending.approved


def _stage(lines: str) -> str:
    return strategy("- name: one\n" + textwrap.indent(textwrap.dedent(lines).strip("\n"), "  "))


S0 = "spec.stages[0]"
INVALID: list[tuple[str, str, str, str]] = [
    ("stage-name-pattern", strategy("- name: Canary  #!"), S0 + ".name", "^[a-z0-9]+$"),
    ("stage-name-length", strategy("- name: " + "a" * 64 + "  #!"), S0 + ".name", "no more than 63"),
    ("stage-name-unique", strategy("- name: one\n- name: one  #!"), "spec.stages[1].name", "must be unique"),
    (
        "stages-max",
        strategy("".join(f"- name: s{i}\n" for i in range(32))).replace("stages:", "stages:  #!"),
        "spec.stages",
        "at most 31 items",
    ),
    (
        "stages-required",
        obj("ClusterStagedUpdateStrategy", "{}").replace("spec:", "spec:  #!"),
        "spec",
        "required field 'stages'",
    ),
    (
        "concurrency-zero",
        _stage("maxConcurrency: 0  #!"),
        S0 + ".maxConcurrency",
        "maxConcurrency must be at least 1",
    ),
    ("concurrency-zero-percent", _stage("maxConcurrency: 0%  #!"), S0 + ".maxConcurrency", "1% to 100%"),
    ("concurrency-over-100", _stage("maxConcurrency: 150%  #!"), S0 + ".maxConcurrency", "1% to 100%"),
    (
        "after-max-2",
        _stage(
            "afterStageTasks:  #!\n- {type: Approval}\n- {type: TimedWait, waitTime: 1h}\n"
            "- {type: TimedWait, waitTime: 2h}"
        ),
        S0 + ".afterStageTasks",
        "at most 2 items",
    ),
    (
        "after-one-per-type",
        _stage("afterStageTasks:\n- {type: Approval}\n- type: Approval  #!"),
        S0 + ".afterStageTasks[1].type",
        "at most one task of each type",
    ),
    (
        "timed-wait-needs-time",
        _stage("afterStageTasks:\n- type: TimedWait  #!"),
        S0 + ".afterStageTasks[0]",
        "AfterStageTaskType is TimedWait, waitTime is required",
    ),
    (
        "timed-wait-positive",
        _stage("afterStageTasks:\n- type: TimedWait\n  waitTime: 0s  #!"),
        S0 + ".afterStageTasks[0].waitTime",
        "greater than zero",
    ),
    (
        "wait-time-units",
        _stage("afterStageTasks:\n- type: TimedWait\n  waitTime: 1d  #!"),
        S0 + ".afterStageTasks[0].waitTime",
        "1h, 30m, 90s",
    ),
    (
        "approval-no-wait",
        _stage("afterStageTasks:\n- type: Approval\n  waitTime: 1h  #!"),
        S0 + ".afterStageTasks[0].waitTime",
        "AfterStageTaskType is Approval, waitTime is not allowed",
    ),
    (
        "task-type",
        _stage("afterStageTasks:\n- type: Manual  #!"),
        S0 + ".afterStageTasks[0].type",
        "'TimedWait', 'Approval'",
    ),
    (
        "before-approval-only",
        _stage("beforeStageTasks:\n- type: TimedWait  #!\n  waitTime: 1h"),
        S0 + ".beforeStageTasks[0].type",
        "BeforeStageTaskType cannot be TimedWait",
    ),
    (
        "before-max-1",
        _stage("beforeStageTasks:  #!\n- {type: Approval}\n- {type: Approval}"),
        S0 + ".beforeStageTasks",
        "at most 1 item",
    ),
    (
        "alpha-has-no-before-tasks",
        strategy("- name: one\n  beforeStageTasks: []  #!", version="v1alpha1"),
        S0 + ".beforeStageTasks",
        "unknown field",
    ),
    (
        "run-state",
        obj("ClusterStagedUpdateRun", "placementName: w\nstagedRolloutStrategyName: s\nstate: Pause  #!"),
        "spec.state",
        "'Initialize', 'Run', 'Stop'",
    ),
    (
        "run-name-length",
        obj(
            "ClusterStagedUpdateRun", "placementName: w\nstagedRolloutStrategyName: s", name="r" * 64 + "  #!"
        ),
        "metadata.name",
        "no more than 63",
    ),
    (
        "run-needs-placement",
        obj("ClusterStagedUpdateRun", "stagedRolloutStrategyName: s").replace("spec:", "spec:  #!"),
        "spec",
        "required field 'placementName'",
    ),
    (
        "run-placement-length",
        obj("ClusterStagedUpdateRun", "placementName: " + "p" * 256 + "  #!\nstagedRolloutStrategyName: s"),
        "spec.placementName",
        "no more than 255",
    ),
    (
        "alpha-run-needs-index",
        obj(
            "ClusterStagedUpdateRun", "placementName: w\nstagedRolloutStrategyName: s", version="v1alpha1"
        ).replace("spec:", "spec:  #!"),
        "spec",
        "required field 'resourceSnapshotIndex'",
    ),
    (
        "namespaced-run-needs-namespace",
        obj("StagedUpdateRun", "placementName: w\nstagedRolloutStrategyName: s")
        .replace("  namespace: team-a\n", "")
        .replace("metadata:", "metadata:  #!"),
        "metadata",
        "set metadata.namespace",
    ),
    (
        "approval-needs-stage",
        obj("ClusterApprovalRequest", "parentStageRollout: r").replace("spec:", "spec:  #!"),
        "spec",
        "required field 'targetStage'",
    ),
    (
        "approval-condition-status",
        obj(
            "ClusterApprovalRequest",
            "parentStageRollout: r\ntargetStage: s",
            extra="status:\n  conditions:\n  - type: Approved\n    status: 'Yes'  #!\n",
        ),
        "status.conditions[0].status",
        "'True', 'False', 'Unknown'",
    ),
    (
        "approval-condition-unique",
        obj(
            "ClusterApprovalRequest",
            "parentStageRollout: r\ntargetStage: s",
            extra="status:\n  conditions:\n  - {type: Approved, status: 'True'}\n"
            "  - type: Approved  #!\n    status: 'False'\n",
        ),
        "status.conditions[1].type",
        "appears twice",
    ),
]


@pytest.mark.parametrize(("text", "field", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_each_invalid_staged_object_is_reported_at_its_field_and_line(
    text: str, field: str, fragment: str
) -> None:
    _, findings = load(text)
    found = finding_at(findings, field, fragment)
    assert (found.line, found.severity) == (marked_line(text), "error")


def test_namespaced_staged_kinds_are_not_served_as_v1alpha1() -> None:
    _, findings = load(
        obj(
            "StagedUpdateRun",
            "placementName: w\nstagedRolloutStrategyName: s\nresourceSnapshotIndex: '1'",
            version="v1alpha1",
        )
    )
    [error] = findings
    assert error.field == "apiVersion" and "v1beta1" in error.message
