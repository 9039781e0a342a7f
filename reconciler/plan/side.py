"""One commit of a plan, rendered for every cluster as the hub would render it.

A ``Side`` is a commit loaded, isolated (``isolate_side``: the hub's failure isolation, with a
given last good commit) and put through the hub's stages (``render_side``) against the cluster
state both commits of a plan share (``read_cluster_state``). It is mutable on purpose and
only while ``make_plan`` (reconciler/plan/build.py) fills it in: base first, because head's last
good state is base's, then head; nothing reads a side before it is filled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from reconciler.errors import Finding, UserError
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.clusters import ClusterObservation, ClusterState
from reconciler.hub.gate import Gate
from reconciler.hub.inputs import HubInputs, kept_objects, observation, read_inputs
from reconciler.hub.outcome import Placed
from reconciler.hub.pipeline import desired_shares, fleet_states, isolate, place_all
from reconciler.hub.render import key_of
from reconciler.hub.session import HubSession
from reconciler.hub.snapshots import SnapshotObjects
from reconciler.load.fleet import FleetSpec, LoadResult
from reconciler.load.lastgood import Isolated, LoadFn
from reconciler.load.validate import check_references
from reconciler.plan.diff import ObjectKey
from reconciler.plan.runs import run_files
from reconciler.policy.gate import PolicySet
from reconciler.status.memory import HubMemory

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
    isolated: Isolated | None = None  # what the hub renders of it (failed objects at their last good state)
    found: tuple[Finding, ...] = ()  # isolate's findings: validate's reference checks, refused updates
    refusals: tuple[Finding, ...] = ()  # the refused updates among ``found``
    run_files: dict[str, bytes] = field(default_factory=dict)  # staged runs' status, as the hub writes it

    @property
    def ok(self) -> bool:
        """Rendered: it loads but for failed objects, which keep their last good state (only a
        repo-wide error holds a commit, as the hub does)."""
        return self.loaded is not None and self.isolated is not None and not self.isolated.held

    @property
    def spec(self) -> FleetSpec:
        assert self.isolated is not None
        return self.isolated.spec

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding of this commit: the load's, the reference checks, refusals, notes."""
        return (self.loaded.findings if self.loaded else ()) + self.found + self.notes

    def info(self) -> dict[str, Any]:
        return {"rev": self.rev, "commit": self.commit, "loaded": self.ok}


def isolate_side(side: Side, last_good: str, kept: Mapping[str, str], load: LoadFn) -> None:
    """The hub's failure isolation of ``side`` with ``last_good`` (and what it kept) as its last
    good state (reconciler/hub/pipeline.py ``isolate``)."""
    if side.loaded is None:
        return
    side.isolated, side.found = isolate(side.loaded, last_good, kept, load)
    refs = set(check_references(side.loaded))
    side.refusals = tuple(f for f in side.found if f not in refs)


def hub_last_good(
    repo: HubRepo, inputs: HubInputs, commit: str, load: LoadFn
) -> tuple[str, Mapping[str, str]]:
    """The hub's last rendered commit and what it kept, when the hub rendering ``commit`` next
    would start from there (it is ``commit`` or an ancestor of it); else nothing is known."""
    source = inputs.memory.source_commit
    if source and repo.is_ancestor(source, commit) and load(source) is not None:
        return source, kept_objects(inputs)
    return "", MappingProxyType({})


def render_side(
    side: Side,
    state: ClusterStateSource,
    now: datetime,
    gate: Gate,
    older: SnapshotObjects | None = None,
    *,
    base: bool = False,
) -> None:
    """``side`` (isolated) through the hub's stages: its placements, staged runs' status and what
    every cluster gets once every rollout has finished.

    A placement whose definition fails is frozen (``hold``) in head: the hub keeps its bundles'
    files, which plan takes from base (reconciler/plan/failures.py). In ``base`` it is rendered
    from its kept definition instead, the nearest plan gets to those files without reading the
    bundle branches: otherwise a head that fixes it would show its every object as added."""
    assert side.isolated is not None
    spec = side.spec
    frozen = {} if base else side.isolated.frozen
    observations: dict[str, ClusterObservation] = {c: observation(a) for c, a in state.inputs.agents.items()}
    if state.assumed_eligible:
        for name in spec.members:
            observations.setdefault(name, ClusterObservation(heartbeat_time=now, healthy=True))
    side.states = fleet_states(spec, observations, now)
    side.placed = {
        p.memory.key: p
        for p in place_all(
            spec, state.inputs, side.states, side.commit, now, gate, older=older, frozen=frozen
        )
    }
    side.run_files = run_files(spec, side.placed, state.inputs, now)
    placed = list(side.placed.values())
    for s in side.states:
        side.objects[s.name] = {
            (key_of(sh.placement), o.identity): o.manifest
            for sh in desired_shares(placed, s.name)
            for o in sh.objects
        }


def load_side(repo: HubRepo, rev: str, session: HubSession) -> Side:
    """``rev`` resolved and loaded (through ``session``'s load cache, which isolation reads too)."""
    commit = repo.resolve(rev)
    if commit is None:
        raise UserError(f"{rev!r} is not a commit of {repo.path}")
    hit = session.load(repo, commit)
    return Side(rev, commit, hit.result, hit.policies, hit.notes)
