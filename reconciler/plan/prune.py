"""``fleetsync plan``'s prune check: a change that takes most of a cluster's objects away.

The agent keeps a safety net (agent/apply/inventory.py): in one sync it refuses to delete
everything (the bundle became empty) or more than its prune share (``--max-prune-share``,
default 0.5) of what it applied, unless the bundle says the deletion is intended. The hub always says so: every object that left a
cluster's bundle is listed in the bundle's ``removals`` (reconciler/hub/render.py
``removals_since``), so a merged change that empties a cluster *is* carried out by its agent.
The net only catches what the hub did not decide (a bundle the agent skipped, a truncated
render). The decision therefore has to be made before the merge, here:

- a change that removes more than ``pruneMaxShare`` (the repo's fleetsync.yaml, default 0.5) of a
  cluster's objects is a loud warning (it does not block: shrinking a fleet is normal work);
- a change that leaves a cluster that had objects with none is a failed check (exit 2), unless
  the pull request carries the label ``fleetsync/approve-prune`` (passed as ``--label``).

Clusters that leave the fleet (their MemberCluster is deleted) are not counted: the hub stops
writing their branch and their agent removes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

APPROVE_PRUNE_LABEL = "fleetsync/approve-prune"


@dataclass(frozen=True, slots=True)
class PruneCheck:
    """One cluster whose change removes more than the share of its objects, or all of them."""

    cluster: str
    before: int  # objects (by identity) base puts on the cluster
    removed: int  # of those, how many head no longer puts there
    after: int  # objects head puts on the cluster
    max_share: float
    blocking: bool

    @property
    def empties(self) -> bool:
        return self.after == 0

    def message(self) -> str:
        if self.empties:
            tail = (
                f"approved by the label {APPROVE_PRUNE_LABEL}"
                if not self.blocking
                else f"add the label {APPROVE_PRUNE_LABEL} to the pull request if this is intended"
            )
            return f"removes all {self.removed} object(s): the cluster is left with none; {tail}"
        return (
            f"removes {self.removed} of {self.before} object(s) (more than {self.max_share:.0%}); "
            f"{self.after} remain"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "before": self.before,
            "removed": self.removed,
            "after": self.after,
            "empties": self.empties,
            "blocking": self.blocking,
            "message": self.message(),
        }


def prune_checks(
    base: Mapping[str, Iterable[str]],
    head: Mapping[str, Iterable[str]],
    members: Collection[str],
    max_share: float,
    labels: Collection[str],
) -> tuple[PruneCheck, ...]:
    """``base``/``head``: cluster -> the identities each commit puts on it; ``members``: the
    clusters still in the fleet at head. Sorted by cluster."""
    approved = APPROVE_PRUNE_LABEL in labels
    out: list[PruneCheck] = []
    for cluster in sorted(base):
        if cluster not in members:
            continue
        before, after = set(base[cluster]), set(head.get(cluster, ()))
        removed = len(before - after)
        if not before or not removed:
            continue
        if not after or removed / len(before) > max_share:
            out.append(
                PruneCheck(
                    cluster, len(before), removed, len(after), max_share, blocking=not after and not approved
                )
            )
    return tuple(out)


def grouped(checks: Iterable[PruneCheck]) -> list[tuple[str, list[str]]]:
    """(message, clusters) with equal messages together, largest group first."""
    out: dict[str, list[str]] = {}
    for c in checks:
        out.setdefault(c.message(), []).append(c.cluster)
    return sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0]))
