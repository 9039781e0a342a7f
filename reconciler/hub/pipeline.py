"""The pure part of one hub reconcile: a loaded fleet commit and cluster state in, per-placement
stage results out — shared by the hub loop (reconciler/hub/loop.py) and ``fleetsync plan``.

The loop then renders bundles (carrying held-back clusters' files from their branches) and
writes refs; ``fleetsync plan`` runs the very same stages for two commits against the same hub
memory and cluster state and compares what each would put on every cluster. Keeping the stages
here, with no git access, is what makes the plan a preview of the hub and not a second opinion:
the hub's scheduler, override engine, policy gate and rollout planner decide both.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from reconciler.api.meta import Origin
from reconciler.api.override import Override
from reconciler.api.placement import Placement, RolloutStrategyType
from reconciler.hub.clusters import ClusterObservation, ClusterState, cluster_states
from reconciler.hub.evict import apply_evictions
from reconciler.hub.gate import Gate, reported_violations
from reconciler.hub.inputs import HubInputs
from reconciler.hub.outcome import OlderShare, Placed, current_report, ready_facts
from reconciler.hub.overrides import OverrideResult, apply_prepared, prepare_overrides
from reconciler.hub.render import PlacementOnCluster, bundle_placement
from reconciler.hub.select import SelectedObject, select_resources
from reconciler.hub.snapshots import SnapshotObjects, SnapshotUnavailable
from reconciler.hub.staged import staged_inputs
from reconciler.load.fleet import FleetSpec
from reconciler.rollout.eviction import BindingHealth
from reconciler.rollout.rolling import BindingState, RolloutBinding, plan_rolling_update, target_number
from reconciler.rollout.staged.approver import ApproverLookup
from reconciler.rollout.staged.step import step
from reconciler.scheduler.framework import schedule as default_schedule
from reconciler.scheduler.framework import scheduling_policy_hash
from reconciler.scheduler.model import Binding, ClusterScore, Schedule
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


def fleet_states(spec: FleetSpec, observations: Mapping[str, ClusterObservation], now: datetime,
                 ) -> tuple[ClusterState, ...]:
    """Every MemberCluster of ``spec`` with what its agent last said (the scheduler's view)."""
    return cluster_states(
        spec.members.values(), observations, now,
        heartbeat_timeout=spec.settings.heartbeat_timeout,
        health_timeout=spec.settings.unhealthy_window,
    )


def place_all(
    spec: FleetSpec, inputs: HubInputs, states: Sequence[ClusterState], commit: str, now: datetime,
    gate: Gate, schedule: ScheduleFn = default_schedule, approvers: ApproverLookup | None = None,
    older: SnapshotObjects | None = None,
) -> list[Placed]:
    """Every placement of ``spec`` through the stages, sorted by placement key.

    ``approvers`` (reconciler/rollout/staged/approver.py) says who approved each staged-run approval and
    whether it counts; without it (``plan``) an approval file counts as written. ``older``
    (reconciler/hub/snapshots.py) reads an older resource snapshot back for staged runs that
    roll one out; without it such a run fails, saying so.
    """
    return [place(spec.placements[k], k, spec, inputs, states, commit, now, schedule, gate, approvers, older)
            for k in sorted(spec.placements)]


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


def placement_version(placement: Placement, index: int, result: OverrideResult, digests: dict[str, str]) -> str:
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


def _score(record: BindingRecord) -> ClusterScore | None:
    if not record.score:
        return None
    return ClusterScore(record.score.get("priorityScore", 0), record.score.get("affinityScore", 0))


def place(
    placement: Placement, key: str, spec: FleetSpec, inputs: HubInputs, states: Sequence[ClusterState],
    commit: str, now: datetime, schedule: ScheduleFn, gate: Gate, approvers: ApproverLookup | None = None,
    older: SnapshotObjects | None = None,
) -> Placed:
    """One placement through select → evictions → schedule → overrides → gate → rollout.

    Reads only ``inputs`` (plain data; its hub memory is the starting point) and the gate,
    whose ``previous`` callable is the one place that may read old renders.
    """
    previous = inputs.memory.placements.get(key)
    selection = select_resources(placement, spec.resources)
    if selection.errors:  # KubeFleet: InvalidResourceSelectors, nothing moves
        memory = previous or PlacementMemory(key)
        return Placed(placement, memory, None, selection.errors, selection.objects)
    snapshots = next_snapshots(previous, selection.hash, placement.revision_history_limit, commit)
    latest = snapshots[-1].index
    policy_hash, policy_index = next_policy(previous, scheduling_policy_hash(placement))
    records = {b.cluster: b for b in previous.bindings} if previous else {}
    prior = [Binding(r.cluster, r.state, r.policy_hash, _score(r),
                     BindingState(r.previous_state) if r.previous_state else None) for r in records.values()]
    health = {c: BindingHealth(**{k: v for k, v in ready_facts(current_report(inputs, c, key, r)).items()
                                  if k in ("available", "failed", "diff_reported")}) for c, r in records.items()}
    evicted = apply_evictions([e for e in spec.evictions.values() if e.placement_key == key], placement, prior,
                              health, spec.budgets.get(placement.name) if not placement.namespaced else None,
                              inputs.previous_doc, now)
    gone = {b.cluster for b in prior} - {b.cluster for b in evicted.bindings}
    records = {c: r for c, r in records.items() if c not in gone}  # evicted: off the bundle
    sched = schedule(placement, states, list(evicted.bindings), policy_index, now)
    out = Placed(placement, PlacementMemory(key), sched, (), selection.objects, eviction_docs=evicted.docs)
    prepared = prepare_overrides(selection.objects, list(spec.cluster_overrides.values()),
                                 list(spec.resource_overrides.values()), placement)
    labels = {s.name: s.labels for s in states}
    by_name = {s.name: s for s in states}
    earlier = reported_violations(inputs.previous_doc(placement_path(key)))
    digests: dict[str, str] = {}
    for b in sched.bindings:
        if b.selected and b.cluster in labels:
            result = apply_prepared(prepared, b.cluster, labels[b.cluster])
            out.results[b.cluster] = result
            if not result.ok:
                continue
            version = placement_version(placement, latest, result, digests)
            rec = records.get(b.cluster)
            changing = rec is None or rec.version != version
            if inputs.memory.source_commit == commit and b.cluster in earlier:  # judged this commit before
                out.violations[b.cluster] = earlier[b.cluster]
            else:
                out.violations[b.cluster] = gate.check(by_name[b.cluster], key, result, changing)
            if changing and any(v.blocking for v in out.violations[b.cluster]):
                continue  # held on its previous bundle for this placement
            out.desired[b.cluster] = version
    rollout: list[RolloutBinding] = []
    for b in sched.bindings:
        rec = records.get(b.cluster)
        current = rec.version if rec is not None and rec.version else None
        desired = out.desired.get(b.cluster, current) if b.selected else None
        if b.state == BindingState.SCHEDULED and desired is None:
            continue  # nothing renderable for this cluster yet (its overrides failed)
        facts = ready_facts(current_report(inputs, b.cluster, key, rec))
        rollout.append(RolloutBinding(b.cluster, b.state, current, desired, **facts))
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
                    shares[k] = _run_share(placement, key, spec, snaps[index],
                                           selection.objects if index == latest else None, frozen, older,
                                           by_name[cluster], gate, digests)
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
                return out.desired.get(cluster)
            share = share_of(cluster, index, frozen)
            return share.version if share is not None else None

        external = step(staged_inputs(
            placement, sched, PlacementMemory(key, policy_hash, policy_index, snapshots, tuple(records.values())),
            spec, labels, out.results,
            lambda c, r: current_report(inputs, c, key, r), inputs.previous_doc, now,
            approvers=approvers, older=older, commit=commit, target=run_version,
        ))
        decision, out.run_files = external.decision, external.files
        for cluster, run_target in sorted(external.targets.items()):
            frozen = overrides_from(run_target.override_commit)
            if run_target.index == latest and not frozen:
                continue  # this commit's render, like any move
            share = share_of(cluster, run_target.index, frozen)
            if share is None:
                unrendered.add(cluster)
            else:
                out.older[cluster] = share
                out.violations[cluster] = share.violations
        out.observed_selected = _observed_selection(key, snapshots, records.values(), latest, older)
    else:
        policy = placement.effective_policy
        target = target_number(policy.placement_type, len(policy.cluster_names), policy.number_of_clusters,
                               sum(1 for b in sched.bindings if b.selected))
        decision = plan_rolling_update(rollout, strategy.rolling_update, target, now)
    out.decision = decision
    moved, removed = set(decision.bind) | set(decision.update), set(decision.remove)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    bindings: list[BindingRecord] = []
    for b in sched.bindings:
        rec = records.get(b.cluster)
        if b.cluster in removed or (b.state == BindingState.UNSCHEDULED and (rec is None or not rec.version)):
            continue
        score = {"affinityScore": b.score.affinity, "priorityScore": b.score.topology_spread} if b.score else {}
        base = BindingRecord(
            b.cluster, b.state, policy_index if b.policy_hash == policy_hash else (rec.policy_index if rec else 0),
            b.policy_hash, rec.resource_index if rec else None, rec.version if rec else "", score,
            str(b.previous_state) if b.previous_state else "", rec.first_seen if rec else stamp,
            rec.bound_time if rec else "",
        )
        if b.cluster in moved and (share := out.older.get(b.cluster)) is not None:
            base = BindingRecord(b.cluster, BindingState.BOUND, base.policy_index, b.policy_hash, share.index,
                                 share.version, score, base.previous_state, base.first_seen, stamp)
        elif b.cluster in moved and b.cluster not in unrendered and b.cluster in out.desired:
            base = BindingRecord(b.cluster, BindingState.BOUND, base.policy_index, b.policy_hash, latest,
                                 out.desired[b.cluster], score, base.previous_state, base.first_seen, stamp)
        bindings.append(base)
    out.memory = PlacementMemory(key, policy_hash, policy_index, snapshots, tuple(bindings), evicted.executed)
    return out


def _run_share(
    placement: Placement, key: str, spec: FleetSpec, record: SnapshotRecord,
    objects: Sequence[SelectedObject] | None, override_commit: str, older: SnapshotObjects,
    state: ClusterState, gate: Gate, digests: dict[str, str],
) -> OlderShare | None:
    """What a staged run moving ``state`` puts in its bundle when that is not this commit's
    newest render: the objects of snapshot ``record`` (``objects`` when it is the newest) with
    the overrides of the commit the run was initialized at (``override_commit``; "" or an
    unreadable one: this commit's), through the policy gate like any render. None (the cluster
    stays where it is) when the overrides fail or a policy blocks it."""
    if objects is None:
        try:
            objects = older(key, record)
        except SnapshotUnavailable:  # the run was failed for this already (hubstaged.plan_runs)
            return None
    cros: Sequence[Override] = list(spec.cluster_overrides.values())
    ros: Sequence[Override] = list(spec.resource_overrides.values())
    if override_commit:
        try:
            cros, ros = older.overrides(override_commit)
        except SnapshotUnavailable as e:
            log.warning("a staged run's frozen overrides cannot be read; applying this commit's",
                        extra={"placement": key, "commit": override_commit, "error": str(e)})
    result = apply_prepared(prepare_overrides(objects, cros, ros, placement), state.name, state.labels)
    if not result.ok:
        return None
    violations = gate.check(state, key, result, True)
    if any(v.blocking for v in violations):
        return None
    version = placement_version(placement, record.index, result, digests)
    return OlderShare(record.index, version, result, violations)


def _observed_selection(
    key: str, snapshots: Sequence[SnapshotRecord], records: Iterable[BindingRecord], latest: int,
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

    return bare(cros) == bare(spec.cluster_overrides.values()) and bare(ros) == bare(spec.resource_overrides.values())
