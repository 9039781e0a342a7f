"""Staged update runs inside one hub reconcile: the glue between the loop and the run state machine.

For a placement with ``strategy.type: External`` the hub loop hands ``plan_external`` this
reconcile's stage results (schedule, hub memory, override results, what each agent reported)
plus the runs, strategies and approval requests of the fleet commit and the run files it read
from ``fleet/status``. Each run of the placement is initialized the first time it is seen
(reconciler/rollout/staged/init.py) and stepped (reconciler/rollout/staged/execute.py); what comes back is what the
loop applies — a ``RolloutDecision`` in the same shape a rolling update produces (bind
Scheduled clusters, update Bound ones, remove obsolete ones), the snapshot index each moved
cluster goes to, the files to write on ``fleet/status`` (``runs/...`` and
``approvalrequests/...``), and when to reconcile again. Runs whose placement is gone are
recorded by ``plan_orphan_runs`` (initialization fails, or an initialized run is abandoned).

A run rolls out the resource snapshot frozen at its initialization, as in KubeFleet: a rollback
run names an older index, and a run keeps its index when newer commits arrive. The hub reads an
older snapshot back from the fleet commit that created it (reconciler/hub/snapshots.py);
``unavailable`` says when that cannot be done (the commit is gone, no longer loads, or selects
other objects now), and the run then fails at initialization, or mid-run, with that reason —
never silently held. An index that ``revisionHistoryLimit`` has dropped from the history fails
the run the same way.

Runs of one placement are stepped in name order; KubeFleet allows concurrent runs and lets the
later update of a binding win, and so does this (the other run then reports the preemption).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from fleetsync_contract.canonical import dump
from fleetsync_contract.report import PlacementReport
from reconciler.api.placement import Placement
from reconciler.api.staged import (
    CSUS_KIND,
    SUR_KIND,
    SUS_KIND,
    ApprovalRequest,
    StagedUpdateRun,
    StagedUpdateStrategy,
)
from reconciler.hub.overrides import OverrideResult
from reconciler.rollout.rolling import BindingState, RolloutDecision
from reconciler.rollout.staged.documents import approval_request_path, parse_run_status, run_doc, run_path
from reconciler.rollout.staged.execute import advance_run, approvals_for, fail_run
from reconciler.rollout.staged.init import initialize_failed, initialize_run, placement_facts
from reconciler.rollout.staged.model import (
    ABORTED,
    INIT_FAILED,
    ClusterOverrides,
    ClusterProgress,
    PlacementFacts,
    RunStatus,
)
from reconciler.scheduler.model import Schedule
from reconciler.status.memory import BindingRecord, PlacementMemory

RETRY = timedelta(seconds=15)  # KubeFleet's requeue while initialization meets a transient state

PreviousDoc = Callable[[str], Mapping[str, Any] | None]
Unavailable = Callable[[int], str | None]  # why an older snapshot index cannot be rolled out (None: it can)
# the version a run rolling out (index, overrides of fleet commit) would give a cluster (None: unknown)
TargetVersion = Callable[[str, int, str], str | None]


@dataclass(frozen=True, slots=True)
class ExternalPlan:
    decision: RolloutDecision
    resource_index: Mapping[str, int]  # moved cluster -> the snapshot index its run rolls out
    override_commit: Mapping[str, str]  # moved cluster -> the fleet commit its run was initialized at
    files: Mapping[str, bytes]  # fleet/status files: runs/... and approvalrequests/...
    requeue_after: timedelta | None = None


def progress_of(record: BindingRecord | None, report: PlacementReport | None) -> ClusterProgress | None:
    """A binding as a run sees it. ``report`` must be the agent's entry for the bundle now on the
    cluster's branch (the loop's ``current_report``), so an old bundle's Available never counts.
    Only a failed apply fails a cluster; ``DiffReported=False`` (still reporting) keeps it in
    flight, and the run says ``UpdateRunStuck`` if that lasts."""
    if record is None:
        return None
    conds = {c.type: c.status for c in report.conditions} if report is not None else {}
    message = next((c.message for c in report.conditions if c.status == "False" and c.message), "") \
        if report is not None else ""
    return ClusterProgress(
        resource_index=record.resource_index if record.version else None,
        bound=record.state == BindingState.BOUND,
        available=conds.get("Available") == "True",
        diff_reported=conds.get("DiffReported") == "True",
        failed=conds.get("Applied") == "False",
        message=message,
        version=record.version,
    )


def _strategy(run: StagedUpdateRun, strategies: Mapping[str, StagedUpdateStrategy]) -> StagedUpdateStrategy | None:
    kind = SUS_KIND if run.kind == SUR_KIND else CSUS_KIND
    return strategies.get(f"{kind}/{run.namespace}/{run.strategy_name}")


def _stored(run: StagedUpdateRun, previous: PreviousDoc) -> RunStatus | None:
    doc = previous(run_path(run.kind, run.namespace, run.name))
    status = (doc or {}).get("status")
    if not isinstance(status, Mapping) or not status.get("conditions"):
        return None
    return parse_run_status(status)


def _files(run: StagedUpdateRun, status: RunStatus, requests: Iterable[Mapping[str, Any]]) -> dict[str, bytes]:
    out = {run_path(run.kind, run.namespace, run.name): dump(run_doc(run, status))}
    for r in requests:
        meta = r["metadata"]
        out[approval_request_path(str(r["kind"]), str(meta.get("namespace", "")), str(meta["name"]))] = dump(r)
    return out


def plan_external(
    placement: Placement,
    schedule: Schedule,
    memory: PlacementMemory,
    runs: Iterable[StagedUpdateRun],
    strategies: Mapping[str, StagedUpdateStrategy],
    approvals: Iterable[ApprovalRequest],
    labels: Mapping[str, Mapping[str, str]],
    results: Mapping[str, OverrideResult],
    progress: Mapping[str, ClusterProgress],
    previous: PreviousDoc,
    now: datetime,
    unavailable: Unavailable = lambda _index: None,
    commit: str = "",
    target: TargetVersion | None = None,
) -> ExternalPlan:
    """Initialize and step every run of ``placement``; see the module docstring.

    ``memory`` is the placement's memory before this reconcile's moves, with this reconcile's
    snapshot history; ``progress`` what the memory and the agents say about its bindings
    (``progress_of``); a binding of ``schedule`` missing there is a new, Scheduled one;
    ``unavailable`` is asked about every index other than the newest a run rolls out;
    ``commit`` (the fleet commit of this reconcile) is recorded in a run it initializes, whose
    overrides the run then applies (``override_commit``). ``target`` says what version a run
    would give a cluster: a binding on the run's index holding something else (other overrides)
    is updated like one on another index, as KubeFleet compares a binding's override snapshots.
    """
    facts = placement_facts(placement, schedule, memory)
    # Every binding of the schedule exists, including those created by this very reconcile,
    # which the memory does not know yet: Scheduled, nothing in the bundle, nothing reported.
    progress = {**{b.cluster: ClusterProgress() for b in schedule.bindings}, **progress}
    mine = sorted((r for r in runs if r.placement_key == placement.key), key=lambda r: r.name)
    approval_list = list(approvals)
    files: dict[str, bytes] = {}
    moved: dict[str, int] = {}
    frozen: dict[str, str] = {}
    removed: list[str] = []
    waits: list[datetime] = []
    latest = memory.latest.index if memory.latest is not None else None
    kept = {s.index for s in memory.snapshots}

    def older_problem(index: int) -> str | None:
        if index == latest:
            return None
        if index not in kept:
            return (f"resource snapshot `{index}` is no longer in the placement's history "
                    f"(revisionHistoryLimit: {placement.revision_history_limit})")
        return unavailable(index)

    for run in mine:
        status = _stored(run, previous)
        if status is None:
            overrides = {c: ClusterOverrides(r.applicable_cros, r.applicable_ros) for c, r in results.items()}
            status = initialize_run(run, _strategy(run, strategies), facts, labels, overrides, now)
            if status is None:
                waits.append(now + RETRY)
                continue
            if status.initialized and (problem := older_problem(status.resource_index)) is not None:
                status = initialize_failed(f"{INIT_FAILED}: {problem}", now)
            elif status.initialized:
                status = replace(status, fleet_commit_used=commit)
        elif status.initialized and not status.finished and (problem := older_problem(status.resource_index)):
            status = fail_run(run, status, f"{ABORTED}: {problem}", now)
        seen = progress
        if target is not None and status.initialized and not status.finished and status.fleet_commit_used:
            seen = _against_target(progress, status, target)  # (a run from before fleetCommitUsed: as then)
        step = advance_run(run, status, facts, seen, approvals_for(run, approval_list), now)
        for c in step.bind:
            moved[c] = step.status.resource_index
            frozen[c] = step.status.fleet_commit_used
        removed += [c for c in step.remove if c not in removed]
        if step.wake_at is not None:
            waits.append(step.wake_at)
        files.update(_files(run, step.status, step.approval_requests))
    return ExternalPlan(_decision(facts, schedule, moved, removed), moved, frozen, files,
                        max(min(waits) - now, timedelta(0)) if waits else None)


def _against_target(progress: Mapping[str, ClusterProgress], status: RunStatus,
                    target: TargetVersion) -> dict[str, ClusterProgress]:
    """``progress`` as this run sees it: a binding on its index whose content is not what the run
    rolls out counts as not on its index (so the run updates it)."""
    index = status.resource_index
    out = dict(progress)
    for cluster, p in progress.items():
        if p.resource_index == index and p.version:
            want = target(cluster, index, status.fleet_commit_used)
            if want is not None and want != p.version:
                out[cluster] = replace(p, resource_index=None)
    return out


def _decision(facts: PlacementFacts, schedule: Schedule, moved: Mapping[str, int], removed: list[str]) -> RolloutDecision:
    state = {b.cluster: b.state for b in schedule.bindings}
    bind = tuple(c for c in sorted(moved) if state.get(c) == BindingState.SCHEDULED)
    update = tuple(c for c in sorted(moved) if state.get(c) == BindingState.BOUND)
    rest = tuple(c for c in facts.scheduled if c not in moved)
    return RolloutDecision(bind=bind, update=update, remove=tuple(sorted(removed)), up_to_date=rest)


def plan_orphan_runs(
    runs: Iterable[StagedUpdateRun], placement_keys: Iterable[str], previous: PreviousDoc, now: datetime,
) -> dict[str, bytes]:
    """Files for runs whose placement is not in the fleet commit: KubeFleet's "parent placement not found"."""
    keys = set(placement_keys)
    files: dict[str, bytes] = {}
    for run in sorted(runs, key=lambda r: (r.kind, r.namespace, r.name)):
        if run.placement_key in keys:
            continue
        status = _stored(run, previous)
        if status is None:
            status = initialize_run(run, None, None, {}, {}, now)
            assert status is not None  # no placement is never transient
        step = advance_run(run, status, None, {}, {}, now)
        files.update(_files(run, step.status, step.approval_requests))
    return files
