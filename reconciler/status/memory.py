"""The hub's memory: everything a restarted hub needs to continue, kept in ``fleet/status``.

The hub is stateless between reconciles; what KubeFleet keeps in hub objects (policy snapshots,
resource snapshots, bindings and their rollout state, executed evictions) fleetsync keeps in
``status.yaml`` on the status branch (docs/formats.md §4). This module is that file's model and
its one reader and writer. It is pure: no git, no clock (times come in as arguments).

Indexes are KubeFleet's: a new policy snapshot (index + 1) whenever the policy hash changes, a
new resource snapshot whenever the selected-resource hash changes, both starting at 0, and at
most ``revisionHistoryLimit`` resource snapshots remembered. A hash seen before gets a *new*
index all the same (KubeFleet never reuses an index), so "index" always means "newer".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import yaml  # type: ignore[import-untyped]

from fleetsync_contract.canonical import MAX_DOCUMENT_BYTES, CanonicalError, dump
from reconciler.errors import Finding, UserError
from reconciler.rollout.rolling import BindingState

STATUS_FILE = "status.yaml"
STATUS_API_VERSION = "fleetsync.io/v1alpha1"
STATUS_KIND = "HubStatus"
MAX_FINDINGS = 200


class StatusFormatError(UserError):
    """``status.yaml`` on the status branch is not a file this hub wrote."""


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One resource snapshot: its index, content hash and the fleet commit that created it."""

    index: int
    hash: str
    commit: str = ""


@dataclass(frozen=True, slots=True)
class BindingRecord:
    """A placement's binding to one cluster (KubeFleet's ClusterResourceBinding, in memory).

    ``version`` identifies what the cluster's bundle holds for this placement (resource
    snapshot plus overrides); empty while only Scheduled. ``first_seen`` is when the binding was
    created, ``bound_time`` when the cluster last moved to a new version.
    """

    cluster: str
    state: BindingState
    policy_index: int
    policy_hash: str = ""
    resource_index: int | None = None
    version: str = ""
    score: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    previous_state: str = ""
    first_seen: str = ""
    bound_time: str = ""
    pick_cycle: int = 0  # when the scheduler picked the cluster (0: not known)
    pick_order: int = 0


@dataclass(frozen=True, slots=True)
class PlacementMemory:
    key: str
    policy_hash: str = ""
    policy_index: int = -1
    snapshots: tuple[SnapshotRecord, ...] = ()  # oldest first
    bindings: tuple[BindingRecord, ...] = ()  # by cluster name
    evictions: tuple[str, ...] = ()  # names of executed ClusterResourcePlacementEvictions

    @property
    def latest(self) -> SnapshotRecord | None:
        return self.snapshots[-1] if self.snapshots else None

    def binding(self, cluster: str) -> BindingRecord | None:
        for b in self.bindings:
            if b.cluster == cluster:
                return b
        return None


@dataclass(frozen=True, slots=True)
class LoadRecord:
    """The last fleet commit the hub tried to load, and what was wrong with it."""

    commit: str = ""
    ok: bool = True
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class BundleRecord:
    """A bundle branch tip the hub wrote and its bundle id (so a reconcile need not re-read it)."""

    commit: str
    bundle_id: str
    # The MemberCluster's heartbeatPeriodSeconds the bundle carries (None: written before bundles
    # carried it), so a changed period re-renders the bundle without re-reading any file.
    heartbeat_period: int | None = None


@dataclass(frozen=True, slots=True)
class TeamRecord:
    """One team repo as the hub last read it (reconciler/hub/teams.py): the commit rendered
    (its last good one), the last commit tried and what was wrong with it, what the render kept
    at its last good state (identity -> commit, like kept.yaml for the fleet), and why the last
    fetch failed ("" when it did not)."""

    commit: str = ""
    last_load: LoadRecord = LoadRecord()
    kept: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    fetch_error: str = ""
    # cluster -> why the team's objects there are held (over spec.limits): hub/teams.py
    limited: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # why the last push of the team's own status branch failed ("" when it did not):
    # reconciler/hub/teamstatus.py
    status_error: str = ""


@dataclass(frozen=True, slots=True)
class HubMemory:
    source_commit: str = ""  # last commit rendered (the last good one)
    last_load: LoadRecord = LoadRecord()
    placements: Mapping[str, PlacementMemory] = field(default_factory=lambda: MappingProxyType({}))
    bundles: Mapping[str, BundleRecord] = field(default_factory=lambda: MappingProxyType({}))
    teams: Mapping[str, TeamRecord] = field(default_factory=lambda: MappingProxyType({}))  # by team name


# -- reading hub-written YAML fast ---------------------------------------------------------------
class _FastLoader(yaml.CSafeLoader):  # type: ignore[misc]
    """libyaml's safe loader, timestamps kept as strings (as fleetsync_contract.canonical.load)."""


_FastLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def load_hub_yaml(data: bytes, max_bytes: int = 4 * MAX_DOCUMENT_BYTES) -> Any:
    """Parse a file of the status branch with libyaml (5-8x faster than the pure-Python reader,
    which matters for a 1,000-cluster placement document), refusing aliases and oversized input
    exactly like ``fleetsync_contract.canonical.load``."""
    if len(data) > max_bytes:
        raise CanonicalError(f"{len(data)} bytes; the limit is {max_bytes}")
    try:
        for event in yaml.parse(data, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise CanonicalError("aliases are not allowed in fleetsync files")
        return yaml.load(data, Loader=_FastLoader)
    except yaml.YAMLError as e:
        raise CanonicalError(f"invalid YAML: {e}") from e


# -- index bookkeeping --------------------------------------------------------------------------
def next_policy(previous: PlacementMemory | None, policy_hash: str) -> tuple[str, int]:
    """(hash, index) of the placement's policy snapshot: a new index when the hash changed."""
    if previous is not None and previous.policy_hash == policy_hash:
        return policy_hash, previous.policy_index
    index = previous.policy_index + 1 if previous is not None else 0
    return policy_hash, index


def next_snapshots(
    previous: PlacementMemory | None, resource_hash: str, limit: int, commit: str
) -> tuple[SnapshotRecord, ...]:
    """The snapshot history after seeing ``resource_hash``; the last entry is the latest."""
    history = previous.snapshots if previous is not None else ()
    if history and history[-1].hash == resource_hash:
        return history
    index = history[-1].index + 1 if history else 0
    kept = (*history, SnapshotRecord(index, resource_hash, commit))
    return kept[-max(limit, 1) :]


# -- serialising ----------------------------------------------------------------------------------
def _binding_doc(b: BindingRecord) -> dict[str, Any]:
    return {
        "cluster": b.cluster,
        "state": str(b.state),
        "policyIndex": b.policy_index,
        "policyHash": b.policy_hash,
        "resourceIndex": b.resource_index,
        "version": b.version,
        "score": dict(sorted(b.score.items())),
        "previousState": b.previous_state,
        "firstSeen": b.first_seen,
        "boundTime": b.bound_time,
        **({"schedulingCycle": b.pick_cycle, "pickOrder": b.pick_order} if b.pick_order else {}),
    }


def _placement_doc(p: PlacementMemory) -> dict[str, Any]:
    return {
        "key": p.key,
        "policyHash": p.policy_hash,
        "policyIndex": p.policy_index,
        "resourceSnapshots": [{"index": s.index, "hash": s.hash, "commit": s.commit} for s in p.snapshots],
        "bindings": [_binding_doc(b) for b in sorted(p.bindings, key=lambda b: b.cluster)],
        "evictions": sorted(p.evictions),
    }


def _load_doc(r: LoadRecord) -> dict[str, Any]:
    return {"commit": r.commit, "ok": r.ok, "findings": [f.to_dict() for f in r.findings[:MAX_FINDINGS]]}


def _team_doc(name: str, t: TeamRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "sourceCommit": t.commit, "lastLoad": _load_doc(t.last_load)}
    if t.kept:
        doc["kept"] = dict(sorted(t.kept.items()))
    if t.fetch_error:
        doc["fetchError"] = t.fetch_error
    if t.limited:
        doc["limited"] = dict(sorted(t.limited.items()))
    if t.status_error:
        doc["statusError"] = t.status_error
    return doc


def memory_doc(m: HubMemory) -> dict[str, Any]:
    doc = {
        "apiVersion": STATUS_API_VERSION,
        "kind": STATUS_KIND,
        "sourceCommit": m.source_commit,
        "lastLoad": _load_doc(m.last_load),
        "placements": [_placement_doc(m.placements[k]) for k in sorted(m.placements)],
        "bundles": [_bundle_doc(c, m.bundles[c]) for c in sorted(m.bundles)],
    }
    if m.teams:  # a fleet without team repos writes the file it always wrote
        doc["teams"] = [_team_doc(n, m.teams[n]) for n in sorted(m.teams)]
    return doc


def _bundle_doc(cluster: str, b: BundleRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {"cluster": cluster, "commit": b.commit, "bundleId": b.bundle_id}
    if b.heartbeat_period is not None:
        doc["heartbeatPeriodSeconds"] = b.heartbeat_period
    return doc


def dump_memory(m: HubMemory) -> bytes:
    return dump(memory_doc(m))


class _R:
    """Typed access to one mapping of status.yaml; errors name the field."""

    def __init__(self, doc: Any, where: str):
        if not isinstance(doc, Mapping):
            raise StatusFormatError(f"{STATUS_FILE}: {where}: expected a mapping")
        self.doc, self.where = doc, where

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = self.doc.get(key, default)
        if value is None:
            return default
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise StatusFormatError(f"{STATUS_FILE}: {self.where}.{key}: unexpected {type(value).__name__}")
        return value

    def items(self, key: str) -> list[_R]:
        return [_R(v, f"{self.where}.{key}[{i}]") for i, v in enumerate(self.get(key, list, []))]


def _parse_binding(r: _R) -> BindingRecord:
    try:
        state = BindingState(r.get("state", str, ""))
    except ValueError as e:
        raise StatusFormatError(f"{STATUS_FILE}: {r.where}.state: {e}") from e
    score = r.get("score", dict, {})
    return BindingRecord(
        cluster=r.get("cluster", str, ""),
        state=state,
        policy_index=r.get("policyIndex", int, 0),
        policy_hash=r.get("policyHash", str, ""),
        resource_index=r.get("resourceIndex", int, None),
        version=r.get("version", str, ""),
        score=MappingProxyType({str(k): int(v) for k, v in score.items()}),
        previous_state=r.get("previousState", str, ""),
        first_seen=r.get("firstSeen", str, ""),
        bound_time=r.get("boundTime", str, ""),
        pick_cycle=r.get("schedulingCycle", int, 0),
        pick_order=r.get("pickOrder", int, 0),
    )


def parse_memory(data: bytes) -> HubMemory:
    try:
        doc = load_hub_yaml(data)
    except CanonicalError as e:
        raise StatusFormatError(f"{STATUS_FILE}: {e}") from e
    r = _R(doc, "status")
    if r.doc.get("apiVersion") != STATUS_API_VERSION or r.doc.get("kind") != STATUS_KIND:
        raise StatusFormatError(f"{STATUS_FILE}: not a {STATUS_API_VERSION} {STATUS_KIND}")
    last = _R(r.get("lastLoad", dict, {}), "lastLoad")
    placements: dict[str, PlacementMemory] = {}
    for p in r.items("placements"):
        key = p.get("key", str, "")
        placements[key] = PlacementMemory(
            key=key,
            policy_hash=p.get("policyHash", str, ""),
            policy_index=p.get("policyIndex", int, -1),
            snapshots=tuple(
                SnapshotRecord(s.get("index", int, 0), s.get("hash", str, ""), s.get("commit", str, ""))
                for s in p.items("resourceSnapshots")
            ),
            bindings=tuple(_parse_binding(b) for b in p.items("bindings")),
            evictions=tuple(str(e) for e in p.get("evictions", list, [])),
        )
    bundles = {
        b.get("cluster", str, ""): BundleRecord(
            b.get("commit", str, ""), b.get("bundleId", str, ""), b.get("heartbeatPeriodSeconds", int, None)
        )
        for b in r.items("bundles")
    }
    teams = {t.get("name", str, ""): _parse_team(t) for t in r.items("teams")}
    return HubMemory(
        source_commit=r.get("sourceCommit", str, ""),
        last_load=_parse_load(last),
        placements=MappingProxyType(dict(sorted(placements.items()))),
        bundles=MappingProxyType(dict(sorted(bundles.items()))),
        teams=MappingProxyType(dict(sorted(teams.items()))),
    )


def _parse_load(last: _R) -> LoadRecord:
    findings = tuple(
        Finding(
            file=f.get("file", str, ""),
            line=f.get("line", int, 0),
            column=f.get("column", int, 0),
            field=f.get("field", str, ""),
            message=f.get("message", str, ""),
            object=f.get("object", str, ""),
            severity=f.get("severity", str, "error"),
        )
        for f in last.items("findings")
    )
    return LoadRecord(last.get("commit", str, ""), last.get("ok", bool, True), findings)


def _parse_team(t: _R) -> TeamRecord:
    kept = t.get("kept", dict, {})
    limited = t.get("limited", dict, {})
    return TeamRecord(
        commit=t.get("sourceCommit", str, ""),
        last_load=_parse_load(_R(t.get("lastLoad", dict, {}), f"{t.where}.lastLoad")),
        kept=MappingProxyType({str(k): str(v) for k, v in kept.items()}),
        fetch_error=t.get("fetchError", str, ""),
        limited=MappingProxyType({str(k): str(v) for k, v in limited.items()}),
        status_error=t.get("statusError", str, ""),
    )


def with_failed_load(m: HubMemory, commit: str, findings: Sequence[Finding]) -> HubMemory:
    """The memory after a commit that did not load: recorded, nothing else changes."""
    errors = tuple(f for f in findings if f.severity == "error")
    return replace(m, last_load=LoadRecord(commit, False, errors[:MAX_FINDINGS]))
