"""The one place that sequences the hub: a fleet commit, reports and the clock in, refs out.

``reconcile_once`` reads (reconciler/hubinputs.py) the newest fleet commit, the status branch
(the hub's memory), every bundle branch, report branch and heartbeat ref; then runs the stages
in order — load → clusters → per placement: select + snapshot → evictions (hubevict.py) →
schedule → overrides → policy gate (hubgate.py) → rollout (RollingUpdate, or the staged runs
of hubstaged.py for External) — then render per cluster and status — and publishes only the bundle branches whose bundle id changed plus the status branch,
in ONE atomic update (reconciler/gitrepo.py). When no input changed nothing is written: every
stage is deterministic and status times move only on change, so the rendered bytes are equal
and the comparison against what is on the branches finds nothing to do.

If another hub moved a ref meanwhile, the update is refused as a whole (``RefRace``); the loop
re-reads everything and recomputes, up to ``max_attempts`` times. A commit that does not load
is recorded in ``status.yaml`` (``lastLoad``) and changes nothing else. Rolling updates keep a
held-back cluster on exactly the files its bundle already has for that placement (read back
from its branch), so "old version" never needs an old commit to be re-rendered.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fleetsync_contract import BUNDLE_REF_PREFIX
from fleetsync_contract.bundle import MANIFEST_DIR, FileEntry
from fleetsync_contract.canonical import sha256_hex
from reconciler.api.placement import Placement, RolloutStrategyType
from reconciler.clusters import ClusterState, cluster_states
from reconciler.errors import Finding, UserError
from reconciler.eviction import BindingHealth
from reconciler.gitrepo import HubRepo, RefRace, RefUpdate
from reconciler.hubevict import apply_evictions, eviction_files
from reconciler.hubgate import Gate, PreviousRenders, reported_violations
from reconciler.hubinputs import STATUS_HEAD, HubInputs, LoadCache, observation, read_inputs
from reconciler.hubstaged import orphan_run_files, plan_runs
from reconciler.load import FleetSpec
from reconciler.memory import (
    STATUS_FILE,
    BindingRecord,
    BundleRecord,
    HubMemory,
    LoadRecord,
    PlacementMemory,
    dump_memory,
    load_hub_yaml,
    next_policy,
    next_snapshots,
    with_failed_load,
)
from reconciler.overrides import OverriddenObject, OverrideResult, apply_prepared, prepare_overrides
from reconciler.render import (
    ManifestCache,
    PlacementOnCluster,
    RenderedBundle,
    bundle_placement,
    removals_since,
    render_cluster,
)
from reconciler.rollout import (
    BindingState,
    RolloutBinding,
    plan_rolling_update,
    target_number,
)
from reconciler.scheduler.framework import schedule as default_schedule
from reconciler.scheduler.framework import scheduling_policy_hash
from reconciler.scheduler.model import Binding, ClusterScore, Schedule
from reconciler.select import select_resources
from reconciler.status import cluster_doc, cluster_path, placement_doc, placement_path, status_files
from reconciler.views import Placed, current_report, placement_view, ready_facts

log = logging.getLogger(__name__)

ScheduleFn = Callable[[Placement, Sequence[ClusterState], Sequence[Binding], int, datetime], Schedule]
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    source_commit: str
    loaded: bool
    findings: tuple[Finding, ...] = ()
    written: tuple[str, ...] = ()  # refs moved by this reconcile (empty: a no-op)
    attempts: int = 1
    requeue_after: timedelta | None = None  # a rollout wait ends then: reconcile again

    @property
    def noop(self) -> bool:
        return not self.written


# -- the entry point -----------------------------------------------------------------------------
def reconcile_once(
    repo: HubRepo,
    now: datetime,
    *,
    schedule: ScheduleFn = default_schedule,
    max_attempts: int = 3,
    progress: Progress | None = None,
    refresh: bool = True,
    cache: LoadCache | None = None,
) -> ReconcileResult:
    """One reconcile; retried from a fresh read when another hub wins the ref update.

    ``cache`` (kept by a long-running hub) remembers the last loaded trees, so a reconcile
    triggered by a report or a timer does not parse an unchanged fleet commit again.
    """
    say = progress or (lambda _msg: None)
    for attempt in range(1, max_attempts + 1):
        if refresh:
            say("fetching")
            repo.refresh()
        commit = repo.source_commit()
        if commit is None:
            raise UserError(f"the fleet repo has no branch {repo.branch!r}")
        say("reading hub refs")
        inputs = read_inputs(repo)
        updates, result = _reconcile(repo, inputs, commit, now, schedule, say, cache or LoadCache(0))
        try:
            say(f"publishing {len(updates)} ref(s)")
            repo.publish(updates)
        except RefRace as race:
            log.warning("another hub moved refs; re-reading", extra={"refs": list(race.refs), "attempt": attempt})
            if attempt == max_attempts or not refresh:
                raise
            continue
        log.info("reconciled", extra={"commit": commit, "written": [u.ref for u in updates], "attempt": attempt})
        return ReconcileResult(result.source_commit, result.loaded, result.findings,
                               tuple(u.ref for u in updates), attempt, result.requeue_after)
    raise AssertionError("unreachable")


def _reconcile(
    repo: HubRepo, inputs: HubInputs, commit: str, now: datetime, schedule: ScheduleFn, say: Progress,
    cache: LoadCache,
) -> tuple[list[RefUpdate], ReconcileResult]:
    say(f"loading {commit[:12]}")
    hit = cache.load(repo, commit)
    loaded = hit.result
    findings = loaded.findings + hit.notes
    if not loaded.ok:
        memory = with_failed_load(inputs.memory, commit, loaded.findings)
        files = dict(inputs.status_files)
        files[STATUS_FILE] = dump_memory(memory)
        updates = _status_update(repo, inputs, files, f"status: {commit[:12]} does not load", now)
        return updates, ReconcileResult(commit, False, findings)
    spec = loaded.spec
    say("scheduling")
    states = cluster_states(
        spec.members.values(),
        {c: observation(a) for c, a in inputs.agents.items()},
        now,
        heartbeat_timeout=spec.settings.heartbeat_timeout,
        health_timeout=spec.settings.unhealthy_window,
    )
    by_name = {s.name: s for s in states}
    gate = Gate(hit.policies, PreviousRenders(repo, inputs))
    placed = [_place(spec.placements[k], k, spec, inputs, states, commit, now, schedule, gate)
              for k in sorted(spec.placements)]
    say(f"rendering {len(by_name)} cluster bundle(s)")
    bundle_ids, records, updates = _render_bundles(repo, inputs, placed, by_name, spec, commit, now)
    say("writing status")
    placement_docs = [
        placement_doc(placement_view(p, inputs, bundle_ids), inputs.previous_doc(placement_path(p.memory.key)), now)
        for p in placed
    ]
    cluster_docs = [
        cluster_doc(s, inputs.agents[s.name].report if s.name in inputs.agents else None,
                    spec.members[s.name].heartbeat_period_seconds, inputs.previous_doc(cluster_path(s.name)), now)
        for s in states
    ]
    memory = HubMemory(commit, LoadRecord(commit, True, ()), {p.memory.key: p.memory for p in placed}, records)
    files = status_files(memory, placement_docs, cluster_docs)
    files.update(eviction_files(spec, [p.eviction_docs for p in placed], inputs.previous_doc, now))
    for p in placed:
        files.update(p.run_files)
    files.update(orphan_run_files(spec.runs, list(spec.placements), inputs.previous_doc, now))
    changed = sum(1 for u in updates)
    updates += _status_update(repo, inputs, files, f"status: {commit[:12]}, {changed} bundle(s) updated", now)
    waits = [p.decision.requeue_after for p in placed if p.decision and p.decision.requeue_after is not None]
    return updates, ReconcileResult(commit, True, findings, requeue_after=min(waits) if waits else None)


def _status_update(
    repo: HubRepo, inputs: HubInputs, files: Mapping[str, bytes], message: str, now: datetime
) -> list[RefUpdate]:
    if dict(files) == dict(inputs.status_files):
        return []
    parents = [inputs.status_commit] if inputs.status_commit else []
    new = repo.write_commit(repo.write_tree(files), parents, message, now)
    return [RefUpdate(STATUS_HEAD, new, inputs.status_commit)]


# -- per placement: select, schedule, override, roll out ------------------------------------------
def _version(placement: Placement, index: int, result: OverrideResult, digests: dict[int, str]) -> str:
    """Everything a placement puts in one cluster's bundle, as a hash: its bundle.yaml entry
    (snapshot index, apply strategy) and the overridden objects. Equal versions, equal files."""
    entry = bundle_placement(placement, index).to_dict()
    h = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode() + b"\0")
    for obj in result.objects:
        d = digests.get(id(obj.manifest))
        if d is None:
            text = json.dumps(obj.manifest, sort_keys=True, separators=(",", ":"), default=str)
            d = digests[id(obj.manifest)] = hashlib.sha256(text.encode()).hexdigest()
        h.update(f"{obj.identity}\0{d}\0".encode())
        if obj.envelope is not None:
            h.update(f"{obj.envelope.kind}/{obj.envelope.namespace}/{obj.envelope.name}\0".encode())
    h.update("\0".join(result.deleted).encode())
    return h.hexdigest()[:16]


def _score(record: BindingRecord) -> ClusterScore | None:
    if not record.score:
        return None
    return ClusterScore(record.score.get("priorityScore", 0), record.score.get("affinityScore", 0))


def _place(
    placement: Placement, key: str, spec: FleetSpec, inputs: HubInputs, states: Sequence[ClusterState],
    commit: str, now: datetime, schedule: ScheduleFn, gate: Gate,
) -> Placed:
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
    digests: dict[int, str] = {}
    for b in sched.bindings:
        if b.selected and b.cluster in labels:
            result = apply_prepared(prepared, b.cluster, labels[b.cluster])
            out.results[b.cluster] = result
            if not result.ok:
                continue
            version = _version(placement, latest, result, digests)
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
    if strategy.type == RolloutStrategyType.EXTERNAL:
        external = plan_runs(
            placement, sched, PlacementMemory(key, policy_hash, policy_index, snapshots, tuple(records.values())),
            spec.runs, spec.strategies, spec.approvals, labels, out.results,
            lambda c, r: current_report(inputs, c, key, r), inputs.previous_doc, latest, now,
        )
        decision, out.run_files = external.decision, external.files
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
        if b.cluster in moved and b.cluster in out.desired:
            base = BindingRecord(b.cluster, BindingState.BOUND, base.policy_index, b.policy_hash, latest,
                                 out.desired[b.cluster], score, base.previous_state, base.first_seen, stamp)
        bindings.append(base)
    out.memory = PlacementMemory(key, policy_hash, policy_index, snapshots, tuple(bindings), evicted.executed)
    return out


# -- per cluster: render and compare --------------------------------------------------------------
def _carried(repo: HubRepo, inputs: HubInputs, cluster: str, p: Placement, key: str) -> PlacementOnCluster | None:
    """This placement's share of the cluster's current bundle, exactly as it is on the branch."""
    prev = inputs.bundles.get(cluster)
    if prev is None:
        return None
    entry = next((bp for bp in prev.bundle.placements if bp.key == key), None)
    if entry is None:
        return None
    files = repo.read_files(prev.commit, f"manifests/{key}")
    objects: list[OverriddenObject] = []
    for fe in prev.bundle.files:
        if fe.placement != key or fe.path not in files:
            continue
        manifest = load_hub_yaml(files[fe.path])
        group, kind, namespace, name = fe.identity.split("/", 3)
        version = str(manifest.get("apiVersion", "")).rpartition("/")[2]
        objects.append(OverriddenObject(group, version, kind, namespace, name, manifest, fe.envelope))
    return PlacementOnCluster(p, entry.resource_index, objects)


def _render_bundles(
    repo: HubRepo, inputs: HubInputs, placed: Sequence[Placed], states: Mapping[str, ClusterState],
    spec: FleetSpec, commit: str, now: datetime,
) -> tuple[dict[str, str], dict[str, BundleRecord], list[RefUpdate]]:
    cache = ManifestCache()
    keys = {p.memory.key for p in placed}
    deleted = [k for k in inputs.memory.placements if k not in keys]
    records: dict[str, BundleRecord] = {}
    updates: list[RefUpdate] = []
    for cluster in sorted(states):
        prev = inputs.bundles.get(cluster)
        if prev is not None and _unchanged(inputs, placed, cluster, prev.commit, prev.bundle_id):
            records[cluster] = BundleRecord(prev.commit, prev.bundle_id)  # nothing to read or render
            continue
        shares: list[PlacementOnCluster] = []
        by_override: dict[str, tuple[str, ...]] = {}
        unselected: list[str] = []
        for p in placed:
            key = p.memory.key
            rec = p.memory.binding(cluster)
            if p.schedule is None:  # selection failed: the placement stays as it is everywhere
                share = _carried(repo, inputs, cluster, p.placement, key)
                if share is not None:
                    shares.append(share)
                continue
            if rec is None or not rec.version:
                previous = inputs.memory.placements.get(key)
                if previous is not None and (old := previous.binding(cluster)) is not None and old.version:
                    unselected.append(key)
                continue
            result = p.results.get(cluster)
            if rec.version == p.desired.get(cluster) and result is not None and rec.resource_index is not None:
                shares.append(PlacementOnCluster(p.placement, rec.resource_index, result.objects))
                by_override[key] = result.deleted
            else:
                share = _carried(repo, inputs, cluster, p.placement, key)
                if share is None and result is not None and result.ok and rec.resource_index is not None:
                    share = PlacementOnCluster(p.placement, rec.resource_index, result.objects)
                if share is not None:
                    shares.append(share)
        if prev is None and not shares:
            continue
        rendered = render_cluster(cluster, commit, shares, (), cache)  # removals are not in the id
        if prev is not None and prev.bundle_id == rendered.bundle_id:
            records[cluster] = BundleRecord(prev.commit, prev.bundle_id)
            continue
        removals = removals_since(prev.bundle if prev else None, shares, deleted_by_override=by_override,
                                  unselected=unselected, deleted_placements=deleted)
        if removals:
            rendered = render_cluster(cluster, commit, shares, removals, cache)
        message = _bundle_message(cluster, rendered, prev.bundle.files if prev else (), commit)
        new = repo.write_commit(repo.write_tree(rendered.files), [prev.commit] if prev else [], message, now)
        updates.append(RefUpdate(f"refs/heads/{BUNDLE_REF_PREFIX}{cluster}", new, prev.commit if prev else None))
        records[cluster] = BundleRecord(new, rendered.bundle_id)
    for cluster, prev in inputs.bundles.items():  # left the fleet: branch untouched, id as it is
        records.setdefault(cluster, BundleRecord(prev.commit, prev.bundle_id))
    return {c: r.bundle_id for c, r in records.items()}, records, updates


def _unchanged(inputs: HubInputs, placed: Sequence[Placed], cluster: str, commit: str, bundle_id: str) -> bool:
    """True when every placement holds the same version on ``cluster`` as when the hub last wrote
    its branch (and nobody else wrote it since): the bundle would render to the same bytes."""
    if inputs.memory.bundles.get(cluster) != BundleRecord(commit, bundle_id):
        return False
    before = {(k, b.version) for k, p in inputs.memory.placements.items()
              if (b := p.binding(cluster)) is not None and b.version}
    after = {(p.memory.key, b.version) for p in placed if (b := p.memory.binding(cluster)) is not None and b.version}
    return before == after


def _bundle_message(cluster: str, rendered: RenderedBundle, before: Sequence[FileEntry], commit: str) -> str:
    old = {f.path: f.sha256 for f in before}
    new = {p: sha256_hex(data) for p, data in rendered.files.items() if p.startswith(MANIFEST_DIR)}
    added = sum(1 for p in new if p not in old)
    changed = sum(1 for p in new if p in old and old[p] != new[p])
    removed = sum(1 for p in old if p not in new)
    return (f"{cluster}: {rendered.bundle_id[:19]} from {commit[:12]} "
            f"(+{added} ~{changed} -{removed}, {len(new)} objects)")
