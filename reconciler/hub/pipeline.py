"""The pure part of one hub reconcile: a loaded fleet commit and cluster state in, per-placement
stage results out — shared by the hub loop (reconciler/hub/loop.py) and ``fleetsync plan``.

The loop then renders bundles (carrying held-back clusters' files from their branches) and
writes refs; ``fleetsync plan`` runs the very same stages for two commits against the same hub
memory and cluster state and compares what each would put on every cluster. Keeping the stages
here, with no git access, is what makes the plan a preview of the hub and not a second opinion:
the hub's scheduler, override engine, policy gate and rollout planner decide both.

``place`` reads as the stage list of design.md §6 — select → snapshot → evict → schedule →
override, then the policy gate, the rollout and the binding transition — each stage a function
called with keyword arguments that returns a frozen result, and the next stage reads only those
results and ``Reconcile`` (the inputs shared by every placement of one reconcile). Nothing is
filled in behind a stage's back, so a stage can be read, tested and profiled alone, and the only
per-placement state that crosses stages, the version digests, is passed in the open.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from reconciler.api.meta import Origin
from reconciler.api.override import Override
from reconciler.api.placement import Placement, RolloutStrategyType
from reconciler.hub.bindings import Move, next_binding
from reconciler.hub.clusters import ClusterObservation, ClusterState, cluster_states
from reconciler.hub.evict import PlacementEvictions, evict
from reconciler.hub.gate import Gate, reported_violations
from reconciler.hub.inputs import HubInputs
from reconciler.hub.outcome import OlderShare, Placed, current_report, ready_facts
from reconciler.hub.overrides import OverrideResult, apply_prepared, prepare_overrides
from reconciler.hub.render import PlacementOnCluster, bundle_placement
from reconciler.hub.select import SelectedObject, Selection, select_resources
from reconciler.hub.snapshots import SnapshotObjects, SnapshotUnavailable
from reconciler.hub.staged import staged_inputs
from reconciler.load.fleet import FleetSpec
from reconciler.policy.gate import Violation
from reconciler.rollout.rolling import (
    BindingState,
    RolloutBinding,
    RolloutDecision,
    plan_rolling_update,
    target_number,
)
from reconciler.rollout.staged.approver import ApproverLookup
from reconciler.rollout.staged.step import step
from reconciler.scheduler.framework import schedule as default_schedule
from reconciler.scheduler.framework import scheduling_policy_hash
from reconciler.scheduler.model import Binding, Schedule
from reconciler.status.memory import (
    BindingRecord,
    PlacementMemory,
    SnapshotRecord,
    next_policy,
    next_snapshots,
)
from reconciler.status.views import placement_path

log = logging.getLogger(__name__)

ScheduleFn = Callable[[Placement, Sequence[ClusterState], Sequence[Binding], int, datetime], Schedule]


def fleet_states(
    spec: FleetSpec,
    observations: Mapping[str, ClusterObservation],
    now: datetime,
) -> tuple[ClusterState, ...]:
    """Every MemberCluster of ``spec`` with what its agent last said (the scheduler's view)."""
    return cluster_states(
        spec.members.values(),
        observations,
        now,
        heartbeat_timeout=spec.settings.heartbeat_timeout,
        health_timeout=spec.settings.unhealthy_window,
    )


def place_all(
    spec: FleetSpec,
    inputs: HubInputs,
    states: Sequence[ClusterState],
    commit: str,
    now: datetime,
    gate: Gate,
    schedule: ScheduleFn = default_schedule,
    approvers: ApproverLookup | None = None,
    older: SnapshotObjects | None = None,
) -> list[Placed]:
    """Every placement of ``spec`` through the stages, sorted by placement key.

    ``approvers`` (reconciler/rollout/staged/approver.py) says who approved each staged-run approval and
    whether it counts; without it (``plan``) an approval file counts as written. ``older``
    (reconciler/hub/snapshots.py) reads an older resource snapshot back for staged runs that
    roll one out; without it such a run fails, saying so.
    """
    ctx = Reconcile(
        spec=spec,
        inputs=inputs,
        states=states,
        by_name={s.name: s for s in states},
        labels={s.name: s.labels for s in states},
        commit=commit,
        now=now,
        gate=gate,
        schedule=schedule,
        approvers=approvers,
        older=older,
    )
    return [place(placement=spec.placements[k], key=k, ctx=ctx) for k in sorted(spec.placements)]


def desired_shares(placed: Sequence[Placed], cluster: str) -> list[PlacementOnCluster]:
    """What ``cluster`` gets once every rollout has finished: each placement that selects it,
    at the newest snapshot, with this commit's overridden objects (held-back clusters and
    policy-blocked updates included: this is the destination, not the next step) — or, where
    a staged run moves it to an older snapshot or with its frozen overrides, that render."""
    out: list[PlacementOnCluster] = []
    for p in placed:
        if p.schedule is None:
            continue
        older = p.older.get(cluster)
        if older is not None:  # a staged run's other render (a rollback, or its frozen overrides)
            out.append(PlacementOnCluster(p.placement, older.index, older.result.objects))
            continue
        result = p.results.get(cluster)
        if result is None or not result.ok:
            continue
        latest = p.memory.latest
        out.append(PlacementOnCluster(p.placement, latest.index if latest else 0, result.objects))
    return out


def placement_version(
    placement: Placement, index: int, result: OverrideResult, digests: dict[str, str]
) -> str:
    """Everything a placement puts in one cluster's bundle, as a hash: its bundle.yaml entry
    (snapshot index, apply strategy) and the overridden objects. Equal versions, equal files.

    ``digests`` (one per placement per pass) keeps the digest of each object no override
    touched, by its snapshot index and identity: within a placement those name its content,
    so every cluster after the first reuses it. A patched manifest is digested directly."""
    entry = bundle_placement(placement, index).to_dict()
    h = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode() + b"\0")
    for obj in result.objects:
        envelope = f"{obj.envelope.kind}/{obj.envelope.namespace}/{obj.envelope.name}" if obj.envelope else ""
        key = f"{index}\0{obj.identity}\0{envelope}"
        d = None if obj.patched else digests.get(key)
        if d is None:
            text = json.dumps(obj.manifest, sort_keys=True, separators=(",", ":"), default=str)
            d = hashlib.sha256(text.encode()).hexdigest()
            if not obj.patched:
                digests[key] = d
        h.update(f"{obj.identity}\0{d}\0".encode())
        if obj.envelope is not None:
            h.update(f"{obj.envelope.kind}/{obj.envelope.namespace}/{obj.envelope.name}\0".encode())
    h.update("\0".join(result.deleted).encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Reconcile:
    """What every placement of one reconcile is placed against: the stages' shared inputs."""

    spec: FleetSpec
    inputs: HubInputs  # plain data; its hub memory is every placement's starting point
    states: Sequence[ClusterState]
    by_name: Mapping[str, ClusterState]
    labels: Mapping[str, Mapping[str, str]]  # cluster -> its labels (what overrides and staged runs match)
    commit: str
    now: datetime
    gate: Gate  # the one place that may read old renders (through ``inputs.previous_doc``)
    schedule: ScheduleFn
    approvers: ApproverLookup | None = None
    older: SnapshotObjects | None = None


@dataclass(frozen=True, slots=True)
class Snapshots:
    """The snapshot stage's result: the resource snapshot history and the policy snapshot."""

    history: tuple[SnapshotRecord, ...]  # oldest first; the last one holds this commit's selection
    policy_hash: str
    policy_index: int

    @property
    def latest(self) -> int:
        return self.history[-1].index


@dataclass(frozen=True, slots=True)
class Overridden:
    """The override stage's result: what every selected cluster gets from this commit."""

    results: Mapping[str, OverrideResult]  # selected cluster -> its objects, or its override failure
    versions: Mapping[str, str]  # cluster whose overrides succeeded -> ``placement_version`` of its render


@dataclass(frozen=True, slots=True)
class Gated:
    """The policy gate stage's result."""

    violations: Mapping[str, tuple[Violation, ...]]  # cluster -> what the gate found in its render
    desired: Mapping[str, str]  # cluster -> the newest version it may move to (blocked changes left out)


@dataclass(frozen=True, slots=True)
class RolledOut:
    """The rollout stage's result: who moves now, and for staged runs what they move to."""

    decision: RolloutDecision
    violations: Mapping[str, tuple[Violation, ...]]  # the gate's, with staged runs' other renders' own
    older: Mapping[str, OlderShare]  # staged runs: cluster -> its render when not this commit's newest
    unrendered: frozenset[str]  # a staged run moves it, but its render failed: it stays
    run_files: Mapping[str, bytes]  # staged runs' status files
    observed_selected: Sequence[SelectedObject] | None  # External, all on one older snapshot: its objects


def place(*, placement: Placement, key: str, ctx: Reconcile) -> Placed:
    """One placement through select → snapshot → evict → schedule → override → gate → rollout,
    then what its bindings become. Reads only ``ctx`` (plain data and the gate)."""
    previous = ctx.inputs.memory.placements.get(key)
    selection = select_resources(placement, ctx.spec.resources)
    if selection.errors:  # KubeFleet: InvalidResourceSelectors, nothing moves
        return Placed(
            placement=placement,
            memory=previous or PlacementMemory(key),
            schedule=None,
            selection_errors=selection.errors,
            selected=selection.objects,
        )
    snapshot = take_snapshots(placement=placement, previous=previous, selection=selection, commit=ctx.commit)
    evicted = evict(
        key=key, placement=placement, spec=ctx.spec, inputs=ctx.inputs, previous=previous, now=ctx.now
    )
    sched = ctx.schedule(placement, ctx.states, list(evicted.bindings), snapshot.policy_index, ctx.now)
    digests: dict[str, str] = {}
    overridden = override(
        placement=placement,
        ctx=ctx,
        selection=selection,
        sched=sched,
        latest=snapshot.latest,
        digests=digests,
    )
    gated = check_policies(key=key, ctx=ctx, overridden=overridden, records=evicted.records)
    rolled = roll_out(
        placement=placement,
        key=key,
        ctx=ctx,
        selection=selection,
        snapshot=snapshot,
        evicted=evicted,
        sched=sched,
        overridden=overridden,
        gated=gated,
        digests=digests,
    )
    memory = bind(
        key=key, sched=sched, snapshot=snapshot, evicted=evicted, gated=gated, rolled=rolled, now=ctx.now
    )
    return Placed(
        placement=placement,
        memory=memory,
        schedule=sched,
        selection_errors=(),
        selected=selection.objects,
        results=overridden.results,
        desired=gated.desired,
        decision=rolled.decision,
        eviction_docs=evicted.docs,
        run_files=rolled.run_files,
        violations=rolled.violations,
        older=rolled.older,
        observed_selected=rolled.observed_selected,
    )


def take_snapshots(
    *,
    placement: Placement,
    previous: PlacementMemory | None,
    selection: Selection,
    commit: str,
) -> Snapshots:
    """KubeFleet's snapshots: a new resource snapshot index when the selection's hash changed, a
    new policy snapshot index when the scheduling policy's did."""
    policy_hash, policy_index = next_policy(previous, scheduling_policy_hash(placement))
    return Snapshots(
        history=next_snapshots(previous, selection.hash, placement.revision_history_limit, commit),
        policy_hash=policy_hash,
        policy_index=policy_index,
    )


def override(
    *,
    placement: Placement,
    ctx: Reconcile,
    selection: Selection,
    sched: Schedule,
    latest: int,
    digests: dict[str, str],
) -> Overridden:
    """This commit's overrides on every selected cluster (envelopes unwrapped once per placement)."""
    prepared = prepare_overrides(
        selection.objects,
        list(ctx.spec.cluster_overrides.values()),
        list(ctx.spec.resource_overrides.values()),
        placement,
    )
    results: dict[str, OverrideResult] = {}
    versions: dict[str, str] = {}
    for b in sched.bindings:
        if b.selected and b.cluster in ctx.by_name:
            result = results[b.cluster] = apply_prepared(prepared, b.cluster, ctx.labels[b.cluster])
            if result.ok:
                versions[b.cluster] = placement_version(placement, latest, result, digests)
    return Overridden(results=results, versions=versions)


def check_policies(
    *,
    key: str,
    ctx: Reconcile,
    overridden: Overridden,
    records: Mapping[str, BindingRecord],
) -> Gated:
    """The policy gate on every render that overrides produced. A commit judged before keeps its
    verdicts; a blocking violation holds a *changing* cluster on its previous bundle for this
    placement (an unchanged render stays, whatever the policies say now)."""
    earlier = reported_violations(ctx.inputs.previous_doc(placement_path(key)))
    judged = ctx.inputs.memory.source_commit == ctx.commit
    violations: dict[str, tuple[Violation, ...]] = {}
    desired: dict[str, str] = {}
    for cluster, version in overridden.versions.items():
        rec = records.get(cluster)
        changing = rec is None or rec.version != version
        if judged and cluster in earlier:  # judged this commit before
            violations[cluster] = earlier[cluster]
        else:
            violations[cluster] = ctx.gate.check(
                ctx.by_name[cluster], key, overridden.results[cluster], changing
            )
        if changing and any(v.blocking for v in violations[cluster]):
            continue  # held on its previous bundle for this placement
        desired[cluster] = version
    return Gated(violations=violations, desired=desired)


def roll_out(  # noqa: C901
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
    spec, inputs, commit, now, gate, approvers, older = (
        ctx.spec,
        ctx.inputs,
        ctx.commit,
        ctx.now,
        ctx.gate,
        ctx.approvers,
        ctx.older,
    )
    snapshots, latest = snapshot.history, snapshot.latest
    policy_hash, policy_index = snapshot.policy_hash, snapshot.policy_index
    records, by_name, labels = evicted.records, ctx.by_name, ctx.labels
    results, desired = overridden.results, gated.desired
    violations = dict(gated.violations)
    others: dict[str, OlderShare] = {}
    run_files: Mapping[str, bytes] = {}
    observed: Sequence[SelectedObject] | None = None
    strategy = placement.strategy
    unrendered: set[str] = set()  # a staged run moves it, but its render failed: it stays
    if strategy.type == RolloutStrategyType.EXTERNAL:
        snaps = {s.index: s for s in snapshots}
        shares: dict[tuple[str, int, str], OlderShare | None] = {}

        def share_of(cluster: str, index: int, frozen: str) -> OlderShare | None:
            k = (cluster, index, frozen)
            if k not in shares:
                shares[k] = None
                if older is not None and cluster in by_name and index in snaps:
                    shares[k] = _run_share(
                        placement,
                        key,
                        spec,
                        snaps[index],
                        selection.objects if index == latest else None,
                        frozen,
                        older,
                        by_name[cluster],
                        gate,
                        digests,
                    )
            return shares[k]

        same: dict[str, bool] = {}

        def overrides_from(frozen: str) -> str:
            """The commit whose overrides a run applies; "" when they are this commit's."""
            if not frozen or frozen == commit or older is None:
                return ""
            if frozen not in same:
                same[frozen] = _same_overrides(older, frozen, spec)
            return "" if same[frozen] else frozen

        def run_version(cluster: str, index: int, frozen: str) -> str | None:
            frozen = overrides_from(frozen)
            if index == latest and not frozen:
                return desired.get(cluster)
            share = share_of(cluster, index, frozen)
            return share.version if share is not None else None

        external = step(
            staged_inputs(
                placement,
                sched,
                PlacementMemory(key, policy_hash, policy_index, snapshots, tuple(records.values())),
                spec,
                labels,
                results,
                lambda c, r: current_report(inputs, c, key, r),
                inputs.previous_doc,
                now,
                approvers=approvers,
                older=older,
                commit=commit,
                target=run_version,
            )
        )
        decision, run_files = external.decision, external.files
        for cluster, run_target in sorted(external.targets.items()):
            frozen = overrides_from(run_target.override_commit)
            if run_target.index == latest and not frozen:
                continue  # this commit's render, like any move
            share = share_of(cluster, run_target.index, frozen)
            if share is None:
                unrendered.add(cluster)
            else:
                others[cluster] = share
                violations[cluster] = share.violations
        observed = _observed_selection(key, snapshots, records.values(), latest, older)
    else:
        decision = _rolling_decision(
            placement=placement,
            key=key,
            inputs=inputs,
            sched=sched,
            records=records,
            desired=desired,
            now=now,
        )
    return RolledOut(
        decision=decision,
        violations=violations,
        older=others,
        unrendered=frozenset(unrendered),
        run_files=run_files,
        observed_selected=observed,
    )


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


def bind(
    *,
    key: str,
    sched: Schedule,
    snapshot: Snapshots,
    evicted: PlacementEvictions,
    gated: Gated,
    rolled: RolledOut,
    now: datetime,
) -> PlacementMemory:
    """The placement's hub memory after this reconcile: every cluster's binding transition
    (reconciler/hub/bindings.py), moved to what the rollout moves it to."""
    decision = rolled.decision
    moved, removed = set(decision.bind) | set(decision.update), set(decision.remove)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    bindings: list[BindingRecord] = []
    for b in sched.bindings:
        move: Move | None = None
        if b.cluster in moved:
            if (share := rolled.older.get(b.cluster)) is not None:
                move = Move(resource_index=share.index, version=share.version)
            elif b.cluster not in rolled.unrendered and b.cluster in gated.desired:
                move = Move(resource_index=snapshot.latest, version=gated.desired[b.cluster])
        record = next_binding(
            binding=b,
            record=evicted.records.get(b.cluster),
            policy_hash=snapshot.policy_hash,
            policy_index=snapshot.policy_index,
            removed=b.cluster in removed,
            move=move,
            stamp=stamp,
        )
        if record is not None:
            bindings.append(record)
    return PlacementMemory(
        key, snapshot.policy_hash, snapshot.policy_index, snapshot.history, tuple(bindings), evicted.executed
    )


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
    result = apply_prepared(prepare_overrides(objects, cros, ros, placement), state.name, state.labels)
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
