"""The one place that sequences the hub: a fleet commit, reports and the clock in, refs out.

``reconcile_once`` reads (reconciler/hub/inputs.py) the newest fleet commit, the status branch
(the hub's memory), every bundle branch, report branch and heartbeat ref; then runs the stages
(their pure part is reconciler/hub/pipeline.py, shared with ``fleetsync plan``) in order —
load → clusters → per placement: select → snapshot → evict (hub/evict.py) → schedule →
override → policy gate (hub/gate.py) → rollout (RollingUpdate, or the staged runs behind
rollout/staged/step.py for External) → bindings — then render per cluster and status — and
publishes only the bundle branches whose bundle id changed plus the status branch, in ONE
atomic update (reconciler/gitstore/repo.py). When no input changed nothing is written: every
stage is deterministic and status times move only on change, so the rendered bytes are equal
and the comparison against what is on the branches finds nothing to do.

If another hub moved a ref meanwhile, the update is refused as a whole (``RefRace``); the loop
re-reads everything and recomputes, up to ``max_attempts`` times. A commit that does not load
is recorded in ``status.yaml`` (``lastLoad``) and changes nothing else; so is a commit that
``verify.commits: strict`` refuses (reconciler/gitstore/signatures.py). "Does not load" means a
repo-wide error (settings, size limits, cluster membership): an object or a file that fails, or
an object whose update KubeFleet would refuse (reconciler/load/immutability.py), keeps its last
good state and the rest of the commit renders (``isolate`` in reconciler/hub/pipeline.py,
docs/hub.md "Failure isolation"). Rolling updates keep a held-back cluster on exactly the files
its bundle already has for that placement (read back from its branch), so "old version" never
needs an old commit to be re-rendered.

A bundle branch whose tip no longer descends from the commit the hub last published there
(someone reset or rewrote it) is held: building on that tip would make its agent refuse every
bundle from then on. The hub writes nothing to it, records the published commit with an empty
bundle id (so the bundle is rendered afresh once the branch is restored) and says so on the
MemberCluster (reconciler/status/members.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fleetsync_contract import BUNDLE_REF_PREFIX
from fleetsync_contract.bundle import Bundle, BundleError, FileEntry, placement_digests
from reconciler.api.membercluster import LeaveMode
from reconciler.api.placement import Placement
from reconciler.errors import Finding, UserError
from reconciler.gitstore.lineage import trailers
from reconciler.gitstore.refs import RefRace, RefUpdate
from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.signatures import verify_commits
from reconciler.hub.clusters import ClusterState
from reconciler.hub.evict import eviction_files
from reconciler.hub.gate import Gate, PreviousRenders
from reconciler.hub.inputs import (
    STATUS_HEAD,
    HubInputs,
    commit_loader,
    kept_files,
    kept_objects,
    observation,
    read_inputs,
)
from reconciler.hub.outcome import Placed, placement_view
from reconciler.hub.overrides import OverriddenObject
from reconciler.hub.pipeline import fleet_states, held_status, isolate, not_external, place_all
from reconciler.hub.prunesafety import PruneGuard
from reconciler.hub.render import (
    ManifestCache,
    PlacementOnCluster,
    RenderedBundle,
    removals_since,
    render_cluster,
)
from reconciler.hub.session import HubSession
from reconciler.hub.stages import ScheduleFn
from reconciler.hub.teams import TeamLimits
from reconciler.hub.teamstatus import carry_status_errors
from reconciler.load.fleet import FleetSpec
from reconciler.rollout.staged.approver import git_approvers
from reconciler.rollout.staged.step import step_orphans
from reconciler.scheduler.framework import schedule as default_schedule
from reconciler.status.members import RewoundBranch, cluster_doc
from reconciler.status.memory import (
    STATUS_FILE,
    BindingRecord,
    BundleRecord,
    HubMemory,
    LoadRecord,
    dump_memory,
    load_hub_yaml,
    with_failed_load,
)
from reconciler.status.policysnapshots import snapshot_files
from reconciler.status.views import cluster_path, placement_doc, placement_path, status_files

log = logging.getLogger(__name__)

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
    session: HubSession | None = None,
) -> ReconcileResult:
    """One reconcile; retried from a fresh read when another hub wins the ref update.

    ``session`` (kept by a long-running hub; default: a fresh one, so nothing is remembered)
    holds every cache of the hub: loaded trees, parsed inputs, policy results, older snapshots,
    and lets a pass whose inputs did not change stop early (reconciler/hub/session.py).
    """
    say = progress or (lambda _msg: None)
    session = session if session is not None else HubSession()
    for attempt in range(1, max_attempts + 1):
        if refresh:
            say("fetching")
            repo.refresh()
        commit = repo.source_commit()
        if commit is None:
            raise UserError(f"the fleet repo has no branch {repo.branch!r}")
        teams_moved = session.teams.refresh(repo, refresh)  # team repos (reconciler/hub/teams.py)
        teams_moved = teams_moved or session.team_status.failing  # a team status push is retried
        say("reading hub refs")
        if not teams_moved and (quiet := session.quiet(repo, commit, now)) is not None:
            return ReconcileResult(commit, True, quiet, (), attempt, session.requeue_after(now))
        inputs = read_inputs(repo, session.inputs)
        with repo.batch():  # every object of this pass in one pack (reconciler/gitstore/objects.py)
            updates, result = _reconcile(repo, inputs, commit, now, schedule, say, session)
        try:
            say(f"publishing {len(updates)} ref(s)")
            repo.publish(updates)
        except RefRace as race:
            log.warning(
                "another hub moved refs; re-reading", extra={"refs": list(race.refs), "attempt": attempt}
            )
            if attempt == max_attempts or not refresh:
                raise
            continue
        session.settled(
            repo, commit, inputs, now, bool(updates), result.loaded, result.requeue_after, result.findings
        )
        session.team_status.publish(repo, now)  # best-effort, after the platform (hub/teamstatus.py)
        log.log(
            logging.INFO if updates else logging.DEBUG,  # an idle poll is no news
            "reconciled",
            extra={"commit": commit, "written": [u.ref for u in updates], "attempt": attempt},
        )
        return ReconcileResult(
            result.source_commit,
            result.loaded,
            result.findings,
            tuple(u.ref for u in updates),
            attempt,
            result.requeue_after,
        )
    raise AssertionError("unreachable")


def _reconcile(
    repo: HubRepo,
    inputs: HubInputs,
    commit: str,
    now: datetime,
    schedule: ScheduleFn,
    say: Progress,
    session: HubSession,
) -> tuple[list[RefUpdate], ReconcileResult]:
    held = verify_commits(repo, inputs.memory.source_commit, commit).finding()  # verify.commits
    if held is not None:  # an unsigned or unknown-signed commit: the last good render stays
        files = {
            **inputs.status_files,
            STATUS_FILE: dump_memory(with_failed_load(inputs.memory, commit, [held])),
        }
        updates = _status_update(repo, inputs, files, f"status: {commit[:12]} is not verified", now)
        return updates, ReconcileResult(commit, False, (held,))
    say(f"loading {commit[:12]}")
    hit = session.load(repo, commit)
    loaded = hit.result
    base, kept = inputs.memory.source_commit, kept_objects(inputs)
    isolated, found = isolate(loaded, base, kept, commit_loader(repo, session.loads))
    findings = loaded.findings + found + hit.notes
    spec = isolated.spec
    if isolated.held:
        memory = with_failed_load(inputs.memory, commit, isolated.held)
        files = dict(inputs.status_files)
        files[STATUS_FILE] = dump_memory(memory)
        updates = _status_update(repo, inputs, files, f"status: {commit[:12]} does not load", now)
        return updates, ReconcileResult(commit, False, findings)
    teamed = session.teams.compose(repo, inputs.memory, isolated)  # team repos (reconciler/hub/teams.py)
    isolated, spec = teamed.isolated, teamed.isolated.spec
    say("scheduling")
    states = fleet_states(spec, {c: observation(a) for c, a in inputs.agents.items()}, now)
    by_name = {s.name: s for s in states}
    gate = Gate(hit.policies, PreviousRenders(repo, inputs), session.policies)
    approvers = git_approvers(repo, commit, spec.settings.verify_approvals)  # who approved staged runs
    placed = place_all(
        spec,
        inputs,
        states,
        commit,
        now,
        gate,
        schedule,
        approvers,
        session.snapshot_reader(repo),
        frozen=isolated.frozen,
    )
    limits = TeamLimits(spec)  # a team over its spec.limits on a cluster keeps its bindings there
    placed = limits.hold(placed, inputs.memory)
    say(f"rendering {len(by_name)} cluster bundle(s)")
    leaving = [s.name for s in states if s.leave is LeaveMode.REMOVE]  # a leave confirms its emptying
    guard = PruneGuard(repo, inputs, commit, spec.settings.prune_max_share, leaving)  # the rest wait
    bundle_ids, records, updates, fresh = _render_bundles(
        repo, inputs, placed, by_name, spec, commit, now, guard
    )
    say("writing status")
    digests = _digests(inputs, fresh)
    placement_docs = [
        placement_doc(
            placement_view(p, inputs, bundle_ids, digests),
            inputs.previous_doc(placement_path(p.memory.key)),
            now,
        )
        for p in placed
    ]
    placement_docs = [  # a held placement: only its Scheduled condition changes
        held_status(d, inputs.previous_doc(placement_path(p.memory.key)))
        if p.memory.key in isolated.frozen
        else d
        for p, d in zip(placed, placement_docs, strict=True)
    ]
    cluster_docs = [
        cluster_doc(
            s,
            inputs.agents[s.name].report if s.name in inputs.agents else None,
            spec.members[s.name].heartbeat_period_seconds,
            inputs.previous_doc(cluster_path(s.name)),
            now,
            _rewound(inputs, s.name),
            bundle_ids.get(s.name, ""),
        )
        for s in states
    ]
    # errors (each object kept its last good state) and classified warnings (an override that
    # applies to nothing); not the export's notes
    failed = tuple(f for f in findings if f.severity == "error" or f.scope)
    memory = HubMemory(
        commit,
        LoadRecord(commit, True, failed),
        {p.memory.key: p.memory for p in placed},
        records,
        carry_status_errors(limits.records(teamed.records), inputs.memory),
    )
    files = status_files(memory, placement_docs, cluster_docs)
    files.update(
        snapshot_files(
            [(p.memory.key, p.placement, p.schedule) for p in placed],
            inputs.status_files,
            inputs.previous_doc,
            now,
            by_name,
        )
    )
    files.update(guard.status_files())
    files.update(kept_files(isolated.kept))
    files.update(eviction_files(spec, [p.eviction_docs for p in placed], inputs.previous_doc, now))
    for p in placed:
        files.update(p.run_files)
    files.update(
        step_orphans(spec.runs.values(), spec.placements, inputs.previous_doc, now, not_external(spec))
    )
    drifts = {c: a.drifts for c, a in inputs.agents.items()}  # each team's own view (hub/teamstatus.py)
    session.team_status.stage(spec, memory, files, drifts)
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
    if inputs.memo is not None:  # the next pass need not read back what this one wrote
        inputs.memo.status[new] = dict(files)
    return [RefUpdate(STATUS_HEAD, new, inputs.status_commit)]


# -- per cluster: render and compare --------------------------------------------------------------
def _carried(
    repo: HubRepo, inputs: HubInputs, cluster: str, p: Placement, key: str
) -> PlacementOnCluster | None:
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
    repo: HubRepo,
    inputs: HubInputs,
    placed: Sequence[Placed],
    states: Mapping[str, ClusterState],
    spec: FleetSpec,
    commit: str,
    now: datetime,
    guard: PruneGuard,
) -> tuple[dict[str, str], dict[str, BundleRecord], list[RefUpdate], dict[str, Bundle]]:
    """Render and write each cluster's bundle that changed: ids, records, ref updates, and the
    index of the bundles written in this pass (for the placement digests status reads)."""
    cache = inputs.memo.manifests if inputs.memo is not None else ManifestCache()
    begun = False  # the cache's pass begins with the first bundle rendered (a no-op keeps it whole)
    fresh: dict[str, Bundle] = {}
    keys = {p.memory.key for p in placed}
    deleted = [k for k in inputs.memory.placements if k not in keys]
    records: dict[str, BundleRecord] = {}
    updates: list[RefUpdate] = []
    for cluster in sorted(states):
        prev = inputs.bundles.get(cluster)
        member = spec.members.get(cluster)  # its heartbeat period travels in the bundle (memberCluster)
        period = member.heartbeat_period_seconds if member is not None else None
        if prev is not None and states[cluster].leave is LeaveMode.KEEP_RESOURCES:  # left, keeping
            records[cluster] = BundleRecord(prev.commit, prev.bundle_id, period)  # its objects: as gone
            continue
        if prev is not None and prev.published:  # reset under the hub: hold it (module docstring)
            records[cluster] = BundleRecord(prev.published, "", period)
            continue
        resign = prev is not None and repo.needs_signature(prev.commit)  # not signed by the hub's key
        if (
            prev is not None
            and not resign
            and not guard.held_before(cluster)
            and _unchanged(inputs, placed, cluster, prev.commit, prev.bundle_id, period)
        ):
            records[cluster] = BundleRecord(prev.commit, prev.bundle_id, period)  # nothing to read or render
            continue
        shares, by_override, unselected = _cluster_shares(repo, inputs, placed, cluster)
        if prev is None and not shares:
            continue
        if not begun:
            cache.begin_pass()
            begun = True
        leaving = states[cluster].leave is LeaveMode.REMOVE  # bundle.yaml says so (docs/hub.md)
        # removals are not in the id
        rendered = render_cluster(cluster, commit, shares, (), cache, period, leaving=leaving)
        if prev is not None and (
            (prev.bundle_id == rendered.bundle_id and not resign) or guard.holds(cluster, prev, shares)
        ):
            records[cluster] = BundleRecord(prev.commit, prev.bundle_id, period)
            continue
        removals = removals_since(
            prev.bundle if prev else None,
            shares,
            deleted_by_override=by_override,
            unselected=unselected,
            deleted_placements=deleted,
        )
        if removals:
            rendered = render_cluster(cluster, commit, shares, removals, cache, period, leaving=leaving)
        message = _bundle_message(cluster, rendered, prev.bundle.files if prev else (), commit)
        message += trailers(repo, commit)  # provenance: the fleet commit and its signer
        new = repo.write_commit(repo.write_tree(rendered.files), [prev.commit] if prev else [], message, now)
        updates.append(
            RefUpdate(f"refs/heads/{BUNDLE_REF_PREFIX}{cluster}", new, prev.commit if prev else None)
        )
        records[cluster] = BundleRecord(new, rendered.bundle_id, period)
        fresh[cluster] = rendered.index
        if inputs.memo is not None:  # the next pass reads this branch's index from here
            inputs.memo.bundles[new] = rendered.index
    for cluster, prev in inputs.bundles.items():  # left the fleet: branch untouched, id as it is
        last = inputs.memory.bundles.get(cluster)
        records.setdefault(
            cluster, BundleRecord(prev.commit, prev.bundle_id, last.heartbeat_period if last else None)
        )
    return {c: r.bundle_id for c, r in records.items()}, records, updates, fresh


def _rewound(inputs: HubInputs, cluster: str) -> RewoundBranch | None:
    prev = inputs.bundles.get(cluster)
    if prev is None or not prev.published:
        return None
    return RewoundBranch(f"refs/heads/{BUNDLE_REF_PREFIX}{cluster}", prev.commit, prev.published)


def _digests(inputs: HubInputs, fresh: Mapping[str, Bundle]) -> Callable[[str], Mapping[str, str]]:
    """A cluster -> the placement digests of the bundle now on its branch, each read once and
    only when asked (a report about an older bundle: does it speak about the same share?)."""
    memo: dict[str, Mapping[str, str]] = {}

    def digests(cluster: str) -> Mapping[str, str]:
        if cluster not in memo:
            memo[cluster] = _read_digests(inputs, fresh, cluster)
        return memo[cluster]

    return digests


def _read_digests(inputs: HubInputs, fresh: Mapping[str, Bundle], cluster: str) -> Mapping[str, str]:
    try:
        if cluster in fresh:
            bundle = fresh[cluster]
        elif (prev := inputs.bundles.get(cluster)) is not None:
            bundle = prev.bundle
        else:
            return {}
    except BundleError:
        return {}
    return placement_digests(
        bundle.placements, bundle.files, inputs.memo.manifests.entries if inputs.memo is not None else None
    )


def _cluster_shares(
    repo: HubRepo, inputs: HubInputs, placed: Sequence[Placed], cluster: str
) -> tuple[list[PlacementOnCluster], dict[str, tuple[str, ...]], list[str]]:
    """What each placement puts in ``cluster``'s bundle now → the shares, the identities each
    placement's overrides delete, and the placements that stopped selecting the cluster."""
    shares: list[PlacementOnCluster] = []
    by_override: dict[str, tuple[str, ...]] = {}
    unselected: list[str] = []
    for p in placed:
        key = p.memory.key
        rec = p.memory.binding(cluster)
        if p.schedule is None:  # selection failed: the placement stays as it is everywhere
            share = _carried(repo, inputs, cluster, p.placement, key)
        elif rec is None or not rec.version:
            previous = inputs.memory.placements.get(key)
            if previous is not None and (old := previous.binding(cluster)) is not None and old.version:
                unselected.append(key)
            continue
        else:
            share = _bound_share(repo, inputs, p, cluster, rec, by_override)
        if share is not None:
            shares.append(share)
    return shares, by_override, unselected


def _bound_share(
    repo: HubRepo,
    inputs: HubInputs,
    p: Placed,
    cluster: str,
    rec: BindingRecord,
    by_override: dict[str, tuple[str, ...]],
) -> PlacementOnCluster | None:
    """A bound placement's share: the render its binding's version names (a staged run's other
    render, or this commit's), else what its branch already holds (failing that, this commit's
    render at the binding's snapshot)."""
    key = p.memory.key
    result = p.results.get(cluster)
    older = p.older.get(cluster)
    if (
        older is not None and rec.version == older.version
    ):  # a staged run's other render (older snapshot, frozen overrides)
        by_override[key] = older.result.deleted
        return PlacementOnCluster(p.placement, older.index, older.result.objects)
    if rec.version == p.desired.get(cluster) and result is not None and rec.resource_index is not None:
        by_override[key] = result.deleted
        return PlacementOnCluster(p.placement, rec.resource_index, result.objects)
    share = _carried(repo, inputs, cluster, p.placement, key)
    if share is None and result is not None and result.ok and rec.resource_index is not None:
        share = PlacementOnCluster(p.placement, rec.resource_index, result.objects)
    return share


def _unchanged(
    inputs: HubInputs, placed: Sequence[Placed], cluster: str, commit: str, bundle_id: str, period: int | None
) -> bool:
    """True when every placement holds the same version on ``cluster`` as when the hub last wrote
    its branch (and nobody else wrote it since), and the cluster's heartbeat period is the one
    its bundle carries: the bundle would render to the same bytes."""
    if inputs.memory.bundles.get(cluster) != BundleRecord(commit, bundle_id, period):
        return False
    before = {
        (k, b.version)
        for k, p in inputs.memory.placements.items()
        if (b := p.binding(cluster)) is not None and b.version
    }
    after = {
        (p.memory.key, b.version)
        for p in placed
        if (b := p.memory.binding(cluster)) is not None and b.version
    }
    return before == after


def _bundle_message(cluster: str, rendered: RenderedBundle, before: Sequence[FileEntry], commit: str) -> str:
    old = {f.path: f.sha256 for f in before}
    new = {e.path: e.sha256 for e in rendered.index.files}  # every manifest file, as hashed in its entry
    added = sum(1 for p in new if p not in old)
    changed = sum(1 for p in new if p in old and old[p] != new[p])
    removed = sum(1 for p in old if p not in new)
    return (
        f"{cluster}: {rendered.bundle_id[:19]} from {commit[:12]} "
        f"(+{added} ~{changed} -{removed}, {len(new)} objects)"
    )
