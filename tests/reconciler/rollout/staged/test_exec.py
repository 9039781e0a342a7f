"""Executing a staged update run: every state transition, with KubeFleet's reasons and messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from reconciler.api.staged import ApprovalRequest
from reconciler.rollout.staged.execute import approvals_for
from reconciler.rollout.staged.model import DELETE_STAGE, max_concurrency
from tests.support.stagedfixtures import T0, Fleet, approval, parse, run, strategy

MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)
ONE_STAGE = """
- name: all
  labelSelector: {}
  maxConcurrency: 2
"""


def clusters(n: int, **labels: str) -> dict[str, dict[str, str]]:
    return {f"c{i}": dict(labels) for i in range(1, n + 1)}


@pytest.mark.parametrize(
    ("value", "clusters_in_stage", "expected"),
    [(1, 10, 1), (3, 2, 3), ("50%", 5, 2), ("30%", 1, 1), ("25%", 3, 1), ("100%", 7, 7), ("10%", 25, 2)],
)
def test_max_concurrency_is_an_integer_or_a_percentage_rounded_down_at_least_one(
    value: int | str, clusters_in_stage: int, expected: int
) -> None:
    assert max_concurrency(value, clusters_in_stage) == expected


def test_clusters_update_max_concurrency_at_a_time_in_stage_order() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(5))
    step = fleet.step()
    assert step.bind == ("c1", "c2")
    assert fleet.run_condition("Progressing") == (
        "True",
        "UpdateRunProgressing",
        "The update run is making progress",
    )
    assert fleet.stage_reason("all") == "StageUpdatingStarted"
    assert fleet.step(MIN).bind == ()  # nobody available yet: no new cluster starts
    fleet.available("c2")
    assert fleet.step(MIN).bind == ("c3",)
    fleet.available("c1", "c3")
    assert fleet.step().bind == ("c4", "c5")


def test_a_run_succeeds_when_every_cluster_is_available_on_the_runs_snapshot() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(2))
    fleet.step()
    fleet.available("c1", "c2")
    step = fleet.step(MIN)
    assert step.bind == () and step.wake_at is None
    assert fleet.run_condition("Succeeded") == (
        "True",
        "UpdateRunSucceeded",
        "All stages are completed successfully",
    )
    assert fleet.run_condition("Progressing") == ("False", "UpdateRunSucceeded", "All stages are completed")
    assert fleet.stage_reason("all") == "StageUpdatingSucceeded"
    assert fleet.status.stages[0].end_time == T0 + MIN
    assert fleet.stage_reason(DELETE_STAGE) == "StageUpdatingSucceeded"
    assert fleet.progress["c1"].resource_index == 1


def test_diff_reported_counts_as_success_under_report_diff() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(1))
    fleet.step()
    fleet.progress["c1"] = replace(fleet.progress["c1"], diff_reported=True)
    fleet.step()
    assert fleet.run_condition("Succeeded")[1] == "UpdateRunSucceeded"


def test_a_cluster_whose_agent_reports_failure_fails_the_stage_and_the_run() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(2))
    fleet.step()
    fleet.fail("c2", "apps/Deployment/web/frontend: FailedToApply")
    fleet.step(MIN)
    msg = "cannot continue the updateRun: the cluster `c2` in the stage all has failed"
    assert fleet.run_condition("Succeeded") == ("False", "UpdateRunFailed", msg)
    assert fleet.run_condition("Progressing") == (
        "False",
        "UpdateRunFailed",
        "The stages are aborted due to a non-recoverable error",
    )
    assert fleet.stage_reason("all") == "StageUpdatingFailed"
    c2 = fleet.status.stages[0].clusters[1]
    assert [(c.type, str(c.status), c.reason) for c in c2.conditions][-1] == (
        "Succeeded",
        "False",
        "ClusterUpdatingFailed",
    )
    assert c2.conditions[-1].message.endswith(
        "updateRun := `r1`: apps/Deployment/web/frontend: FailedToApply"
    )
    assert fleet.step(MIN).status == fleet.steps[-2].status  # finished: nothing moves any more


def test_a_cluster_that_never_becomes_available_marks_the_run_stuck_after_five_minutes() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(1))
    assert fleet.step().wake_at == T0 + timedelta(minutes=5, seconds=1)
    assert fleet.step(timedelta(minutes=5)).status.conditions[-1].reason == "UpdateRunProgressing"
    fleet.step(SEC)
    assert fleet.run_condition("Progressing") == (
        "False",
        "UpdateRunStuck",
        "The updateRun is stuck waiting for c1 cluster(s) in stage all to finish updating, "
        "please check placement status for potential errors",
    )
    fleet.available("c1")
    fleet.step(MIN)
    assert fleet.run_condition("Succeeded")[1] == "UpdateRunSucceeded"


def test_the_stuck_message_names_at_most_three_clusters() -> None:
    fleet = Fleet(strategy("- {name: all, labelSelector: {}, maxConcurrency: 4}"), clusters(4))
    fleet.step()
    fleet.step(timedelta(minutes=6))
    assert fleet.run_condition("Progressing")[2].startswith(
        "The updateRun is stuck waiting for c1, c2, c3... cluster"
    )


def test_a_before_stage_approval_holds_the_stage_until_the_repo_approves_it() -> None:
    fleet = Fleet(
        strategy("""
        - name: canary
          labelSelector: {}
          beforeStageTasks: [{type: Approval}]
    """),
        clusters(1),
    )
    step = fleet.step()
    assert step.bind == ()
    assert fleet.run_condition("Progressing") == (
        "False",
        "UpdateRunWaiting",
        "The updateRun is waiting for before-stage tasks in stage canary to complete",
    )
    assert fleet.stage_reason("canary") == "StageUpdatingWaiting"
    (request,) = step.approval_requests
    assert request["metadata"] == {
        "name": "r1-before-canary",
        "labels": {
            "kubernetes-fleet.io/isLatestUpdateRunApproval": "true",
            "kubernetes-fleet.io/targetUpdatingStage": "canary",
            "kubernetes-fleet.io/targetupdaterun": "r1",
            "kubernetes-fleet.io/taskType": "beforeStage",
        },
    }
    assert (
        request["spec"] == {"parentStageRollout": "r1", "targetStage": "canary"} and "status" not in request
    )
    fleet.approvals.append(approval("r1-before-canary", "r1", "canary", approved=False))
    assert fleet.step(MIN).bind == ()
    fleet.approvals = [approval("r1-before-canary", "r1", "canary")]
    step = fleet.step(MIN)
    assert step.bind == ("c1",)
    assert [c["type"] for c in step.approval_requests[0]["status"]["conditions"]] == [
        "Approved",
        "ApprovalAccepted",
    ]
    task = fleet.status.stages[0].before_tasks[0]
    assert [(c.type, c.reason) for c in task.conditions] == [
        ("ApprovalRequestCreated", "StageTaskApprovalRequestCreated"),
        ("ApprovalRequestApproved", "StageTaskApprovalRequestApproved"),
    ]


def test_an_approval_aimed_at_another_stage_aborts_the_run() -> None:
    fleet = Fleet(
        strategy("- {name: canary, labelSelector: {}, beforeStageTasks: [{type: Approval}]}"), clusters(1)
    )
    fleet.approvals.append(approval("r1-before-canary", "r1", "prod"))
    fleet.step()
    assert fleet.run_condition("Succeeded") == (
        "False",
        "UpdateRunFailed",
        "cannot continue the updateRun: the approval request task `/r1-before-canary` is targeting update run `/r1` "
        "and stage `prod`, want target update run `/r1 and stage `canary`",
    )


TIMED = """
- name: first
  labelSelector: {matchLabels: {ring: "1"}}
  afterStageTasks: [{type: TimedWait, waitTime: 1h}]
- name: second
  labelSelector: {matchLabels: {ring: "2"}}
"""


@pytest.mark.parametrize("restart", [False, True])
def test_a_timed_wait_counts_from_the_end_of_the_stage_across_hub_restarts(restart: bool) -> None:
    fleet = Fleet(strategy(TIMED), {"a": {"ring": "1"}, "b": {"ring": "2"}})
    fleet.step()
    fleet.available("a")
    step = fleet.step(timedelta(minutes=3), restart=restart)  # stage "first" ends at T0+3m
    end = T0 + timedelta(minutes=3)
    assert step.wake_at == end + timedelta(hours=1)
    assert fleet.run_condition("Progressing") == (
        "False",
        "UpdateRunWaiting",
        "The updateRun is waiting for after-stage tasks in stage first to complete",
    )
    assert fleet.stage_reason("first") == "StageUpdatingWaiting"
    step = fleet.step(timedelta(minutes=59, seconds=59), restart=restart)
    assert step.bind == () and step.wake_at == end + timedelta(hours=1)
    step = fleet.step(SEC, restart=restart)
    assert step.bind == ("b",)
    assert fleet.stage_reason("first") == "StageUpdatingSucceeded"
    assert [c.reason for c in fleet.status.stages[0].after_tasks[0].conditions] == [
        "AfterStageTaskWaitTimeElapsed"
    ]


def test_after_stage_approval_and_timed_wait_run_in_parallel() -> None:
    fleet = Fleet(
        strategy("""
        - name: first
          labelSelector: {matchLabels: {ring: "1"}}
          afterStageTasks: [{type: Approval}, {type: TimedWait, waitTime: 10m}]
        - name: second
          labelSelector: {matchLabels: {ring: "2"}}
    """),
        {"a": {"ring": "1"}, "b": {"ring": "2"}},
    )
    fleet.step()
    fleet.available("a")
    fleet.step()
    fleet.approve("r1-after-first", "first")  # approved early: the wait still holds
    assert fleet.step(timedelta(minutes=5)).bind == ()
    assert fleet.step(timedelta(minutes=5)).bind == ("b",)


def test_an_approval_merged_after_the_wait_releases_the_stage() -> None:
    fleet = Fleet(
        strategy("""
        - name: first
          labelSelector: {matchLabels: {ring: "1"}}
          afterStageTasks: [{type: TimedWait, waitTime: 10m}, {type: Approval}]
        - name: second
          labelSelector: {matchLabels: {ring: "2"}}
    """),
        {"a": {"ring": "1"}, "b": {"ring": "2"}},
    )
    fleet.step()
    fleet.available("a")
    fleet.step()
    assert fleet.step(timedelta(hours=2)).bind == ()
    (request,) = fleet.steps[-1].approval_requests
    assert request["metadata"]["name"] == "r1-after-first"
    fleet.approve("r1-after-first", "first")
    assert fleet.step(MIN).bind == ("b",)


def test_an_empty_stage_is_skipped() -> None:
    fleet = Fleet(
        strategy("""
        - name: nobody
          labelSelector: {matchLabels: {ring: "0"}}
        - name: all
          labelSelector: {}
    """),
        clusters(1),
    )
    assert fleet.step().bind == ("c1",)
    assert fleet.stage_reason("nobody") == "StageUpdatingSkippedNoClusters"


def test_stop_lets_in_flight_clusters_finish_and_run_resumes() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(4))
    assert fleet.step().bind == ("c1", "c2")
    fleet.state("Stop")
    fleet.available("c1")
    assert fleet.step(MIN).bind == ()
    assert fleet.run_condition("Progressing")[:2] == ("Unknown", "UpdateRunStopping")
    assert fleet.stage_reason("all") == "StageUpdatingStopping"
    fleet.available("c2")
    assert fleet.step(MIN).bind == ()
    assert fleet.run_condition("Progressing") == (
        "False",
        "UpdateRunStopped",
        "The update run has been stopped",
    )
    assert fleet.stage_reason("all") == "StageUpdatingStopped"
    stopped = fleet.status
    assert fleet.step(timedelta(hours=1)).status == stopped  # stopped stays stopped, byte for byte
    fleet.state("Run")
    assert fleet.step(MIN).bind == ("c3", "c4")
    assert fleet.run_condition("Progressing")[1] == "UpdateRunProgressing"


def test_initialize_state_initializes_but_moves_nothing() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(2))
    fleet.state("Initialize")
    step = fleet.step()
    assert step.bind == () and [c.type for c in step.status.conditions] == ["Initialized"]
    fleet.state("Run")
    assert fleet.step().bind == ("c1", "c2")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"policy_index": 1},
            "the policy snapshot index used in the updateRun is outdated, latest: 1, recorded: 0",
        ),
        (
            {"cluster_count": 3},
            "the cluster count initialized in the updateRun is outdated, latest: 3, recorded: 2",
        ),
        (
            {"scheduled": ("c1", "c2", "c3")},
            "the cluster count initialized in the updateRun is outdated, latest: 3, recorded: 2",
        ),
        (
            {"scheduled": ("c1", "c9")},
            "the clusters scheduled for the placement have changed, new: c1, c9, existing: c1, c2",
        ),
        (
            {"strategy_type": "RollingUpdate"},
            "failed to initialize the updateRun: parent placement does not have an "
            "external rollout strategy, current strategy: RollingUpdate",
        ),
    ],
)
def test_a_run_is_abandoned_when_its_placement_changes_under_it(
    change: dict[str, object], message: str
) -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(2))
    fleet.step()
    fleet.facts = replace(fleet.facts, **change)  # type: ignore[arg-type]
    step = fleet.step(MIN)
    assert step.bind == ()
    assert fleet.run_condition("Succeeded") == (
        "False",
        "UpdateRunFailed",
        "cannot continue the updateRun: " + message,
    )


def test_a_deleted_placement_abandons_the_run() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(1))
    fleet.facts = None  # type: ignore[assignment]
    fleet.step()
    assert fleet.run_condition("Succeeded")[2] == (
        "cannot continue the updateRun: failed to initialize the updateRun: parent placement not found"
    )


def test_the_deletion_stage_runs_last_and_succeeds_when_the_old_bindings_are_gone() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(1), obsolete=["old-b", "old-a"])
    step = fleet.step()
    assert (step.bind, step.remove) == (("c1",), ())
    fleet.available("c1")
    step = fleet.step(MIN)
    assert step.remove == ("old-a", "old-b") and step.wake_at == fleet.now  # look again once they are gone
    assert fleet.stage_reason("all") == "StageUpdatingSucceeded"
    assert fleet.stage_reason(DELETE_STAGE) == "StageUpdatingStarted"
    assert fleet.step().remove == ()
    assert fleet.stage_reason(DELETE_STAGE) == "StageUpdatingSucceeded"
    assert fleet.run_condition("Succeeded")[1] == "UpdateRunSucceeded"


def test_the_deletion_stage_waits_for_a_removal_the_hub_did_not_apply() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(1), obsolete=["old"])
    fleet.step()
    fleet.available("c1")
    kept = fleet.progress["old"]
    assert fleet.step(MIN).remove == ("old",)
    fleet.progress["old"] = kept  # the loop did not apply the removal
    assert fleet.step(MIN).remove == ("old",)
    assert fleet.stage_reason(DELETE_STAGE) == "StageUpdatingStarted"
    fleet.step(MIN)  # this time the removal went through
    assert fleet.run_condition("Succeeded")[1] == "UpdateRunSucceeded"


def test_a_reconcile_with_unchanged_inputs_changes_nothing() -> None:
    fleet = Fleet(strategy(TIMED), {"a": {"ring": "1"}, "b": {"ring": "2"}})
    fleet.step()
    fleet.available("a")
    first = fleet.step(MIN)
    again = fleet.step(MIN)
    assert again.status == first.status and again.bind == () and again.wake_at == first.wake_at


def test_three_stages_with_approvals_move_every_cluster_to_the_new_snapshot() -> None:
    labels = {
        f"{ring}-{i}": {"ring": ring, "order": str(3 - i)}
        for ring in ("dev", "canary", "prod")
        for i in (1, 2)
    }
    fleet = Fleet(
        strategy("""
        - name: dev
          labelSelector: {matchLabels: {ring: dev}}
          maxConcurrency: 100%
          afterStageTasks: [{type: TimedWait, waitTime: 5m}]
        - name: canary
          labelSelector: {matchLabels: {ring: canary}}
          sortingLabelKey: order
          afterStageTasks: [{type: Approval}]
        - name: prod
          labelSelector: {matchLabels: {ring: prod}}
          beforeStageTasks: [{type: Approval}]
          maxConcurrency: 50%
    """),
        labels,
    )
    moved: list[str] = []
    approvals = {"r1-after-canary": "canary", "r1-before-prod": "prod"}
    for _ in range(30):
        step = fleet.step(MIN)
        moved += step.bind
        fleet.available(*step.bind)
        for request in step.approval_requests:
            name = request["metadata"]["name"]
            if name in approvals and "status" not in request:
                fleet.approve(name, approvals.pop(name))
        if fleet.status.finished:
            break
    assert moved == ["dev-1", "dev-2", "canary-2", "canary-1", "prod-1", "prod-2"]
    assert all(p.resource_index == 1 for p in fleet.progress.values())
    assert fleet.run_condition("Succeeded")[1] == "UpdateRunSucceeded"


def test_stop_while_waiting_for_an_approval_stops_at_once_and_run_waits_again() -> None:
    fleet = Fleet(
        strategy("- {name: canary, labelSelector: {}, beforeStageTasks: [{type: Approval}]}"), clusters(1)
    )
    fleet.step()
    fleet.state("Stop")
    fleet.step(MIN)
    assert fleet.run_condition("Progressing")[1] == "UpdateRunStopped"
    assert fleet.stage_reason("canary") == "StageUpdatingStopped"
    fleet.state("Run")
    fleet.step(MIN)
    assert fleet.run_condition("Progressing")[1] == "UpdateRunWaiting"


def test_approvals_of_other_kinds_or_namespaces_do_not_count() -> None:
    namespaced = parse(
        "apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ApprovalRequest\nmetadata:\n"
        "  name: r1-before-canary\n  namespace: team-a\nspec:\n  parentStageRollout: r1\n"
        "  targetStage: canary\n"
    )
    assert isinstance(namespaced, ApprovalRequest)
    cluster_scoped = approval("r1-before-canary", "r1", "canary")
    assert approvals_for(run(), [namespaced, cluster_scoped]) == {"r1-before-canary": cluster_scoped}


def test_a_stop_in_the_deletion_stage_waits_for_pending_removals() -> None:
    fleet = Fleet(strategy(ONE_STAGE), clusters(1), obsolete=["old"])
    fleet.step()
    fleet.available("c1")
    kept = fleet.progress["old"]
    assert fleet.step(MIN).remove == ("old",)
    fleet.progress["old"] = kept  # not applied yet
    fleet.state("Stop")
    step = fleet.step(MIN)
    assert step.remove == ()  # stopping starts nothing new
    assert fleet.stage_reason(DELETE_STAGE) == "StageUpdatingStopping"
    del fleet.progress["old"]
    fleet.step(MIN)
    assert fleet.run_condition("Progressing")[1] == "UpdateRunStopped"
    fleet.state("Run")
    fleet.step(MIN)
    assert fleet.run_condition("Succeeded")[1] == "UpdateRunSucceeded"
