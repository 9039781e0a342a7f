"""``fleetsync plan``: what a change would do to every cluster, before it is merged.

Both commits go through the hub's own stages (reconciler/hub/pipeline.py: select, evictions,
schedule, overrides, policy gate, rollout) against the same cluster state and the same hub
memory, and the plan compares what each puts on every cluster. Nothing is written anywhere: no
ref, no status, no bundle; the cluster state is read from the repo's report branches and the
status branch (or another remote's, ``--reports-from``), and when there is none every
MemberCluster is taken as eligible — the output says so.

Before the stages, both commits are isolated as the hub isolates a commit (``isolate``,
reconciler/plan/isolation.py): an object or a file that fails keeps its last good state — for head
that is base's — so a failure shows next to the rest of the change, and only a repo-wide error
means "head does not load". The checks a pull request must pass are the hub's own: head
introduces no error (validation errors with file:line; one base already had does not block),
KubeFleet's update rules between base and head (reconciler/load/immutability.py), no new
Deny violation of the per-object policy gate on any cluster, the change-level gate
(blast radius, reconciler/policy/change.py) given the pull request's labels, and the prune
check (reconciler/plan/prune.py: no cluster emptied, or losing more than ``pruneMaxShare`` of its
objects, unless a commit of the change confirms it as the hub requires). Where a placement fails
in head (an override, its selectors), the hub keeps the previous version, and so does the plan
(reconciler/plan/failures.py); a field the members' API servers will not update is flagged from
a table (reconciler/plan/immutablefields.py); a staged run the change makes fail to initialize
blocks (reconciler/plan/runs.py). Exit codes are in
``ExitCode``; the JSON is the stable interface (docs/plan.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum
from typing import Any

from reconciler.api.membercluster import LeaveMode
from reconciler.errors import Finding
from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.signatures import head_signature, verify_commits
from reconciler.hub.gate import Gate
from reconciler.hub.inputs import commit_loader
from reconciler.hub.prunesafety import change_confirmations
from reconciler.hub.session import HubSession
from reconciler.plan.diff import cluster_changes
from reconciler.plan.failures import PlacementFailure, keep_previous, placement_failures
from reconciler.plan.group import (
    ClusterChange,
    Group,
    PlacementChange,
    PlacementPlan,
    group_changes,
    new_violations,
    override_changes,
    schedule_changes,
    settings_diff,
)
from reconciler.plan.immutablefields import ImmutableChange, immutable_changes
from reconciler.plan.isolation import FailedObject, failed_objects, frozen_is_new, kept_file, new_errors
from reconciler.plan.prune import PruneCheck, prune_checks
from reconciler.plan.runs import run_plans
from reconciler.plan.side import (
    ClusterStateSource,
    Side,
    hub_last_good,
    isolate_side,
    load_side,
    render_side,
)
from reconciler.policy.change import check_change
from reconciler.policy.gate import Violation

API_VERSION = "fleetsync.io/v1alpha1"
KIND = "FleetPlan"


class ExitCode(IntEnum):
    NO_CHANGE = 0
    CHANGES = 1
    CHECKS_FAILED = 2
    RUNTIME_ERROR = 3


@dataclass(frozen=True, slots=True)
class FleetPlan:
    base: Side
    head: Side
    state: ClusterStateSource
    groups: tuple[Group, ...]
    changes: tuple[ClusterChange, ...]
    placements: tuple[PlacementPlan, ...]
    violations: tuple[tuple[Violation, str, bool], ...]  # every head violation, its placement, new?
    blast: tuple[Violation, ...]
    validation: tuple[Finding, ...]
    immutability_checked: bool
    refusals: tuple[Finding, ...]
    notes: tuple[str, ...]
    prune: tuple[PruneCheck, ...] = ()  # clusters losing most or all of their objects
    prune_max_share: float = 0.5
    failures: tuple[PlacementFailure, ...] = ()  # placements that fail on a cluster in head
    immutable: tuple[ImmutableChange, ...] = ()  # built-in fields the members' API servers refuse to change
    labels: tuple[str, ...] = ()  # the pull request's labels, as given
    failed_objects: tuple[FailedObject, ...] = ()  # objects and files that fail in head: kept as in base
    new_errors: tuple[Finding, ...] = ()  # head's errors base did not have (the change causes them)
    unsigned: tuple[Finding, ...] = ()  # verify.commits would hold head (reconciler/gitstore/signatures.py)

    @property
    def clusters_touched(self) -> int:
        return sum(1 for c in self.changes if c.objects or c.placements)

    @property
    def object_counts(self) -> dict[str, int]:
        counts = {"added": 0, "changed": 0, "removed": 0}
        for c in self.changes:
            for o in c.objects:
                counts[o.action] += 1
        return counts

    @property
    def failed(self) -> bool:
        return (
            not self.head.ok
            or bool(self.new_errors)  # a failed object, a broken file, a refused update, ... it introduces
            or bool(self.unsigned)
            or any(v.blocking and new for v, _, new in self.violations)
            or any(v.blocking for v in self.blast)
            or any(p.blocking for p in self.prune)
            or any(f.new for f in self.failures)
            or bool(self.immutable)
            or any(r.get("blocking") for p in self.placements for r in p.runs)
        )

    @property
    def exit_code(self) -> ExitCode:
        if self.failed:
            return ExitCode.CHECKS_FAILED
        return ExitCode.CHANGES if self.groups or self.placements else ExitCode.NO_CHANGE

    def summary(self) -> dict[str, Any]:
        counts = self.object_counts
        return {
            "clustersInFleet": len(self.head.states or self.base.states),
            "clustersTouched": self.clusters_touched,
            "objectsTouched": sum(counts.values()),
            **counts,
            "groups": len(self.groups),
            "checksPassed": not self.failed,
            "exitCode": int(self.exit_code),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "base": self.base.info(),
            "head": self.head.info(),
            "clusterState": {"assumedEligible": self.state.assumed_eligible, "note": self.state.note},
            "summary": self.summary(),
            "groups": [g.to_dict() for g in self.groups],
            "placements": [p.to_dict() for p in self.placements],
            "violations": [{**v.to_dict(), "placement": key, "new": new} for v, key, new in self.violations],
            "blastRadius": [v.to_dict() for v in self.blast],
            "validation": [{**f.to_dict(), "new": f in self.new_errors} for f in self.validation],
            "immutability": {
                "checked": self.immutability_checked,
                "refusals": [f.to_dict() for f in self.refusals],
            },
            "prune": {"maxShare": self.prune_max_share, "clusters": [p.to_dict() for p in self.prune]},
            "notes": list(self.notes),
            "failures": [f.to_dict() for f in self.failures],
            "immutableFields": [c.to_dict() for c in self.immutable],
            "failedObjects": [f.to_dict() for f in self.failed_objects],
        }


def _signature(repo: HubRepo, base: str, head: str) -> tuple[str, tuple[Finding, ...]]:
    """One line on the head commit's signature, and the blocking finding when the hub, walking
    from ``base`` with ``verify.commits: strict``, would not render ``head``
    (reconciler/gitstore/signatures.py)."""
    sig, verification = head_signature(repo, head)
    finding = verify_commits(repo, base, head).finding()
    line = f"signature: head {head[:12]} is {sig.describe()} (verify.commits: {verification.commits})"
    return line, (finding,) if finding is not None else ()


def _placement_plans(base: Side, head: Side, changes: Sequence[ClusterChange]) -> list[PlacementPlan]:
    members = [s.name for s in head.states]
    runs = run_plans(base.spec if base.ok else None, base.run_files, head.spec, head.run_files)
    touched: dict[str, set[str]] = {}
    for c in changes:
        for o in c.objects:
            touched.setdefault(o.placement, set()).add(c.cluster)
    out: list[PlacementPlan] = []
    for key in sorted(base.placed.keys() | head.placed.keys()):
        b, h = base.placed.get(key), head.placed.get(key)
        picked, dropped = schedule_changes(key, b, h, members)
        settings = settings_diff(b, h)
        if not (picked or dropped or key in touched or key in runs or settings):
            continue
        if h is None:
            out.append(
                PlacementPlan(
                    key,
                    picked,
                    dropped,
                    "",
                    removed=tuple(sorted(dropped)),
                    note="the placement is deleted: its objects leave every cluster",
                )
            )
            continue
        strategy = h.placement.strategy
        decision = h.decision
        first = tuple(sorted(set(decision.bind + decision.update))) if decision else ()
        held = tuple(sorted(decision.held)) if decision else ()
        removed = tuple(sorted(decision.remove)) if decision else ()
        if str(strategy.type) == "External":
            note = (
                "External: clusters move only as a staged update run moves them"
                if key in runs or first
                else "External: waits for a staged update run; nothing moves until one is created"
            )
            out.append(
                PlacementPlan(
                    key,
                    picked,
                    dropped,
                    "External",
                    first,
                    held,
                    removed,
                    note=note,
                    runs=tuple(runs.get(key, ())),
                    settings_diff=settings,
                )
            )
        else:
            ru = strategy.rolling_update
            out.append(
                PlacementPlan(
                    key,
                    picked,
                    dropped,
                    "RollingUpdate",
                    first,
                    held,
                    removed,
                    str(ru.max_surge),
                    str(ru.max_unavailable),
                    runs=tuple(runs.get(key, ())),
                    settings_diff=settings,
                )
            )
    return out


def make_plan(
    repo: HubRepo,
    base_rev: str,
    head_rev: str,
    now: datetime,
    state: ClusterStateSource,
    labels: Sequence[str] = (),
    session: HubSession | None = None,
) -> FleetPlan:
    """Render ``base_rev`` and ``head_rev`` of ``repo`` and compare them (nothing is written);
    ``session`` holds the caches (a fresh one by default).

    Both commits are isolated as the hub isolates a commit: base against the hub's last rendered
    commit (when the hub would render base from there), head against base — base is what the
    hub has, so an object that fails in head keeps base's state (docs/plan.md, "Objects that
    fail")."""
    session = session if session is not None else HubSession()
    base, head = load_side(repo, base_rev, session), load_side(repo, head_rev, session)
    load = commit_loader(repo, session.loads)
    good, kept = hub_last_good(repo, state.inputs, base.commit, load)
    isolate_side(base, good, kept, load)
    notes: list[str] = []
    if base.ok:
        render_side(
            base,
            state,
            now,
            Gate(base.policies, lambda _c, _k, rendered: rendered, session.policies),
            session.snapshot_reader(repo),
            base=True,
        )
        assert base.isolated is not None
        good, kept = base.commit, base.isolated.kept
    else:
        notes.append(_base_note(base, good))
    isolate_side(head, good, kept, load)
    validation = _validation(head)
    signature, unsigned = _signature(repo, base.commit, head.commit)
    notes.append(signature)
    validation += unsigned
    if not head.ok:  # a repo-wide error: the hub holds the whole commit
        fresh = new_errors(head.findings, base.findings)
        return FleetPlan(
            base,
            head,
            state,
            (),
            (),
            (),
            (),
            (),
            validation,
            False,
            (),
            tuple(notes),
            new_errors=fresh,
            unsigned=unsigned,
        )

    def previous(
        cluster: str, key: str, rendered: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Mapping[str, Any]]:
        objs = base.objects.get(cluster, {})
        return {ident: m for (k, ident), m in objs.items() if k == key}

    render_side(
        head, state, now, Gate(head.policies, previous, session.policies), session.snapshot_reader(repo)
    )
    keep_previous(head.placed, base.objects, head.objects)  # where head fails, the hub keeps base's
    changes = _cluster_changes(base, head)
    share = head.spec.settings.prune_max_share
    prune = prune_checks(
        {c: {i for _, i in objs} for c, objs in base.objects.items()},
        {c: {i for _, i in objs} for c, objs in head.objects.items()},
        {s.name for s in head.states if s.leave is not LeaveMode.KEEP_RESOURCES},  # its branch stays
        share,
        # the hub's confirmation: commit trailers, and a leave (docs/hub.md "Leaving the fleet")
        change_confirmations(repo, base.commit, head.commit) | {s.name for s in head.states if s.leaving},
    )
    assert head.loaded is not None and head.isolated is not None
    return FleetPlan(
        base,
        head,
        state,
        tuple(group_changes(changes)),
        changes,
        tuple(_placement_plans(base, head, changes)),
        _violations(base, head),
        _blast(base, head, changes, labels),
        validation,
        bool(good),
        head.refusals,
        tuple(notes),
        prune,
        share,
        _placement_failures(base, head),
        immutable_changes(base.objects, head.objects) if base.ok else (),
        tuple(labels),
        failed_objects(head.loaded, head.isolated, base.findings, kept_file(load)),
        new_errors(head.findings, base.findings),
        unsigned,
    )


def _base_note(base: Side, good: str) -> str:
    checked = (
        f"the update rules (immutability) were checked against the hub's last rendered commit {good[:12]}"
        if good
        else "the update rules (immutability) were not checked"
    )
    return f"base {base.commit[:12]} does not load: everything head renders is shown as added, and {checked}"


def _validation(head: Side) -> tuple[Finding, ...]:
    """Head's errors and warnings as ``validate`` prints them (refused updates have their own
    section)."""
    loaded = head.loaded.findings if head.loaded else ()
    seen = {(f.file, f.line, f.field) for f in loaded}
    refs = tuple(
        f
        for f in head.found
        if f not in head.refusals and not (f.field == "metadata.name" and (f.file, f.line, f.field) in seen)
    )
    return tuple(f for f in loaded + refs + head.notes if f.severity in ("error", "warning"))


def _violations(base: Side, head: Side) -> tuple[tuple[Violation, str, bool], ...]:
    violations: list[tuple[Violation, str, bool]] = []
    for key, p in sorted(head.placed.items()):
        for cluster, vs in sorted(p.violations.items()):
            fresh = set(new_violations(base.placed.get(key), p, cluster))
            violations += [(v, key, v in fresh) for v in vs]
    return tuple(violations)


def _blast(
    base: Side, head: Side, changes: Sequence[ClusterChange], labels: Sequence[str]
) -> tuple[Violation, ...]:
    labels_of = {s.name: dict(s.labels) for s in base.states} | {s.name: dict(s.labels) for s in head.states}
    touched = {c.cluster: labels_of.get(c.cluster, {}) for c in changes if c.objects or c.placements}
    return tuple(check_change(head.policies, touched, labels)) if head.policies is not None else ()


def _placement_failures(base: Side, head: Side) -> tuple[PlacementFailure, ...]:
    """``placement_failures``, where a placement frozen in head (its definition fails) is new
    unless base froze it for the same errors (the message quotes lines an edit may move)."""
    assert head.isolated is not None
    frozen, before = head.isolated.frozen, base.isolated.frozen if base.isolated else {}
    return tuple(
        replace(f, new=frozen_is_new(f.placement, frozen, before)) if f.placement in frozen else f
        for f in placement_failures(base.placed, head.placed)
    )


def _cluster_changes(base: Side, head: Side) -> tuple[ClusterChange, ...]:
    out: list[ClusterChange] = []
    members = [s.name for s in head.states]
    picks: dict[str, list[PlacementChange]] = {}
    for key in sorted(base.placed.keys() | head.placed.keys()):
        picked, dropped = schedule_changes(key, base.placed.get(key), head.placed.get(key), members)
        for c, r in picked.items():
            picks.setdefault(c, []).append(PlacementChange(key, "picked", r))
        for c, r in dropped.items():
            picks.setdefault(c, []).append(PlacementChange(key, "dropped", r))
    for cluster in sorted(base.objects.keys() | head.objects.keys()):
        objects = cluster_changes(cluster, base.objects.get(cluster, {}), head.objects.get(cluster, {}))
        overrides = [
            o
            for key in sorted(base.placed.keys() | head.placed.keys())
            for o in override_changes(key, base.placed.get(key), head.placed.get(key), cluster)
        ]
        violations = [
            v
            for key in sorted(head.placed)
            for v in new_violations(base.placed.get(key), head.placed[key], cluster)
        ]
        change = ClusterChange(
            cluster, objects, tuple(picks.get(cluster, ())), tuple(overrides), tuple(violations)
        )
        if not change.empty:
            out.append(change)
    return tuple(out)
