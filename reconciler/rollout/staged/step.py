"""Staged update runs inside one hub reconcile: the one door to the run state machine.

For a placement with ``strategy.type: External`` the hub hands ``step`` one ``StagedInputs``:
this reconcile's stage results (the placement, its schedule, the hub memory of its bindings and
snapshots, the override results, what each agent reported), the runs, strategies and approval
requests of the fleet commit, the run files it read from ``fleet/status``, who approved what
(reconciler/rollout/staged/approver.py), whether an older resource snapshot can be read back,
and the clock. Every run of the placement is initialized the first time it is seen
(reconciler/rollout/staged/init.py) and stepped (reconciler/rollout/staged/execute.py); what
comes back is one ``StagedResult``, applied by the loop like any rollout — a ``RolloutDecision``
in the shape a rolling update produces (bind Scheduled clusters, update Bound ones, remove
obsolete ones, when to reconcile again), what each moved cluster goes to (a snapshot index and
the fleet commit whose overrides it applies), and the files to write on ``fleet/status``
(``runs/...`` and ``approvalrequests/...``). Runs whose placement is gone go through
``step_orphans`` here too (initialization fails, or an initialized run is abandoned). One frozen
value in and one out is the design choice: the state machine is a pure function a test drives
without a hub, and the hub's side (reconciler/hub/staged.py) only translates its values.

A run rolls out the resource snapshot frozen at its initialization, as in KubeFleet: a rollback
run names an older index, and a run keeps its index when newer commits arrive. The hub reads an
older snapshot back from the fleet commit that created it (reconciler/hub/snapshots.py);
``StagedInputs.unavailable`` says when that cannot be done (the commit is gone, no longer loads,
or selects other objects now), and the run then fails at initialization, or mid-run, with that
reason — never silently held. An index that ``revisionHistoryLimit`` has dropped from the
history fails the run the same way.

Runs of one placement are stepped in name order; KubeFleet allows concurrent runs and lets the
later update of a binding win, and so does this (the other run then reports the preemption).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
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
from reconciler.rollout.staged.approver import ApprovalVerdict, ApproverLookup, annotate, request_key
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

log = logging.getLogger(__name__)

RETRY = timedelta(seconds=15)  # KubeFleet's requeue while initialization meets a transient state

PreviousDoc = Callable[[str], Mapping[str, Any] | None]
Unavailable = Callable[[int], str | None]  # why an older snapshot index cannot be rolled out (None: it can)
# the version a run rolling out (index, overrides of fleet commit) would give a cluster (None: unknown)
TargetVersion = Callable[[str, int, str], str | None]


def cannot_read_older(_index: int) -> str | None:
    """``StagedInputs.unavailable`` of a caller that has no way to read older snapshots back."""
    return "this command cannot read older resource snapshots"


def no_previous(_path: str) -> Mapping[str, Any] | None:
    """``StagedInputs.previous`` of a first reconcile: nothing on ``fleet/status`` yet."""
    return None


@dataclass(frozen=True, slots=True)
class StagedInputs:
    """Everything one reconcile's step of a placement's staged runs depends on.

    ``memory`` is the placement's memory before this reconcile's moves, with this reconcile's
    snapshot history (its last snapshot is the newest). ``progress`` is what the memory and the
    agents say about its bindings (``progress_of``); a binding of ``schedule`` missing there is a
    new, Scheduled one. ``runs``, ``strategies`` and ``approvals`` are the fleet commit's (every
    placement's: ``step`` picks this placement's runs). ``previous`` reads a file back from
    ``fleet/status`` (a run's stored status). ``approvers`` says who gave each ``Approved=True``
    approval and whether it counts; one it does not accept is left out (the run keeps waiting)
    and the recorded approval request says why; None: an approval file counts as written.
    ``unavailable`` is asked about every index other than the newest a run rolls out.
    ``commit`` (this reconcile's fleet commit) is recorded in a run it initializes, whose
    overrides the run then applies. ``target`` says what version a run would give a cluster:
    a binding on the run's index holding something else (other overrides) is updated like one
    on another index, as KubeFleet compares a binding's override snapshots.
    """

    placement: Placement
    schedule: Schedule
    memory: PlacementMemory
    now: datetime
    runs: tuple[StagedUpdateRun, ...] = ()
    strategies: Mapping[str, StagedUpdateStrategy] = field(default_factory=dict)
    approvals: tuple[ApprovalRequest, ...] = ()
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # cluster -> its labels
    results: Mapping[str, OverrideResult] = field(default_factory=dict)  # cluster -> this commit's overrides
    progress: Mapping[str, ClusterProgress] = field(default_factory=dict)
    previous: PreviousDoc = no_previous
    approvers: ApproverLookup | None = None
    unavailable: Unavailable = cannot_read_older
    commit: str = ""
    target: TargetVersion | None = None


@dataclass(frozen=True, slots=True)
class RunTarget:
    """What a run moves one cluster to: a resource snapshot, with a fleet commit's overrides."""

    index: int  # the resource snapshot
    override_commit: str = ""  # the commit the run was initialized at ("": recorded by an older fleetsync)


@dataclass(frozen=True, slots=True)
class StagedResult:
    """What one step of a placement's staged runs asks of the hub."""

    decision: RolloutDecision  # its requeue_after: when a run wants the next reconcile
    targets: Mapping[str, RunTarget] = field(default_factory=dict)  # every cluster a run moves now
    files: Mapping[str, bytes] = field(default_factory=dict)  # fleet/status runs/... approvalrequests/...

    @property
    def requeue_after(self) -> timedelta | None:
        return self.decision.requeue_after


def step(inputs: StagedInputs) -> StagedResult:
    """Initialize and step every run of ``inputs.placement``; see the module docstring.

    Without a run of the placement every selected cluster stays where it is.
    """
    placement, schedule, memory, now = inputs.placement, inputs.schedule, inputs.memory, inputs.now
    mine = sorted((r for r in inputs.runs if r.placement_key == placement.key), key=lambda r: r.name)
    if not mine:
        return StagedResult(
            RolloutDecision(up_to_date=tuple(b.cluster for b in schedule.bindings if b.selected))
        )
    approvals, verdicts = _judged(inputs.approvals, inputs.approvers)
    facts = placement_facts(placement, schedule, memory)
    # Every binding of the schedule exists, including those created by this very reconcile,
    # which the memory does not know yet: Scheduled, nothing in the bundle, nothing reported.
    progress = {**{b.cluster: ClusterProgress() for b in schedule.bindings}, **inputs.progress}
    files: dict[str, bytes] = {}
    targets: dict[str, RunTarget] = {}
    removed: list[str] = []
    waits: list[datetime] = []
    latest = memory.latest.index if memory.latest is not None else None
    kept = {s.index for s in memory.snapshots}

    def older_problem(index: int) -> str | None:
        if index == latest:
            return None
        if index not in kept:
            return (
                f"resource snapshot `{index}` is no longer in the placement's history "
                f"(revisionHistoryLimit: {placement.revision_history_limit})"
            )
        return inputs.unavailable(index)

    for run in mine:
        status = _current(run, inputs, facts, older_problem)  # init.py on first sight
        if status is None:  # transient: initialize on a later reconcile
            waits.append(now + RETRY)
            continue
        seen = progress
        if (
            inputs.target is not None
            and status.initialized
            and not status.finished
            and status.fleet_commit_used
        ):
            seen = _against_target(
                progress, status, inputs.target
            )  # (a run from before fleetCommitUsed: as then)
        stepped = advance_run(run, status, facts, seen, approvals_for(run, approvals), now)  # execute.py
        for c in stepped.bind:
            targets[c] = RunTarget(stepped.status.resource_index, stepped.status.fleet_commit_used)
        removed += [c for c in stepped.remove if c not in removed]
        if stepped.wake_at is not None:
            waits.append(stepped.wake_at)
        files.update(_files(run, stepped.status, stepped.approval_requests))
    if any(t.index != latest for t in targets.values()):
        log.info(
            "staged run moves clusters to an older snapshot",
            extra={
                "placement": placement.key,
                "latest": latest,
                "clusters": sorted(c for c, t in targets.items() if t.index != latest),
            },
        )
    requeue = max(min(waits) - now, timedelta(0)) if waits else None
    return StagedResult(
        _decision(facts, schedule, targets, removed, requeue),
        targets,
        annotate(files, verdicts) if verdicts else files,
    )


def step_orphans(
    runs: Iterable[StagedUpdateRun],
    placement_keys: Iterable[str],
    previous: PreviousDoc,
    now: datetime,
    not_external: Mapping[str, str] | None = None,
) -> dict[str, bytes]:
    """Files for runs whose placement is not in the fleet commit: KubeFleet's "parent placement
    not found"; and, for runs of a placement in ``not_external`` (key -> its strategy type),
    "parent placement does not have an external rollout strategy"."""
    keys = set(placement_keys)
    other = not_external or {}
    files: dict[str, bytes] = {}
    for run in sorted(runs, key=lambda r: (r.kind, r.namespace, r.name)):
        if run.placement_key in keys and run.placement_key not in other:
            continue
        facts = None
        if run.placement_key in other:
            namespace = run.meta.namespace if run.placement_key.startswith("ResourcePlacement/") else ""
            facts = PlacementFacts(
                run.placement_key, run.placement_name, namespace, strategy_type=other[run.placement_key]
            )
        status = _stored(run, previous)
        if status is None:
            status = initialize_run(run, None, facts, {}, {}, now)
            assert status is not None  # no placement, or not External, is never transient
        stepped = advance_run(run, status, facts, {}, {}, now)
        files.update(_files(run, stepped.status, stepped.approval_requests))
    return files


def progress_of(record: BindingRecord | None, report: PlacementReport | None) -> ClusterProgress | None:
    """A binding as a run sees it. ``report`` must be the agent's entry for the bundle now on the
    cluster's branch (the loop's ``current_report``), so an old bundle's Available never counts.
    Only a failed apply fails a cluster; ``DiffReported=False`` (still reporting) keeps it in
    flight, and the run says ``UpdateRunStuck`` if that lasts."""
    if record is None:
        return None
    conds = {c.type: c.status for c in report.conditions} if report is not None else {}
    message = (
        next((c.message for c in report.conditions if c.status == "False" and c.message), "")
        if report is not None
        else ""
    )
    return ClusterProgress(
        resource_index=record.resource_index if record.version else None,
        bound=record.state == BindingState.BOUND,
        available=conds.get("Available") == "True",
        diff_reported=conds.get("DiffReported") == "True",
        failed=conds.get("Applied") == "False",
        message=message,
        version=record.version,
    )


def _current(
    run: StagedUpdateRun, inputs: StagedInputs, facts: PlacementFacts, older_problem: Unavailable
) -> RunStatus | None:
    """The run's status before this reconcile's step: read back from ``fleet/status``, or made by
    initializing the run the first time it is seen (None: not yet, a transient state). A run
    whose snapshot cannot be rolled out (``older_problem``) fails, at initialization or mid-run."""
    status = _stored(run, inputs.previous)
    if status is not None:
        if status.initialized and not status.finished and (problem := older_problem(status.resource_index)):
            return fail_run(run, status, f"{ABORTED}: {problem}", inputs.now)
        return status
    overrides = {c: ClusterOverrides(r.applicable_cros, r.applicable_ros) for c, r in inputs.results.items()}
    status = initialize_run(
        run, _strategy(run, inputs.strategies), facts, inputs.labels, overrides, inputs.now
    )
    if status is None or not status.initialized:
        return status
    if (problem := older_problem(status.resource_index)) is not None:
        return initialize_failed(f"{INIT_FAILED}: {problem}", inputs.now)
    return replace(status, fleet_commit_used=inputs.commit)


def _judged(
    approvals: Iterable[ApprovalRequest],
    approvers: ApproverLookup | None,
) -> tuple[list[ApprovalRequest], dict[tuple[str, str, str], ApprovalVerdict]]:
    """The approval requests that count, and the verdict on each approved one (approver.py)."""
    requests = list(approvals)
    verdicts: dict[tuple[str, str, str], ApprovalVerdict] = {}
    if approvers is None:
        return requests, verdicts
    for a in requests:
        verdict = approvers(a)
        if verdict is not None:
            verdicts[request_key(a.kind, a.namespace, a.name)] = verdict
    counted = [
        a
        for a in requests
        if (v := verdicts.get(request_key(a.kind, a.namespace, a.name))) is None or v.accepted
    ]
    return counted, verdicts


def _strategy(
    run: StagedUpdateRun, strategies: Mapping[str, StagedUpdateStrategy]
) -> StagedUpdateStrategy | None:
    kind = SUS_KIND if run.kind == SUR_KIND else CSUS_KIND
    return strategies.get(f"{kind}/{run.namespace}/{run.strategy_name}")


def _stored(run: StagedUpdateRun, previous: PreviousDoc) -> RunStatus | None:
    doc = previous(run_path(run.kind, run.namespace, run.name))
    status = (doc or {}).get("status")
    if not isinstance(status, Mapping) or not status.get("conditions"):
        return None
    return parse_run_status(status)


def _files(
    run: StagedUpdateRun, status: RunStatus, requests: Iterable[Mapping[str, Any]]
) -> dict[str, bytes]:
    out = {run_path(run.kind, run.namespace, run.name): dump(run_doc(run, status))}
    for r in requests:
        meta = r["metadata"]
        out[approval_request_path(str(r["kind"]), str(meta.get("namespace", "")), str(meta["name"]))] = dump(
            r
        )
    return out


def _against_target(
    progress: Mapping[str, ClusterProgress], status: RunStatus, target: TargetVersion
) -> dict[str, ClusterProgress]:
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


def _decision(
    facts: PlacementFacts,
    schedule: Schedule,
    moved: Mapping[str, RunTarget],
    removed: list[str],
    requeue: timedelta | None,
) -> RolloutDecision:
    state = {b.cluster: b.state for b in schedule.bindings}
    bind = tuple(c for c in sorted(moved) if state.get(c) == BindingState.SCHEDULED)
    update = tuple(c for c in sorted(moved) if state.get(c) == BindingState.BOUND)
    rest = tuple(c for c in facts.scheduled if c not in moved)
    return RolloutDecision(
        bind=bind, update=update, remove=tuple(sorted(removed)), up_to_date=rest, requeue_after=requeue
    )
