"""From two rendered sides to a plan a person can read: per-cluster changes, grouped.

A change to one shared manifest touches every cluster of its placement the same way; listing
500 identical sections helps nobody. Each cluster's change (objects, placements that pick or
drop it, overrides that start or stop, new policy violations) is reduced to a signature with
the cluster's own name generalised (reconciler/plan/diff.py), and clusters with equal
signatures form one group. Placement-level facts (who is picked and why, how the rollout
starts) are listed once per placement.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetsync_contract.canonical import dump
from reconciler.hub.outcome import Placed
from reconciler.hub.render import bundle_placement
from reconciler.plan.diff import ObjectChange, describe, generalise
from reconciler.policy.gate import Violation


@dataclass(frozen=True, slots=True)
class PlacementChange:
    placement: str
    change: str  # picked | dropped
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"placement": self.placement, "change": self.change, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class OverrideChange:
    placement: str
    override: str  # ClusterResourceOverride/name or ResourceOverride/namespace/name
    change: str  # starts | stops

    def to_dict(self) -> dict[str, str]:
        return {"placement": self.placement, "override": self.override, "change": self.change}


@dataclass(frozen=True, slots=True)
class ClusterChange:
    cluster: str
    objects: tuple[ObjectChange, ...] = ()
    placements: tuple[PlacementChange, ...] = ()
    overrides: tuple[OverrideChange, ...] = ()
    violations: tuple[Violation, ...] = ()  # new in head

    @property
    def empty(self) -> bool:
        return not (self.objects or self.placements or self.overrides or self.violations)

    def signature(self) -> str:
        doc = {
            "o": [o.to_dict() for o in self.objects],
            "p": [{**p.to_dict(), "reason": generalise(p.reason, self.cluster)} for p in self.placements],
            "r": [r.to_dict() for r in self.overrides],
            "v": [
                {**v.to_dict(), "cluster": "", "message": generalise(v.message, self.cluster)}
                for v in self.violations
            ],
        }
        return json.dumps(doc, sort_keys=True)


@dataclass(frozen=True, slots=True)
class Group:
    clusters: tuple[str, ...]
    change: ClusterChange  # the first cluster's; the others' equal it up to their name

    def to_dict(self) -> dict[str, Any]:
        c = self.change
        return {
            "clusters": list(self.clusters),
            "objects": [o.to_dict() for o in c.objects],
            "placements": [{**p.to_dict(), "reason": self._words(p.reason)} for p in c.placements],
            "overrides": [r.to_dict() for r in c.overrides],
            "violations": [
                {**v.to_dict(), "cluster": "", "message": self._words(v.message)} for v in c.violations
            ],
        }

    def _words(self, text: str) -> str:
        """A message for every cluster of the group: its own name for a group of one."""
        return text if len(self.clusters) == 1 else describe(generalise(text, self.change.cluster))


def group_changes(changes: Sequence[ClusterChange]) -> list[Group]:
    """Clusters with equal changes together; groups ordered by size (largest first), then name."""
    by_sig: dict[str, list[ClusterChange]] = {}
    for c in sorted(changes, key=lambda c: c.cluster):
        if not c.empty:
            by_sig.setdefault(c.signature(), []).append(c)
    groups = [Group(tuple(c.cluster for c in members), members[0]) for members in by_sig.values()]
    return sorted(groups, key=lambda g: (-len(g.clusters), g.clusters[0]))


# -- placement level -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlacementPlan:
    placement: str
    picked: Mapping[str, str]  # cluster -> the scheduler's reason
    dropped: Mapping[str, str]
    strategy: str  # RollingUpdate | External | "" (placement deleted)
    first: tuple[str, ...] = ()  # clusters the rollout moves first
    held: tuple[str, ...] = ()  # clusters that wait for the ones before
    removed: tuple[str, ...] = ()
    max_surge: str = ""
    max_unavailable: str = ""
    note: str = ""
    runs: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    settings_diff: str = ""  # the placement's entry in every bundle.yaml (apply strategy, ...)

    def to_dict(self) -> dict[str, Any]:
        rollout: dict[str, Any] = {
            "strategy": self.strategy,
            "first": list(self.first),
            "held": list(self.held),
            "removed": list(self.removed),
        }
        if self.strategy == "RollingUpdate":
            rollout["maxSurge"], rollout["maxUnavailable"] = self.max_surge, self.max_unavailable
        if self.note:
            rollout["note"] = self.note
        return {
            "placement": self.placement,
            "picked": [{"cluster": c, "reason": r} for c, r in sorted(self.picked.items())],
            "dropped": [{"cluster": c, "reason": r} for c, r in sorted(self.dropped.items())],
            "rollout": rollout,
            "runs": [dict(r) for r in self.runs],
            "settingsDiff": self.settings_diff,
        }


def settings_diff(base: Placed | None, head: Placed | None) -> str:
    """How the placement's entry in its clusters' bundle.yaml changes (apply strategy, the
    unavailable period): not an object, but the agents act on it. The snapshot index is left
    out: it moves with every object change, which the objects already show."""

    def text(p: Placed | None) -> list[str]:
        if p is None:
            return []
        doc = bundle_placement(p.placement, 0).to_dict()
        doc.pop("resourceIndex", None)
        return dump(doc).decode().splitlines(keepends=True)

    if base is None or head is None:
        return ""
    return "".join(difflib.unified_diff(text(base), text(head), "base bundle.yaml", "head bundle.yaml", n=2))


def selected(p: Placed | None) -> dict[str, str]:
    """cluster -> reason for every cluster the placement's schedule selects."""
    if p is None or p.schedule is None:
        return {}
    return {d.cluster_name: d.reason for d in p.schedule.decisions if d.selected}


def reasons(p: Placed | None) -> dict[str, str]:
    if p is None or p.schedule is None:
        return {}
    return {d.cluster_name: d.reason for d in p.schedule.decisions}


def schedule_changes(
    key: str, base: Placed | None, head: Placed | None, members: Sequence[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(picked, dropped): clusters head selects and base does not, and the reverse, each with
    the scheduler's reason (head's decision for both: why it is now in, or now out)."""
    before, after, why = selected(base), selected(head), reasons(head)
    picked = {c: r for c, r in after.items() if c not in before}
    dropped: dict[str, str] = {}
    for c in before:
        if c in after:
            continue
        if head is None:
            dropped[c] = f"placement {key} is deleted"
        elif c not in members:
            dropped[c] = "the MemberCluster is no longer in the fleet"
        elif head.schedule is None:
            continue  # its definition or selectors fail: the hub keeps it where it is (failures.py)
        else:
            dropped[c] = why.get(c, "not selected")
    return picked, dropped


def override_changes(
    key: str, base: Placed | None, head: Placed | None, cluster: str
) -> list[OverrideChange]:
    """Overrides that start or stop applying to this placement's objects on ``cluster``, when
    the placement selects the cluster in both commits (a pick or a drop says enough)."""
    if base is None or head is None or cluster not in base.results or cluster not in head.results:
        return []

    def names(p: Placed | None) -> set[str]:
        r = p.results.get(cluster) if p is not None else None
        if r is None:
            return set()
        return {f"ClusterResourceOverride/{n}" for n in r.applicable_cros} | {
            f"ResourceOverride/{ns}/{n}" for ns, n in r.applicable_ros
        }

    before, after = names(base), names(head)
    return [OverrideChange(key, o, "starts") for o in sorted(after - before)] + [
        OverrideChange(key, o, "stops") for o in sorted(before - after)
    ]


def new_violations(base: Placed | None, head: Placed | None, cluster: str) -> list[Violation]:
    """Head's violations on ``cluster`` that base did not have (same policy, object, message)."""
    if head is None:
        return []
    old = {
        (v.policy, v.binding, v.identity, v.message)
        for v in (base.violations.get(cluster, ()) if base else ())
    }
    return [
        v for v in head.violations.get(cluster, ()) if (v.policy, v.binding, v.identity, v.message) not in old
    ]
