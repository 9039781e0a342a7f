"""External rollouts inside one hub reconcile: the loop's side of reconciler/rollout/staged/step.py.

For a placement with ``strategy.type: External`` the staged update runs of the fleet commit
decide which clusters move (KubeFleet §10); with no run, every cluster stays where it is. The
run machinery gets the same facts a rolling update gets — the schedule, the hub's memory of the
bindings, the override results and each agent's report about the bundle now on its branch — and
returns a ``RolloutDecision`` the loop applies like any other, plus its status files (``runs/``,
``approvalrequests/``) and when to come back.

A run may roll out an older resource snapshot (a rollback, or a run that keeps its frozen index
after newer commits), and it applies the overrides of the fleet commit it was initialized at.
``older`` (reconciler/hub/snapshots.py) reads such a snapshot back from its fleet commit; when it
cannot, the run fails with the reason. ``External.targets`` tells the loop what each moved
cluster goes to, so it renders those that are not this commit's newest render from their inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from fleetsync_contract.report import PlacementReport
from reconciler.api.placement import Placement
from reconciler.api.staged import ApprovalRequest, StagedUpdateRun, StagedUpdateStrategy
from reconciler.hub.overrides import OverrideResult
from reconciler.hub.snapshots import SnapshotObjects, SnapshotUnavailable
from reconciler.rollout.rolling import RolloutDecision
from reconciler.rollout.staged.approver import ApprovalVerdict, ApproverLookup, annotate, request_key
from reconciler.rollout.staged.step import TargetVersion, plan_external, plan_orphan_runs, progress_of
from reconciler.scheduler.model import Schedule
from reconciler.status.memory import BindingRecord, PlacementMemory

log = logging.getLogger(__name__)

PreviousDoc = Callable[[str], Mapping[str, Any] | None]
ReportOf = Callable[[str, BindingRecord | None], PlacementReport | None]


@dataclass(frozen=True, slots=True)
class RunTarget:
    """What a run moves one cluster to: a resource snapshot, with a fleet commit's overrides."""

    index: int  # the resource snapshot
    override_commit: str = ""  # the commit the run was initialized at ("": recorded by an older fleetsync)


@dataclass(frozen=True, slots=True)
class External:
    decision: RolloutDecision
    files: Mapping[str, bytes] = field(default_factory=dict)  # fleet/status runs/... approvalrequests/...
    targets: Mapping[str, RunTarget] = field(default_factory=dict)  # every cluster a run moves now


def plan_runs(
    placement: Placement,
    sched: Schedule,
    memory: PlacementMemory,
    fleet_runs: Mapping[str, Any],
    strategies: Mapping[str, Any],
    approvals: Mapping[str, Any],
    labels: Mapping[str, Mapping[str, str]],
    results: Mapping[str, OverrideResult],
    report_of: ReportOf,
    previous: PreviousDoc,
    latest: int,
    now: datetime,
    approvers: ApproverLookup | None = None,
    older: SnapshotObjects | None = None,
    commit: str = "",
    target: TargetVersion | None = None,
) -> External:
    """The clusters this placement's staged runs move now (none without a run).

    ``approvers`` (reconciler/rollout/staged/approver.py ``git_approvers``) says who gave each
    ``Approved=True`` approval and whether it counts; an approval it does not accept is left
    out (the run keeps waiting) and the recorded approval request says why. ``older`` reads an
    older snapshot's objects and an older commit's overrides; without it a run of an older index
    fails, saying so. ``commit`` is this reconcile's fleet commit; ``target`` see
    ``plan_external``.
    """
    runs = [r for r in fleet_runs.values() if isinstance(r, StagedUpdateRun) and r.placement_key == placement.key]
    keep = tuple(b.cluster for b in sched.bindings if b.selected)
    if not runs:
        return External(RolloutDecision(up_to_date=keep))
    progress = {}
    for b in memory.bindings:
        p = progress_of(b, report_of(b.cluster, b))
        if p is not None:
            progress[b.cluster] = p
    requests = [a for a in approvals.values() if isinstance(a, ApprovalRequest)]
    verdicts: dict[tuple[str, str, str], ApprovalVerdict] = {}
    if approvers is not None:
        for a in requests:
            verdict = approvers(a)
            if verdict is not None:
                verdicts[request_key(a.kind, a.namespace, a.name)] = verdict
        requests = [a for a in requests if verdicts.get(request_key(a.kind, a.namespace, a.name)) is None
                    or verdicts[request_key(a.kind, a.namespace, a.name)].accepted]
    records = {s.index: s for s in memory.snapshots}

    def unavailable(index: int) -> str | None:
        if older is None:
            return "this command cannot read older resource snapshots"
        try:
            older(placement.key, records[index])
        except SnapshotUnavailable as e:
            return str(e)
        return None

    plan = plan_external(
        placement, sched, memory, runs,
        {k: v for k, v in strategies.items() if isinstance(v, StagedUpdateStrategy)},
        requests, labels, results, progress, previous, now, unavailable, commit, target,
    )
    targets = {c: RunTarget(index, plan.override_commit.get(c, "")) for c, index in plan.resource_index.items()}
    if any(t.index != latest for t in targets.values()):
        log.info("staged run moves clusters to an older snapshot",
                 extra={"placement": placement.key, "latest": latest,
                        "clusters": sorted(c for c, t in targets.items() if t.index != latest)})
    decision = replace(plan.decision, requeue_after=plan.requeue_after)
    return External(decision, annotate(plan.files, verdicts) if verdicts else plan.files, targets)


def orphan_run_files(fleet_runs: Mapping[str, Any], placement_keys: list[str], previous: PreviousDoc,
                     now: datetime) -> dict[str, bytes]:
    runs = [r for r in fleet_runs.values() if isinstance(r, StagedUpdateRun)]
    return plan_orphan_runs(runs, placement_keys, previous, now) if runs else {}
