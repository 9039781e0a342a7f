"""External rollouts inside one hub reconcile: the hub's values as one ``StagedInputs``.

For a placement with ``strategy.type: External`` the staged update runs of the fleet commit
decide which clusters move (KubeFleet §10), behind one door: reconciler/rollout/staged/step.py
``step``. This module only translates what the pipeline holds into that door's input — the
fleet commit's runs, strategies and approval requests, each binding's progress from the agent's
report about the bundle now on its branch, and whether an older resource snapshot can be read
back (``older``, reconciler/hub/snapshots.py) — so the run state machine never sees a report
lookup or the snapshot reader, only plain values and questions about snapshot indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from fleetsync_contract.report import PlacementReport
from reconciler.api.placement import Placement
from reconciler.hub.overrides import OverrideResult
from reconciler.hub.snapshots import SnapshotObjects, SnapshotUnavailable
from reconciler.load.fleet import FleetSpec
from reconciler.rollout.staged.approver import ApproverLookup
from reconciler.rollout.staged.step import (
    PreviousDoc,
    StagedInputs,
    TargetVersion,
    Unavailable,
    cannot_read_older,
    progress_of,
)
from reconciler.scheduler.model import Schedule
from reconciler.status.memory import BindingRecord, PlacementMemory

ReportOf = Callable[[str, BindingRecord | None], PlacementReport | None]


def staged_inputs(
    placement: Placement,
    sched: Schedule,
    memory: PlacementMemory,
    spec: FleetSpec,
    labels: Mapping[str, Mapping[str, str]],
    results: Mapping[str, OverrideResult],
    report_of: ReportOf,
    previous: PreviousDoc,
    now: datetime,
    approvers: ApproverLookup | None = None,
    older: SnapshotObjects | None = None,
    commit: str = "",
    target: TargetVersion | None = None,
) -> StagedInputs:
    """What ``step`` needs to step this placement's runs in this reconcile.

    ``memory`` is the placement's memory before this reconcile's moves, with this reconcile's
    snapshot history; ``report_of`` the agent's report entry about the bundle now on a
    cluster's branch (the loop's ``current_report``). ``older`` reads an older snapshot's
    objects back; without it a run of an older index fails, saying so. ``approvers``,
    ``commit`` and ``target``: see ``StagedInputs``.
    """
    progress = {}
    for b in memory.bindings:
        p = progress_of(b, report_of(b.cluster, b))
        if p is not None:
            progress[b.cluster] = p
    return StagedInputs(
        placement,
        sched,
        memory,
        now,
        runs=tuple(spec.runs.values()),
        strategies=spec.strategies,
        approvals=tuple(spec.approvals.values()),
        labels=labels,
        results=results,
        progress=progress,
        previous=previous,
        approvers=approvers,
        unavailable=_readable(placement.key, memory, older),
        commit=commit,
        target=target,
    )


def _readable(key: str, memory: PlacementMemory, older: SnapshotObjects | None) -> Unavailable:
    """Why an older snapshot of the placement ``key`` cannot be rolled out (None: it can)."""
    if older is None:
        return cannot_read_older
    records = {s.index: s for s in memory.snapshots}
    reader = older

    def unavailable(index: int) -> str | None:
        try:
            reader(key, records[index])
        except SnapshotUnavailable as e:
            return str(e)
        return None

    return unavailable
