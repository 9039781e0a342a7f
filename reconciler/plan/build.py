"""``fleetsync plan``: what a change would do to every cluster, before it is merged.

Both commits go through the hub's own stages (reconciler/hub/pipeline.py: select, evictions,
schedule, overrides, policy gate, rollout) against the same cluster state and the same hub
memory, and the plan compares what each puts on every cluster. Nothing is written anywhere: no
ref, no status, no bundle; the cluster state is read from the repo's report branches and the
status branch (or another remote's, ``--reports-from``), and when there is none every
MemberCluster is taken as eligible — the output says so.

The checks a pull request must pass are the hub's own: head loads (validation errors with
file:line), KubeFleet's update rules between base and head (reconciler/load/immutability.py), no new
Deny violation of the per-object policy gate on any cluster, the change-level gate
(blast radius, reconciler/policy/change.py) given the pull request's labels, and the prune
check (reconciler/plan/prune.py: no cluster emptied, or losing more than ``pruneMaxShare`` of its
objects, unless a commit of the change confirms it as the hub requires). Where a placement fails
in head (an override, its selectors), the hub keeps the previous version, and so does the plan
(reconciler/plan/failures.py); a field the members' API servers will not update is flagged from
a table (reconciler/plan/immutablefields.py). Exit codes are in
``ExitCode``; the JSON is the stable interface (docs/plan.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from reconciler.api.membercluster import LeaveMode
from reconciler.errors import Finding, UserError
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.clusters import ClusterObservation, ClusterState
from reconciler.hub.gate import Gate
from reconciler.hub.inputs import HubInputs, observation, read_inputs
from reconciler.hub.outcome import Placed
from reconciler.hub.pipeline import desired_shares, fleet_states, place_all
from reconciler.hub.prunesafety import change_confirmations
from reconciler.hub.render import key_of
from reconciler.hub.session import HubSession
from reconciler.hub.snapshots import SnapshotObjects
from reconciler.load.fleet import LoadResult
from reconciler.load.immutability import check_update
from reconciler.plan.diff import ObjectKey, cluster_changes
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
from reconciler.plan.prune import PruneCheck, prune_checks
from reconciler.policy.change import check_change
from reconciler.policy.gate import PolicySet, Violation
from reconciler.rollout.staged.documents import run_path
from reconciler.status.memory import HubMemory, load_hub_yaml

API_VERSION = "fleetsync.io/v1alpha1"
KIND = "FleetPlan"


class ExitCode(IntEnum):
    NO_CHANGE = 0
    CHANGES = 1
    CHECKS_FAILED = 2
    RUNTIME_ERROR = 3


EMPTY_INPUTS = HubInputs(
    MappingProxyType({}), None, MappingProxyType({}), HubMemory(), MappingProxyType({}), MappingProxyType({})
)


@dataclass(frozen=True, slots=True)
class ClusterStateSource:
    inputs: HubInputs
    assumed_eligible: bool
    note: str


def read_cluster_state(repo: HubRepo | None, where: str) -> ClusterStateSource:
    """The hub memory and the agents' last reports/heartbeats, or none (all eligible)."""
    if repo is not None and repo.hub_refs():
        inputs = read_inputs(repo)
        if inputs.agents:
            return ClusterStateSource(
                inputs,
                False,
                f"cluster state: reports of {len(inputs.agents)} cluster(s) and the hub memory from {where}",
            )
        return ClusterStateSource(
            inputs,
            True,
            f"cluster state: hub memory from {where} but no agent reports; "
            "every MemberCluster is treated as eligible",
        )
    return ClusterStateSource(
        EMPTY_INPUTS,
        True,
        "cluster state: no reports reachable; every MemberCluster is "
        "treated as eligible (as `fleetsync schedule --assume-healthy`)",
    )


@dataclass(slots=True)
class Side:
    """One commit rendered for every cluster."""

    rev: str
    commit: str
    loaded: LoadResult | None = None
    policies: PolicySet | None = None
    notes: tuple[Finding, ...] = ()
    states: tuple[ClusterState, ...] = ()
    placed: dict[str, Placed] = field(default_factory=dict)
    objects: dict[str, dict[ObjectKey, Mapping[str, Any]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.loaded is not None and self.loaded.ok

    def info(self) -> dict[str, Any]:
        return {"rev": self.rev, "commit": self.commit, "loaded": self.ok}


def _render(
    side: Side, state: ClusterStateSource, now: datetime, gate: Gate, older: SnapshotObjects | None = None
) -> None:
    assert side.loaded is not None
    spec = side.loaded.spec
    observations: dict[str, ClusterObservation] = {c: observation(a) for c, a in state.inputs.agents.items()}
    if state.assumed_eligible:
        for name in spec.members:
            observations.setdefault(name, ClusterObservation(heartbeat_time=now, healthy=True))
    side.states = fleet_states(spec, observations, now)
    side.placed = {
        p.memory.key: p
        for p in place_all(spec, state.inputs, side.states, side.commit, now, gate, older=older)
    }
    placed = list(side.placed.values())
    for s in side.states:
        side.objects[s.name] = {
            (key_of(sh.placement), o.identity): o.manifest
            for sh in desired_shares(placed, s.name)
            for o in sh.objects
        }


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
    immutable: tuple[ImmutableChange, ...] = ()
    labels: tuple[
        str, ...
    ] = ()  # the pull request's labels, as given  # built-in fields the members' API servers refuse to change

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
            or bool(self.refusals)
            or any(f.severity == "error" for f in self.validation)
            or any(v.blocking and new for v, _, new in self.violations)
            or any(v.blocking for v in self.blast)
            or any(p.blocking for p in self.prune)
            or any(f.new for f in self.failures)
            or bool(self.immutable)
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
            "validation": [f.to_dict() for f in self.validation],
            "immutability": {
                "checked": self.immutability_checked,
                "refusals": [f.to_dict() for f in self.refusals],
            },
            "prune": {"maxShare": self.prune_max_share, "clusters": [p.to_dict() for p in self.prune]},
            "notes": list(self.notes),
            "failures": [f.to_dict() for f in self.failures],
            "immutableFields": [c.to_dict() for c in self.immutable],
        }


def _load(repo: HubRepo, rev: str, session: HubSession) -> Side:
    commit = repo.resolve(rev)
    if commit is None:
        raise UserError(f"{rev!r} is not a commit of {repo.path}")
    hit = session.load(repo, commit)
    return Side(rev, commit, hit.result, hit.policies, hit.notes)


def _runs(base: Side, head: Side) -> dict[str, list[dict[str, Any]]]:
    """placement key -> the new or changed staged update runs of head, with their stages."""
    out: dict[str, list[dict[str, Any]]] = {}
    if head.loaded is None:
        return out
    old = base.loaded.spec.runs if base.ok and base.loaded is not None else {}
    for key, run in sorted(head.loaded.spec.runs.items()):
        was = old.get(key)
        fields = (run.placement_name, run.strategy_name, run.resource_snapshot_index, run.state)
        if (
            was is not None
            and (was.placement_name, was.strategy_name, was.resource_snapshot_index, was.state) == fields
        ):
            continue
        doc: dict[str, Any] = {
            "run": f"{run.kind}/{run.namespace + '/' if run.namespace else ''}{run.name}",
            "change": "new" if was is None else "changed",
            "state": str(run.state),
            "strategy": run.strategy_name,
            "stages": [],
        }
        placed = head.placed.get(run.placement_key)
        data = placed.run_files.get(run_path(run.kind, run.namespace, run.name)) if placed else None
        status = ((load_hub_yaml(data) or {}).get("status") or {}) if data else {}
        for stage in status.get("stagesStatus") or []:
            doc["stages"].append(
                {
                    "name": str(stage.get("stageName", "")),
                    "clusters": [str(c.get("clusterName", "")) for c in stage.get("clusters") or []],
                }
            )
        if status.get("resourceSnapshotIndexUsed"):
            doc["resourceSnapshotIndex"] = str(status["resourceSnapshotIndexUsed"])
        failed = next(
            (c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("status") == "False"),
            None,
        )
        if failed is not None:
            doc["error"] = str(failed.get("message", ""))
        out.setdefault(run.placement_key, []).append(doc)
    return out


def _placement_plans(base: Side, head: Side, changes: Sequence[ClusterChange]) -> list[PlacementPlan]:
    members = [s.name for s in head.states]
    runs = _runs(base, head)
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
    ``session`` holds the caches (a fresh one by default)."""
    session = session if session is not None else HubSession()
    base, head = _load(repo, base_rev, session), _load(repo, head_rev, session)
    notes: list[str] = []
    if base.ok:
        _render(
            base,
            state,
            now,
            Gate(base.policies, lambda _c, _k, rendered: rendered, session.policies),
            session.snapshot_reader(repo),
        )
    else:
        notes.append(
            f"base {base.commit[:12]} does not load: everything head renders is shown as added, "
            "and the update rules (immutability) were not checked"
        )
    validation = tuple(
        f
        for f in (head.loaded.findings if head.loaded else ()) + head.notes
        if f.severity in ("error", "warning")
    )
    if not head.ok:
        return FleetPlan(base, head, state, (), (), (), (), (), validation, False, (), tuple(notes))

    def previous(
        cluster: str, key: str, rendered: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Mapping[str, Any]]:
        objs = base.objects.get(cluster, {})
        return {ident: m for (k, ident), m in objs.items() if k == key}

    _render(head, state, now, Gate(head.policies, previous, session.policies), session.snapshot_reader(repo))
    keep_previous(head.placed, base.objects, head.objects)  # where head fails, the hub keeps base's
    assert head.loaded is not None
    refusals: tuple[Finding, ...] = ()
    if base.ok and base.loaded is not None:
        refusals = tuple(check_update(base.loaded.spec, head.loaded.spec, documents=head.loaded.documents))
    changes = _cluster_changes(base, head)
    violations: list[tuple[Violation, str, bool]] = []
    for key, p in sorted(head.placed.items()):
        for cluster, vs in sorted(p.violations.items()):
            fresh = set(new_violations(base.placed.get(key), p, cluster))
            violations += [(v, key, v in fresh) for v in vs]
    labels_of = {s.name: dict(s.labels) for s in base.states} | {s.name: dict(s.labels) for s in head.states}
    touched = {c.cluster: labels_of.get(c.cluster, {}) for c in changes if c.objects or c.placements}
    blast = tuple(check_change(head.policies, touched, labels)) if head.policies is not None else ()
    share = head.loaded.spec.settings.prune_max_share
    prune = prune_checks(
        {c: {i for _, i in objs} for c, objs in base.objects.items()},
        {c: {i for _, i in objs} for c, objs in head.objects.items()},
        {s.name for s in head.states if s.leave is not LeaveMode.KEEP_RESOURCES},  # its branch stays
        share,
        # the hub's confirmation: commit trailers, and a leave (docs/hub.md "Leaving the fleet")
        change_confirmations(repo, base.commit, head.commit) | {s.name for s in head.states if s.leaving},
    )
    return FleetPlan(
        base,
        head,
        state,
        tuple(group_changes(changes)),
        changes,
        tuple(_placement_plans(base, head, changes)),
        tuple(violations),
        blast,
        validation,
        base.ok,
        refusals,
        tuple(notes),
        prune,
        share,
        placement_failures(base.placed, head.placed),
        immutable_changes(base.objects, head.objects) if base.ok else (),
        tuple(labels),
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
