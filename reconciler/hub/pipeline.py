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
results and ``Reconcile`` (the inputs shared by every placement of one reconcile; it and the
results of the stages before the rollout are in reconciler/hub/stages.py). Nothing is filled in behind a stage's back, so a stage can be read,
tested and profiled alone, and the only per-placement state that crosses stages, the version
digests, is passed in the open. The rollout stage, the one that reads older snapshots back for
staged runs, is reconciler/hub/rollout.py; a render's version is ``placement_version`` in
reconciler/hub/render.py.

Before any of that, ``isolate`` decides what of the commit is rendered: an object that fails
(or a file that does not parse, or an update KubeFleet refuses) keeps its last good state
(reconciler/load/lastgood.py), and a placement whose definition failed goes through ``hold``
instead of ``place``: nothing of it moves, and its status says why (docs/hub.md, "Failure
isolation").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from reconciler.api.placement import Placement, RolloutStrategyType
from reconciler.errors import Finding
from reconciler.hub.bindings import Move, next_binding
from reconciler.hub.clusters import ClusterObservation, ClusterState, cluster_states
from reconciler.hub.evict import PlacementEvictions, evict, eviction_path
from reconciler.hub.gate import Gate, reported_violations
from reconciler.hub.inputs import HubInputs
from reconciler.hub.outcome import Placed
from reconciler.hub.overrides import OverrideResult, apply_prepared, prepare_overrides
from reconciler.hub.render import PlacementOnCluster, placement_version
from reconciler.hub.rollout import RolledOut, roll_out
from reconciler.hub.select import Selection, select_resources
from reconciler.hub.snapshots import SnapshotObjects
from reconciler.hub.stages import Gated, Overridden, Reconcile, ScheduleFn, Snapshots
from reconciler.load.fleet import FleetSpec, LoadResult
from reconciler.load.immutability import refused_updates
from reconciler.load.lastgood import Isolated, LoadFn, keep_last_good, last_good_spec
from reconciler.load.validate import check_references
from reconciler.policy import encrypted
from reconciler.policy.gate import Violation
from reconciler.rollout.staged.approver import ApproverLookup
from reconciler.rollout.staged.documents import run_path
from reconciler.scheduler.framework import schedule as default_schedule
from reconciler.scheduler.framework import scheduling_policy_hash
from reconciler.scheduler.model import Schedule
from reconciler.status.memory import (
    BindingRecord,
    PlacementMemory,
    next_policy,
    next_snapshots,
)
from reconciler.status.views import placement_path
from reconciler.teams.boundaries import owner_key, team_states

MAX_REASONS = 5  # errors quoted in a held placement's condition (all are in lastLoad)
APPROVALS_DIR = "approvalrequests/"


def isolate(
    loaded: LoadResult, base: str, kept: Mapping[str, str], load: LoadFn
) -> tuple[Isolated, tuple[Finding, ...]]:
    """The commit the hub renders (docs/hub.md, "Failure isolation"): ``loaded`` with every
    failed object, object of a broken file, and object whose update KubeFleet refuses at its
    last good state (reconciler/load/lastgood.py), and the findings this adds to the load's:
    ``validate``'s reference checks and the refusals. ``base`` is the last rendered commit,
    ``kept`` its kept objects (``kept.yaml``), ``load`` reads a commit back."""
    found = tuple(check_references(loaded))
    isolated = keep_last_good(loaded, base, kept, load)
    if isolated.held:
        return (isolated if not loaded.held else replace(isolated, held=loaded.findings)), found
    before = last_good_spec(base, kept, load)  # judged against the last good state: stays refused
    refused = refused_updates(before, isolated.spec, documents=loaded.documents) if before else {}
    if not refused:
        return isolated, found
    refusals = tuple(f for why in refused.values() for f in why)
    return keep_last_good(loaded, base, kept, load, refused), found + refusals


def not_external(spec: FleetSpec) -> dict[str, str]:
    """Placement key -> strategy type of every placement a staged run cannot roll out."""
    return {
        k: str(p.strategy.type)
        for k, p in spec.placements.items()
        if p.strategy.type != RolloutStrategyType.EXTERNAL
    }


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
    frozen: Mapping[str, Sequence[Finding]] | None = None,
) -> list[Placed]:
    """Every placement of ``spec`` through the stages, sorted by placement key.

    ``frozen`` (reconciler/load/lastgood.py): placements whose newest definition failed to
    load; each keeps its last good render everywhere and says why (``hold``).

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
    frozen = frozen or {}
    return [
        hold(placement=spec.placements[k], key=k, ctx=ctx, errors=frozen[k])
        if k in frozen
        else place(placement=spec.placements[k], key=k, ctx=ctx)
        for k in sorted(spec.placements)
    ]


def hold(*, placement: Placement, key: str, ctx: Reconcile, errors: Sequence[Finding]) -> Placed:
    """A placement whose newest definition is invalid: like KubeFleet's InvalidResourceSelectors,
    nothing of it moves (its bindings, its bundles' files, the status of its staged runs, their
    approval requests and its evictions stay) and its Scheduled condition says why.
    ``placement`` is its last good definition."""
    why = "; ".join(str(f) for f in errors[:MAX_REASONS]) or "its definition does not load"
    evictions = {
        path: doc
        for e in ctx.spec.evictions.values()
        if e.placement_key == key
        and (doc := ctx.inputs.previous_doc(path := eviction_path(e.name))) is not None
    }
    return Placed(
        placement=placement,
        memory=ctx.inputs.memory.placements.get(key) or PlacementMemory(key),
        schedule=None,
        selection_errors=(f"the placement is invalid, so its last good render stays: {why}",),
        selected=(),
        eviction_docs=evictions,
        run_files=_run_files(key, ctx),
    )


def held_status(doc: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """A held placement's status document: what ``previous`` said (its clusters, selected
    resources, other conditions) with only the Scheduled condition of ``doc`` (the new one),
    as KubeFleet sets only that condition when it cannot use a placement's spec."""
    new_status = doc.get("status")
    old_status = (previous or {}).get("status")
    if not isinstance(new_status, Mapping) or not isinstance(old_status, Mapping):
        return dict(doc)
    scheduled = [
        c for c in new_status.get("conditions") or [] if str(c.get("type", "")).endswith("Scheduled")
    ]
    kept = [c for c in old_status.get("conditions") or [] if not str(c.get("type", "")).endswith("Scheduled")]
    return {**doc, "status": {**old_status, "conditions": scheduled + kept}}


def _run_files(key: str, ctx: Reconcile) -> dict[str, bytes]:
    """The status files of ``key``'s staged runs and their approval requests, as they are."""
    runs = {(r.namespace, r.name) for r in ctx.spec.runs.values() if r.placement_key == key}
    files = ctx.inputs.status_files
    out = {
        path: files[path]
        for r in ctx.spec.runs.values()
        if r.placement_key == key and (path := run_path(r.kind, r.namespace, r.name)) in files
    }
    for path in files:
        if not path.startswith(APPROVALS_DIR):
            continue
        doc = ctx.inputs.previous_doc(path) or {}
        meta, spec = doc.get("metadata"), doc.get("spec")
        if (
            isinstance(meta, Mapping)
            and isinstance(spec, Mapping)
            and (str(meta.get("namespace", "")), str(spec.get("parentStageRollout", ""))) in runs
        ):
            out[path] = files[path]
    return out


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
    states = team_states(ctx.spec, key, ctx.states)  # a team's placement: its clusters only
    sched = ctx.schedule(placement, states, list(evicted.bindings), snapshot.policy_index, ctx.now)
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
    memo = ctx.inputs.memo.overrides if ctx.inputs.memo is not None else None  # a long-running hub's
    for b in sched.bindings:
        if b.selected and b.cluster in ctx.by_name:
            result = results[b.cluster] = encrypted.guard(
                apply_prepared(prepared, b.cluster, ctx.labels[b.cluster], memo),
                prepared,
                b.cluster,
                ctx.spec.members.get(b.cluster),
            )
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
    # a team's render can change under the same fleet commit: judged afresh (the cache is by content)
    judged = (
        ctx.inputs.memory.source_commit == ctx.commit and owner_key("placements", key) not in ctx.spec.owners
    )
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
