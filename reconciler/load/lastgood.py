"""A commit with failed objects → the spec the hub renders: each failed object at its last good state.

KubeFleet rejects or fails one object and carries on with the rest; in Git a commit holds many
teams' objects at once, so the hub makes the blast radius of an error the object (or the file,
for a file that does not parse) and renders everything else. What "its last good state" is must
survive commits: a placement broken in commit 2 and still broken in commit 3 keeps what commit 1
said. So the hub remembers, per kept object, the commit its kept definition comes from (``kept``,
on the status branch) and the last rendered commit (``base``); an object never kept before comes
from ``base``. Definitions are read back by loading those commits (the hub's load cache holds the
recent ones), never copied into status, so a kept Secret's data stays in the fleet repo.

Nothing that failed to load is treated as deleted: a file that does not parse keeps every object
it held at its last good commit, unless the commit defines that object elsewhere. A failed
placement keeps its last good definition *and* is frozen (``frozen``): its bundles stay exactly as
rendered, as KubeFleet leaves a placement whose spec it cannot use (``InvalidResourceSelectors``).
Other kinds (overrides, runs, evictions, plain resources) keep their last good definition in the
spec, as a KubeFleet hub keeps the last object its webhook admitted. An object with no last good
state (new and already broken) is simply not there. A broken file that held a MemberCluster holds
the commit: membership changes all or nothing (reconciler/load/fleet.py); so does one that held
an admission policy or binding, because the policy gate is built from the commit's documents and
must never run without a policy the repo had.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from fleetsync_contract import parse_identity
from reconciler.api import registry
from reconciler.api.meta import empty_map
from reconciler.errors import SCOPE_REPO, Finding
from reconciler.load.fleet import BUCKETS, FleetSpec, LoadResult, bucket_key
from reconciler.teams.model import TEAM_GROUP, TEAM_KIND

LoadFn = Callable[[str], LoadResult | None]  # a commit → its load (None: unreadable)
ADMISSION_GROUP = "admissionregistration.k8s.io"  # the policy gate's documents (reconciler/policy/)
_HOLDS = {
    "members": "cluster membership changes all or nothing",
    "teams": "a team that does not load must not look removed (reconciler/teams/model.py)",
    "policy": "the policy gate never runs without a policy the repo had (it could let a change through)",
}


@dataclass(frozen=True, slots=True)
class Isolated:
    """What the hub renders for one commit, and what it keeps from earlier commits."""

    spec: FleetSpec
    kept: Mapping[str, str] = field(default_factory=empty_map)  # identity -> commit of its kept definition
    frozen: Mapping[str, tuple[Finding, ...]] = field(default_factory=empty_map)  # placement key -> errors
    held: tuple[Finding, ...] = ()  # repo-scope errors: the commit is not rendered at all


def slot(ident: str) -> tuple[str, str]:
    """The FleetSpec field and key an object of this identity lives under."""
    group, kind, namespace, name = parse_identity(ident)
    if group == TEAM_GROUP and kind == TEAM_KIND:
        return "teams", name
    bucket = BUCKETS.get(kind) if registry.is_fleet_group(group) else None
    if bucket is None or bucket == "resources":
        return "resources", ident
    return bucket, bucket_key(kind, namespace, name)


def _lookup(spec: FleetSpec, ident: str) -> Any:
    bucket, key = slot(ident)
    found: Mapping[str, Any] = getattr(spec, bucket)
    return found.get(key)


def defines(spec: FleetSpec, ident: str) -> bool:
    """Whether ``spec`` holds an object of this identity (``fleetsync plan`` tells a failed
    duplicate, whose first definition counts, from an object that is not rendered)."""
    return _lookup(spec, ident) is not None


def _in(label: str, broken: tuple[str, ...]) -> bool:
    return any(label == b or (b.endswith("/") and label.startswith(b)) for b in broken)


class _Origins:
    """Where each object's last good definition is: ``kept`` first, then ``base``."""

    def __init__(self, base: str, kept: Mapping[str, str], load: LoadFn):
        self.base, self.kept, self._load = base, kept, load
        self._loads: dict[str, LoadResult | None] = {}

    def load(self, commit: str) -> LoadResult | None:
        if not commit:
            return None
        if commit not in self._loads:
            self._loads[commit] = self._load(commit)
        return self._loads[commit]

    def commit_of(self, ident: str) -> str:
        return self.kept.get(ident, self.base)

    def definition(self, ident: str) -> Any:
        loaded = self.load(self.commit_of(ident))
        return None if loaded is None or loaded.held else _lookup(loaded.spec, ident)

    def in_files(self, broken: tuple[str, ...]) -> dict[str, str]:
        """Every object whose last good definition came from a file now broken → that file."""
        found: dict[str, str] = {}
        base = self.load(self.base)
        if base is not None:
            for ident, doc in base.documents.items():
                if ident not in self.kept and _in(doc.file, broken):
                    found[ident] = doc.file
        for ident, commit in self.kept.items():
            loaded = self.load(commit)
            kept_doc = loaded.documents.get(ident) if loaded is not None else None
            if kept_doc is not None and _in(kept_doc.file, broken):
                found[ident] = kept_doc.file
        return found


def _about(label: str, errors: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """The file-scope errors that speak about the file ``label`` (or a directory holding it)."""
    return tuple(f for f in errors if _in(label, (f.file, f.file.rstrip("/") + "/")))


def last_good_spec(base: str, kept: Mapping[str, str], load: LoadFn) -> FleetSpec | None:
    """The spec the hub rendered at ``base`` (the last rendered commit) with what that render
    kept: what a new commit's updates are judged against (reconciler/load/immutability.py), so a
    refused update stays refused in every later commit. None without a usable base."""
    loaded = load(base) if base else None
    if loaded is None or loaded.held:
        return None
    origins = _Origins(base, kept, load)
    buckets: dict[str, dict[str, Any]] = {b: dict(getattr(loaded.spec, b)) for b in set(BUCKETS.values())}
    for ident in sorted(kept):
        model = origins.definition(ident)
        if model is not None:
            bucket, key = slot(ident)
            buckets[bucket][key] = model
    return _with(loaded.spec, buckets)


def _with(spec: FleetSpec, buckets: dict[str, dict[str, Any]]) -> FleetSpec:
    frozen_buckets: dict[str, Any] = {
        b: MappingProxyType({k: items[k] for k in sorted(items)}) for b, items in buckets.items()
    }
    return replace(spec, **frozen_buckets)


def keep_last_good(
    head: LoadResult,
    base: str,
    kept: Mapping[str, str],
    load: LoadFn,
    refused: Mapping[str, tuple[Finding, ...]] | None = None,
) -> Isolated:
    """``head`` with every failed object (and every object of a broken file) at its last good
    state; ``base`` is the last rendered commit, ``kept`` what that render kept and from where.
    ``refused``: objects whose update KubeFleet refuses (identity -> why), kept the same way."""
    if head.held:
        return Isolated(head.spec, held=head.held)
    refused = refused or {}
    if not head.failed and not head.broken and not refused:
        return Isolated(head.spec)
    origins = _Origins(base, kept, load)
    if base and origins.load(base) is None:  # unknown last good state: keeping nothing could prune
        why = f"the last rendered commit {base[:12]} cannot be read, so failed objects cannot keep their last good state"
        return Isolated(head.spec, held=(Finding("", 0, 0, "", why, scope=SCOPE_REPO), *head.errors))
    file_errors = tuple(
        f for f in head.errors if _in(f.file, head.broken) or f.file.rstrip("/") + "/" in head.broken
    )
    wanted = {**head.failed, **refused}
    for ident, label in sorted(origins.in_files(head.broken).items()):
        wanted.setdefault(ident, _about(label, file_errors))
    buckets: dict[str, dict[str, Any]] = {b: dict(getattr(head.spec, b)) for b in set(BUCKETS.values())}
    out_kept: dict[str, str] = {}
    frozen: dict[str, tuple[Finding, ...]] = {}
    for ident in sorted(wanted):
        if ident not in refused and _lookup(head.spec, ident) is not None:
            continue  # defined (again) in this commit: that definition counts
        model = origins.definition(ident)
        if model is None:
            continue  # never good: nothing to keep
        bucket, key = slot(ident)
        if bucket in ("members", "teams") or ident.startswith(ADMISSION_GROUP + "/"):
            why = f"{ident} is in a file that does not load: {_HOLDS.get(bucket, _HOLDS['policy'])}"
            errors = wanted[ident] or (Finding("", 0, 0, "", why),)
            return Isolated(head.spec, held=tuple(replace(f, scope=SCOPE_REPO) for f in errors))
        buckets[bucket][key] = model
        out_kept[ident] = origins.commit_of(ident)
        if bucket == "placements":
            frozen[key] = wanted[ident]
    return Isolated(_with(head.spec, buckets), MappingProxyType(out_kept), MappingProxyType(frozen))
