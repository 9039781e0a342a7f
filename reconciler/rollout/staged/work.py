"""The working state of one staged-run step, and the checks every step starts with.

``Work`` holds the status being stepped and the actions collected for the hub loop; its small
methods set KubeFleet's conditions with KubeFleet's reasons and messages, judge a cluster's
binding (``checkClusterUpdateResult``), track the stuck threshold and handle an approval task.
``abandon_reason`` is KubeFleet's ``validate``: a run whose placement changed under it (deleted,
no longer External, new policy snapshot, other cluster count or clusters, other apply
strategy) cannot continue. reconciler/rollout/staged/execute.py drives both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from reconciler.api.staged import ApprovalRequest, StagedUpdateRun
from reconciler.errors import StageSignal
from reconciler.rollout.staged.model import (
    ABORTED,
    APPROVAL_ACCEPTED,
    APPROVAL_APPROVED,
    APPROVAL_CREATED,
    INIT_FAILED,
    PROGRESSING,
    STARTED,
    STUCK_THRESHOLD,
    SUCCEEDED,
    ClusterProgress,
    ClusterStatus,
    PlacementFacts,
    Reason,
    RunCondition,
    RunStatus,
    StageStatus,
    TaskStatus,
    find,
    is_true,
    set_condition,
)
from reconciler.status.conditions import Status

WAITING_MESSAGE = "The updateRun is waiting for {kind} tasks in stage {stage} to complete"
MAX_STEPS = 10_000


class Aborted(StageSignal):
    """The run cannot continue (KubeFleet's errStagedUpdatedAborted); the text is the reason."""


def stuck_names(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else ", ".join(names[:3]) + "..."


def aggregate(errors: list[str]) -> str:
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


class Work:
    """The status being stepped, plus the actions collected for the hub loop."""

    def __init__(
        self,
        run: StagedUpdateRun,
        status: RunStatus,
        clusters: Mapping[str, ClusterProgress],
        approvals: Mapping[str, ApprovalRequest],
        now: datetime,
    ):
        self.run, self.status, self.clusters, self.approvals, self.now = run, status, clusters, approvals, now
        self.bind: list[str] = []
        self.remove: list[str] = []
        self.waits: list[datetime] = []

    # -- conditions --------------------------------------------------------------------------
    def set_run(self, ctype: str, status: Status, reason: str, message: str) -> None:
        self.status = self.status.with_conditions(
            set_condition(self.status.conditions, ctype, status, reason, message, self.now)
        )

    def progressing(self) -> None:
        self.set_run(PROGRESSING, Status.TRUE, Reason.PROGRESSING, "The update run is making progress")

    def waiting(self, kind: str, stage: str) -> None:
        self.set_run(
            PROGRESSING, Status.FALSE, Reason.WAITING, WAITING_MESSAGE.format(kind=kind, stage=stage)
        )

    def fail(self, message: str) -> None:
        self.set_run(
            PROGRESSING, Status.FALSE, Reason.FAILED, "The stages are aborted due to a non-recoverable error"
        )
        self.set_run(SUCCEEDED, Status.FALSE, Reason.FAILED, message)

    def cond(
        self, conds: tuple[RunCondition, ...], ctype: str, status: Status, reason: str, message: str
    ) -> tuple[RunCondition, ...]:
        return set_condition(conds, ctype, status, reason, message, self.now)

    def stage_cond(self, s: StageStatus, status: Status, reason: str, message: str) -> StageStatus:
        return replace(s, conditions=self.cond(s.conditions, PROGRESSING, status, reason, message))

    def stage_started(self, s: StageStatus) -> StageStatus:
        s = replace(s, start_time=s.start_time or self.now)
        return self.stage_cond(s, Status.TRUE, Reason.STAGE_STARTED, "Clusters in the stage started updating")

    def stage_succeeded(self, s: StageStatus) -> StageStatus:
        s = replace(s, end_time=s.end_time or self.now)
        s = self.stage_cond(
            s,
            Status.FALSE,
            Reason.STAGE_SUCCEEDED,
            "All clusters in the stage are updated and after-stage tasks are completed",
        )
        return replace(
            s,
            conditions=self.cond(
                s.conditions,
                SUCCEEDED,
                Status.TRUE,
                Reason.STAGE_SUCCEEDED,
                "Stage update completed successfully",
            ),
        )

    def stage_failed(self, s: StageStatus, message: str) -> StageStatus:
        s = replace(s, end_time=s.end_time or self.now)
        s = self.stage_cond(
            s, Status.FALSE, Reason.STAGE_FAILED, "Stage update aborted due to a non-recoverable error"
        )
        return replace(
            s, conditions=self.cond(s.conditions, SUCCEEDED, Status.FALSE, Reason.STAGE_FAILED, message)
        )

    def cluster(
        self, c: ClusterStatus, ctype: str, status: Status, reason: str, message: str
    ) -> ClusterStatus:
        return replace(c, conditions=self.cond(c.conditions, ctype, status, reason, message))

    def started(self, c: ClusterStatus) -> ClusterStatus:
        return self.cluster(c, STARTED, Status.TRUE, Reason.CLUSTER_STARTED, "Cluster update started")

    def succeeded(self, c: ClusterStatus) -> ClusterStatus:
        return self.cluster(
            c, SUCCEEDED, Status.TRUE, Reason.CLUSTER_SUCCEEDED, "Cluster update completed successfully"
        )

    # -- what a cluster's binding says ----------------------------------------------------------
    def progress(self, name: str) -> ClusterProgress | None:
        if name in self.bind:  # moved in this reconcile: in sync, nothing reported yet
            return ClusterProgress(self.status.resource_index, bound=True)
        return self.clusters.get(name)

    def check_result(
        self, c: ClusterStatus, stage: str, obs: ClusterProgress, errors: list[str]
    ) -> tuple[ClusterStatus, bool]:
        """checkClusterUpdateResult: (cluster, finished); a reported failure fails the cluster."""
        if obs.available or obs.diff_reported:
            return self.succeeded(c), True
        if obs.failed:
            message = f"the cluster updating encountered an error at stage `{stage}`, updateRun := `{self.run.name}`"
            if obs.message:
                message += f": {obs.message[:512]}"
            errors.append(f"{ABORTED}: the cluster `{c.name}` in the stage {stage} has failed")
            return self.cluster(c, SUCCEEDED, Status.FALSE, Reason.CLUSTER_FAILED, message), False
        return c, False

    def stuck_check(self, c: ClusterStatus, stuck: list[str]) -> None:
        started = find(c.conditions, STARTED)
        if started is None:
            return
        if self.now - started.last_transition_time > STUCK_THRESHOLD:
            stuck.append(c.name)
        else:
            self.waits.append(started.last_transition_time + STUCK_THRESHOLD + timedelta(seconds=1))

    # -- approvals -----------------------------------------------------------------------------
    def approval(self, t: TaskStatus, stage: str) -> tuple[TaskStatus, bool]:
        if is_true(t.conditions, APPROVAL_APPROVED):
            return t, True
        t = replace(
            t,
            conditions=self.cond(
                t.conditions,
                APPROVAL_CREATED,
                Status.TRUE,
                Reason.APPROVAL_CREATED,
                "ApprovalRequest object is created",
            ),
        )
        req = self.approvals.get(t.approval_request_name)
        if req is None:
            return t, False
        if req.target_stage != stage or req.update_run != self.run.name:
            ns = self.run.namespace
            raise Aborted(
                f"{ABORTED}: the approval request task `{ns}/{req.name}` is targeting update run "
                f"`{ns}/{req.update_run}` and stage `{req.target_stage}`, want target update run "
                f"`{ns}/{self.run.name} and stage `{stage}`"
            )
        accepted = any(c.type == APPROVAL_ACCEPTED and c.status == "True" for c in req.conditions)
        if not (req.approved or accepted):
            return t, False
        t = replace(
            t,
            conditions=self.cond(
                t.conditions,
                APPROVAL_APPROVED,
                Status.TRUE,
                Reason.APPROVAL_APPROVED,
                "ApprovalRequest object is approved",
            ),
        )
        return t, True


def abandon_reason(status: RunStatus, placement: PlacementFacts | None) -> str | None:
    """validate(): the run is abandoned when its placement moved under it."""
    if placement is None:
        return f"{INIT_FAILED}: parent placement not found"
    if not placement.external:
        return (
            f"{INIT_FAILED}: parent placement does not have an external rollout strategy, current strategy: "
            f"{placement.strategy_type}"
        )
    if dict(placement.apply_strategy) != dict(status.applied_strategy):
        latest = json.dumps(dict(placement.apply_strategy), sort_keys=True)
        recorded = json.dumps(dict(status.applied_strategy), sort_keys=True)
        return f"{ABORTED}: the applyStrategy in the updateRun is outdated, latest: {latest}, recorded: {recorded}"
    if str(placement.policy_index) != status.policy_snapshot_index_used:
        return (
            f"{ABORTED}: the policy snapshot index used in the updateRun is outdated, latest: "
            f"{placement.policy_index}, recorded: {status.policy_snapshot_index_used}"
        )
    if not placement.fully_scheduled:
        return f"{INIT_FAILED}: policy snapshot `{placement.policy_snapshot_name}` not fully scheduled yet"
    count = placement.cluster_count if placement.cluster_count is not None else len(placement.scheduled)
    if count != status.policy_observed_cluster_count:
        return (
            f"{ABORTED}: the cluster count initialized in the updateRun is outdated, latest: {count}, "
            f"recorded: {status.policy_observed_cluster_count}"
        )
    existing = sorted(c.name for s in status.stages for c in s.clusters)
    if sorted(placement.scheduled) != existing:
        return (
            f"{ABORTED}: the clusters scheduled for the placement have changed, new: "
            f"{', '.join(sorted(placement.scheduled))}, existing: {', '.join(existing)}"
        )
    return None


def current_stage(status: RunStatus) -> int:
    return next((i for i, s in enumerate(status.stages) if not s.succeeded), len(status.stages))


def put_stage(w: Work, idx: int, st: StageStatus) -> None:
    stages = list(w.status.stages)
    stages[idx] = st
    w.status = replace(w.status, stages=tuple(stages))


def has_binding(w: Work, name: str) -> bool:
    return name in w.clusters or name in w.remove
