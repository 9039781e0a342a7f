"""Staged update runs: the run status model, KubeFleet's vocabulary, and its file on ``fleet/status``.

A ClusterStagedUpdateRun's whole memory is its ``status`` (KubeFleet keeps it on the run object;
fleetsync keeps the same document in ``runs/<kind>/<namespace>/<name>.yaml`` on the status
branch), so a restarted hub reads the file back and continues: which clusters started and when,
when a stage ended (a TimedWait counts from there), which approvals were seen. The model is
frozen; reconciler/rollout/staged/init.py builds it once, reconciler/rollout/staged/execute.py steps it (with
work.py), both pure with the clock passed in; reconciler/rollout/staged/documents.py writes and reads
the documents and reconciler/rollout/staged/step.py (``step``) is the hub's one entry point. Condition types,
reasons and messages are KubeFleet's (``pkg/controllers/updaterun/``), so a KubeFleet user reads
the file like ``kubectl get csur -o yaml``. See docs/staged.md.

Times are whole seconds (the status file's precision), so a step computed before a restart and
one computed after it from the file agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from reconciler.api.meta import empty_map
from reconciler.api.staged import (
    GROUP,
    StageConfig,
    StageTaskType,
)
from reconciler.status.conditions import Status

API_VERSION = f"{GROUP}/v1beta1"
DELETE_STAGE = "kubernetes-fleet.io/deleteStage"
DELETE_STAGE_LABEL_VALUE = "kubernetes-fleet.io-deleteStage"  # [UNCONFIRMED] label-safe form of the name
STUCK_THRESHOLD = timedelta(minutes=5)  # KubeFleet's updateRunStuckThreshold
MAX_NAMES_SHOWN = 10

# Labels KubeFleet puts on approval requests (apis/placement/v1beta1 commons).
TARGET_RUN_LABEL = "kubernetes-fleet.io/targetupdaterun"
TARGET_STAGE_LABEL = "kubernetes-fleet.io/targetUpdatingStage"
IS_LATEST_LABEL = "kubernetes-fleet.io/isLatestUpdateRunApproval"
TASK_TYPE_LABEL = "kubernetes-fleet.io/taskType"  # values below are [UNCONFIRMED] against upstream
BEFORE_STAGE = "beforeStage"
AFTER_STAGE = "afterStage"

# Condition types.
INITIALIZED, PROGRESSING, SUCCEEDED, STARTED = "Initialized", "Progressing", "Succeeded", "Started"
APPROVAL_CREATED, APPROVAL_APPROVED, WAIT_ELAPSED = (
    "ApprovalRequestCreated",
    "ApprovalRequestApproved",
    "WaitTimeElapsed",
)
APPROVED, APPROVAL_ACCEPTED = "Approved", "ApprovalAccepted"

# Error prefixes: KubeFleet's errStagedUpdatedAborted and errInitializedFailed wrapping it.
ABORTED = "cannot continue the updateRun"
INIT_FAILED = f"{ABORTED}: failed to initialize the updateRun"


class Reason:
    """KubeFleet's condition reasons for update runs (``pkg/utils/condition``)."""

    INIT_OK = "UpdateRunInitializedSuccessfully"
    INIT_FAILED = "UpdateRunInitializedFailed"
    PROGRESSING = "UpdateRunProgressing"
    FAILED = "UpdateRunFailed"
    STUCK = "UpdateRunStuck"
    WAITING = "UpdateRunWaiting"
    STOPPING = "UpdateRunStopping"
    STOPPED = "UpdateRunStopped"
    SUCCEEDED = "UpdateRunSucceeded"
    STAGE_STARTED = "StageUpdatingStarted"
    STAGE_WAITING = "StageUpdatingWaiting"
    STAGE_STOPPING = "StageUpdatingStopping"
    STAGE_STOPPED = "StageUpdatingStopped"
    STAGE_FAILED = "StageUpdatingFailed"
    STAGE_SUCCEEDED = "StageUpdatingSucceeded"
    STAGE_SKIPPED = "StageUpdatingSkippedNoClusters"
    CLUSTER_STARTED = "ClusterUpdatingStarted"
    CLUSTER_FAILED = "ClusterUpdatingFailed"
    CLUSTER_SUCCEEDED = "ClusterUpdatingSucceeded"
    APPROVAL_CREATED = "StageTaskApprovalRequestCreated"
    APPROVAL_APPROVED = "StageTaskApprovalRequestApproved"
    WAIT_ELAPSED = "AfterStageTaskWaitTimeElapsed"
    APPROVAL_ACCEPTED = "ApprovalRequestApprovalAccepted"


@dataclass(frozen=True, slots=True)
class RunCondition:
    type: str
    status: Status
    reason: str
    message: str
    last_transition_time: datetime


def set_condition(
    conds: tuple[RunCondition, ...], ctype: str, status: Status, reason: str, message: str, now: datetime
) -> tuple[RunCondition, ...]:
    """``meta.SetStatusCondition``: the transition time moves only when the status changes."""
    out = list(conds)
    for i, c in enumerate(out):
        if c.type == ctype:
            when = c.last_transition_time if c.status == status else now
            out[i] = RunCondition(ctype, status, reason, message, when)
            return tuple(out)
    out.append(RunCondition(ctype, status, reason, message, now))
    return tuple(out)


def find(conds: Sequence[RunCondition], ctype: str) -> RunCondition | None:
    return next((c for c in conds if c.type == ctype), None)


def is_true(conds: Sequence[RunCondition], ctype: str) -> bool:
    c = find(conds, ctype)
    return c is not None and c.status == Status.TRUE


def is_false(conds: Sequence[RunCondition], ctype: str) -> bool:
    c = find(conds, ctype)
    return c is not None and c.status == Status.FALSE


# -- the status model -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """One cluster of a stage, with the override snapshots frozen for it at initialization."""

    name: str
    cluster_overrides: tuple[str, ...] = ()  # ClusterResourceOverride names
    resource_overrides: tuple[tuple[str, str], ...] = ()  # (namespace, name) of ResourceOverrides
    conditions: tuple[RunCondition, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskStatus:
    type: StageTaskType
    approval_request_name: str = ""  # Approval tasks only
    conditions: tuple[RunCondition, ...] = ()


@dataclass(frozen=True, slots=True)
class StageStatus:
    name: str
    clusters: tuple[ClusterStatus, ...] = ()
    before_tasks: tuple[TaskStatus, ...] = ()
    after_tasks: tuple[TaskStatus, ...] = ()
    start_time: datetime | None = None
    end_time: datetime | None = None
    conditions: tuple[RunCondition, ...] = ()

    @property
    def succeeded(self) -> bool:
        return is_true(self.conditions, SUCCEEDED)

    @property
    def failed(self) -> bool:
        return is_false(self.conditions, SUCCEEDED)


@dataclass(frozen=True, slots=True)
class RunStatus:
    """KubeFleet's UpdateRunStatus. An initialization failure is a status whose ``Initialized`` is False."""

    conditions: tuple[RunCondition, ...] = ()
    policy_snapshot_index_used: str = ""
    policy_observed_cluster_count: int = 0
    resource_snapshot_index_used: str = ""
    applied_strategy: Mapping[str, Any] = field(default_factory=empty_map)
    strategy: tuple[StageConfig, ...] = ()  # stagedUpdateStrategySnapshot.stages, frozen
    stages: tuple[StageStatus, ...] = ()
    deletion_stage: StageStatus | None = None
    # fleetsync's addition: the fleet commit the run was initialized at; its overrides are the
    # ones the run applies (KubeFleet freezes the override snapshots at initialization)
    fleet_commit_used: str = ""

    @property
    def initialized(self) -> bool:
        return is_true(self.conditions, INITIALIZED)

    @property
    def init_failed(self) -> bool:
        return is_false(self.conditions, INITIALIZED)

    @property
    def finished(self) -> bool:
        """Succeeded or failed for good: nothing changes any more."""
        return find(self.conditions, SUCCEEDED) is not None

    @property
    def resource_index(self) -> int:
        return int(self.resource_snapshot_index_used)

    def with_conditions(self, conditions: tuple[RunCondition, ...]) -> RunStatus:
        return replace(self, conditions=conditions)


# -- what the hub loop hands in -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlacementFacts:
    """What a run needs to know about its placement in this reconcile (KubeFleet reads it from
    the placement, its latest policy snapshot, its bindings and resource snapshots)."""

    key: str  # placement key (docs/formats.md)
    name: str
    namespace: str = ""
    strategy_type: str = "External"  # RollingUpdate | External
    apply_strategy: Mapping[str, Any] = field(default_factory=empty_map)  # KubeFleet applyStrategy doc
    policy_index: int = 0
    fully_scheduled: bool = True
    cluster_count: int | None = None  # PickN's N, PickFixed's len(clusterNames); None for PickAll
    scheduled: tuple[str, ...] = ()  # Scheduled/Bound bindings of the latest policy
    obsolete: tuple[str, ...] = ()  # Unscheduled bindings, or bindings of an older policy
    stale_selected: tuple[str, ...] = ()  # Scheduled/Bound bindings still of an older policy (transient)
    snapshot_indexes: tuple[int, ...] = ()  # resource snapshot indexes kept; the last is the latest

    @property
    def external(self) -> bool:
        return self.strategy_type == "External"

    @property
    def policy_snapshot_name(self) -> str:
        return f"{self.name}-{self.policy_index}"


@dataclass(frozen=True, slots=True)
class ClusterOverrides:
    """Override snapshots that apply to one cluster (frozen into the run at initialization)."""

    cluster_overrides: tuple[str, ...] = ()
    resource_overrides: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ClusterProgress:
    """One cluster's binding and what its agent reported about the bundle now on its branch.

    A cluster absent from the observations has no binding for the placement (any more)."""

    resource_index: int | None = None  # the snapshot index its binding/bundle holds (None: nothing yet)
    bound: bool = False  # binding state Bound
    available: bool = False  # Available=True for that bundle
    diff_reported: bool = False  # DiffReported=True for that bundle (ReportDiff)
    failed: bool = False  # the agent reports the apply (or diff reporting) failed for that bundle
    message: str = ""
    version: str = ""  # what the binding holds (hub memory's version: snapshot, overrides, strategy)


def approval_name(run: str, stage: str, before: bool) -> str:
    """KubeFleet's Before/AfterStageApprovalTaskNameFmt: ``<run>-before-<stage>`` / ``<run>-after-<stage>``."""
    return f"{run}-{'before' if before else 'after'}-{stage}"


def max_concurrency(value: int | str, clusters: int) -> int:
    """``maxConcurrency`` of a stage: an integer as is, a percentage rounded down; at least 1.

    Resolved here (not in execute.py) so the run's status document can show the number the
    stage really uses beside the raw value of the strategy snapshot."""
    n = value if isinstance(value, int) else math.floor(int(value.rstrip("%")) * clusters / 100)
    return max(n, 1)
