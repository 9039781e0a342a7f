"""The rollout stage: which clusters of one placement move now, and to what.

RollingUpdate moves clusters to this commit's render in batches the agents' readiness allows
(reconciler/rollout/rolling.py decides). External moves them only as the placement's staged
update runs say (reconciler/rollout/staged/step.py), and a run may move a cluster to another
render than this commit's newest: an older resource snapshot (a rollback) or the overrides of
the commit the run began at. Those renders are made here, on demand and once per (cluster,
snapshot, overrides commit), by ``_RunRenders``, and pass the policy gate like any render. The
stage is its own module because it is the only one that reads older snapshots back; the rest of
the pipeline (reconciler/hub/pipeline.py) sees only its frozen result, ``RolledOut``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from reconciler.api.meta import Origin
from reconciler.api.override import Override
from reconciler.api.placement import Placement, RolloutStrategyType
from reconciler.hub.clusters import ClusterState
from reconciler.hub.evict import PlacementEvictions
from reconciler.hub.gate import Gate
from reconciler.hub.inputs import HubInputs
from reconciler.hub.outcome import OlderShare, current_report, ready_facts
from reconciler.hub.overrides import apply_prepared, prepare_overrides
from reconciler.hub.render import placement_version
from reconciler.hub.select import SelectedObject, Selection
from reconciler.hub.snapshots import SnapshotObjects, SnapshotUnavailable
from reconciler.hub.staged import staged_inputs
from reconciler.hub.stages import Gated, Overridden, Reconcile, Snapshots
from reconciler.load.fleet import FleetSpec
from reconciler.policy import encrypted
from reconciler.policy.gate import Violation
from reconciler.rollout.rolling import (
    BindingState,
    RolloutBinding,
    RolloutDecision,
    plan_rolling_update,
    target_number,
)
from reconciler.rollout.staged.step import step
from reconciler.scheduler.model import Schedule
from reconciler.status.memory import BindingRecord, PlacementMemory, SnapshotRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RolledOut:
    """The rollout stage's result: who moves now, and for staged runs what they move to."""

    decision: RolloutDecision
    violations: Mapping[str, tuple[Violation, ...]]  # the gate's, with staged runs' other renders' own
    older: Mapping[str, OlderShare]  # staged runs: cluster -> its render when not this commit's newest
    unrendered: frozenset[str]  # a staged run moves it, but its render failed: it stays
    run_files: Mapping[str, bytes]  # staged runs' status files
    observed_selected: Sequence[SelectedObject] | None  # External, all on one older snapshot: its objects


def roll_out(
    *,
    placement: Placement,
    key: str,
    ctx: Reconcile,
    selection: Selection,
    snapshot: Snapshots,
    evicted: PlacementEvictions,
    sched: Schedule,
    overridden: Overridden,
    gated: Gated,
    digests: dict[str, str],
) -> RolledOut:
    """Which clusters move now: RollingUpdate, or External with the placement's staged runs (which
    may move a cluster to an older snapshot or with the overrides of the commit they began at)."""
    if placement.strategy.type == RolloutStrategyType.EXTERNAL:
        renders = _RunRenders(
            placement=placement,
            key=key,
            ctx=ctx,
            selection=selection,
            snapshot=snapshot,
            desired=gated.desired,
            digests=digests,
        )
        return _staged_rollout(
            placement=placement,
            key=key,
            ctx=ctx,
            snapshot=snapshot,
            evicted=evicted,
            sched=sched,
            overridden=overridden,
            gated=gated,
            renders=renders,
        )
    decision = _rolling_decision(
        placement=placement,
        key=key,
        inputs=ctx.inputs,
        sched=sched,
        records=evicted.records,
        desired=gated.desired,
        now=ctx.now,
    )
    return RolledOut(
        decision=decision,
        violations=dict(gated.violations),
        older={},
        unrendered=frozenset(),
        run_files={},
        observed_selected=None,
    )


def _staged_rollout(
    *,
    placement: Placement,
    key: str,
    ctx: Reconcile,
    snapshot: Snapshots,
    evicted: PlacementEvictions,
    sched: Schedule,
    overridden: Overridden,
    gated: Gated,
    renders: _RunRenders,
) -> RolledOut:
    """External: the placement's staged runs step, and each cluster a run moves gets the render
    the run names (this commit's newest, or one ``renders`` makes)."""
    records = evicted.records
    external = step(
        staged_inputs(
            placement,
            sched,
            PlacementMemory(
                key, snapshot.policy_hash, snapshot.policy_index, snapshot.history, tuple(records.values())
            ),
            ctx.spec,
            ctx.labels,
            overridden.results,
            lambda c, r: current_report(ctx.inputs, c, key, r),
            ctx.inputs.previous_doc,
            ctx.now,
            approvers=ctx.approvers,
            older=ctx.older,
            commit=ctx.commit,
            target=renders.version,
        )
    )
    violations = dict(gated.violations)
    others: dict[str, OlderShare] = {}
    unrendered: set[str] = set()  # a staged run moves it, but its render failed: it stays
    for cluster, run_target in sorted(external.targets.items()):
        frozen = renders.overrides_from(run_target.override_commit)
        if run_target.index == snapshot.latest and not frozen:
            continue  # this commit's render, like any move
        share = renders.share(cluster, run_target.index, frozen)
        if share is None:
            unrendered.add(cluster)
        else:
            others[cluster] = share
            violations[cluster] = share.violations
    observed = _observed_selection(key, snapshot.history, records.values(), snapshot.latest, ctx.older)
    return RolledOut(
        decision=external.decision,
        violations=violations,
        older=others,
        unrendered=frozenset(unrendered),
        run_files=external.files,
        observed_selected=observed,
    )


class _RunRenders:
    """The renders staged runs move clusters to, other than this commit's newest: made on demand,
    each (cluster, snapshot index, overrides commit) once, and each overrides commit compared
    with this commit's overrides once (equal overrides: this commit's render is the one)."""

    def __init__(
        self,
        *,
        placement: Placement,
        key: str,
        ctx: Reconcile,
        selection: Selection,
        snapshot: Snapshots,
        desired: Mapping[str, str],
        digests: dict[str, str],
    ) -> None:
        self._placement, self._key, self._ctx = placement, key, ctx
        self._selection, self._latest, self._desired = selection, snapshot.latest, desired
        self._digests = digests
        self._snaps = {s.index: s for s in snapshot.history}
        self._shares: dict[tuple[str, int, str], OlderShare | None] = {}
        self._same: dict[str, bool] = {}

    def overrides_from(self, frozen: str) -> str:
        """The commit whose overrides a run applies; "" when they are this commit's."""
        older = self._ctx.older
        if not frozen or frozen == self._ctx.commit or older is None:
            return ""
        if frozen not in self._same:
            self._same[frozen] = _same_overrides(older, frozen, self._ctx.spec)
        return "" if self._same[frozen] else frozen

    def share(self, cluster: str, index: int, frozen: str) -> OlderShare | None:
        """The render of snapshot ``index`` with ``frozen``'s overrides on ``cluster`` (None: it
        cannot be made, or a policy blocks it)."""
        k = (cluster, index, frozen)
        if k not in self._shares:
            self._shares[k] = None
            older, state = self._ctx.older, self._ctx.by_name.get(cluster)
            if older is not None and state is not None and index in self._snaps:
                self._shares[k] = _run_share(
                    self._placement,
                    self._key,
                    self._ctx.spec,
                    self._snaps[index],
                    self._selection.objects if index == self._latest else None,
                    frozen,
                    older,
                    state,
                    self._ctx.gate,
                    self._digests,
                )
        return self._shares[k]

    def version(self, cluster: str, index: int, frozen: str) -> str | None:
        """The version a run moving ``cluster`` to (``index``, ``frozen``) would put there."""
        frozen = self.overrides_from(frozen)
        if index == self._latest and not frozen:
            return self._desired.get(cluster)
        share = self.share(cluster, index, frozen)
        return share.version if share is not None else None


def _rolling_decision(
    *,
    placement: Placement,
    key: str,
    inputs: HubInputs,
    sched: Schedule,
    records: Mapping[str, BindingRecord],
    desired: Mapping[str, str],
    now: datetime,
) -> RolloutDecision:
    """RollingUpdate over every binding, gated by the readiness its agent reports."""
    rollout: list[RolloutBinding] = []
    for b in sched.bindings:
        rec = records.get(b.cluster)
        current = rec.version if rec is not None and rec.version else None
        wanted = desired.get(b.cluster, current) if b.selected else None
        if b.state == BindingState.SCHEDULED and wanted is None:
            continue  # nothing renderable for this cluster yet (its overrides failed)
        facts = ready_facts(current_report(inputs, b.cluster, key, rec))
        rollout.append(RolloutBinding(b.cluster, b.state, current, wanted, **facts))
    policy = placement.effective_policy
    target = target_number(
        policy.placement_type,
        len(policy.cluster_names),
        policy.number_of_clusters,
        sum(1 for b in sched.bindings if b.selected),
    )
    return plan_rolling_update(rollout, placement.strategy.rolling_update, target, now)


def _run_share(
    placement: Placement,
    key: str,
    spec: FleetSpec,
    record: SnapshotRecord,
    objects: Sequence[SelectedObject] | None,
    override_commit: str,
    older: SnapshotObjects,
    state: ClusterState,
    gate: Gate,
    digests: dict[str, str],
) -> OlderShare | None:
    """What a staged run moving ``state`` puts in its bundle when that is not this commit's
    newest render: the objects of snapshot ``record`` (``objects`` when it is the newest) with
    the overrides of the commit the run was initialized at (``override_commit``; "" or an
    unreadable one: this commit's), through the policy gate like any render. None (the cluster
    stays where it is) when the overrides fail or a policy blocks it."""
    if objects is None:
        try:
            objects = older(key, record)
        except SnapshotUnavailable:  # the run was failed for this already (rollout/staged/step.py)
            return None
    cros: Sequence[Override] = list(spec.cluster_overrides.values())
    ros: Sequence[Override] = list(spec.resource_overrides.values())
    if override_commit:
        try:
            cros, ros = older.overrides(override_commit)
        except SnapshotUnavailable as e:
            log.warning(
                "a staged run's frozen overrides cannot be read; applying this commit's",
                extra={"placement": key, "commit": override_commit, "error": str(e)},
            )
    prepared = prepare_overrides(objects, cros, ros, placement)
    result = encrypted.guard(
        apply_prepared(prepared, state.name, state.labels), prepared, state.name, spec.members.get(state.name)
    )
    if not result.ok:
        return None
    violations = gate.check(state, key, result, True)
    if any(v.blocking for v in violations):
        return None
    version = placement_version(placement, record.index, result, digests)
    return OlderShare(record.index, version, result, violations)


def _observed_selection(
    key: str,
    snapshots: Sequence[SnapshotRecord],
    records: Iterable[BindingRecord],
    latest: int,
    older: SnapshotObjects | None,
) -> Sequence[SelectedObject] | None:
    """KubeFleet's selectedResources for an External placement whose bound clusters all hold one
    older snapshot: that snapshot's objects (None: the newest selection stands)."""
    indexes = {r.resource_index for r in records if r.version}
    if len(indexes) != 1 or older is None:
        return None
    index = indexes.pop()
    record = next((s for s in snapshots if s.index == index), None)
    if index == latest or record is None:
        return None
    try:
        return older(key, record)
    except SnapshotUnavailable:
        return None


def _same_overrides(older: SnapshotObjects, commit: str, spec: FleetSpec) -> bool:
    """True when ``commit`` has the overrides ``spec`` has (where they are written aside)."""
    try:
        cros, ros = older.overrides(commit)
    except SnapshotUnavailable:
        return False

    def bare(items: Iterable[Override]) -> list[Override]:
        return sorted((replace(o, origin=Origin("", 0)) for o in items), key=lambda o: o.label)

    return bare(cros) == bare(spec.cluster_overrides.values()) and bare(ros) == bare(
        spec.resource_overrides.values()
    )
