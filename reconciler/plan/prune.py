"""``fleetsync plan``'s prune check: a change that takes most of a cluster's objects away.

The hub refuses to publish such a change (reconciler/hub/prunesafety.py, after Config Sync's
KNV2006): a cluster that would lose all of its objects, or more than ``pruneMaxShare`` of them
(the repo's fleetsync.yaml, default 0.5), keeps its previous bundle until a commit of the change
confirms the removal with the trailer ``Fleetsync-Allow-Prune: <cluster>`` (or ``all``). Plan
uses the hub's own verdict (``judge``) on what base and head put on every cluster, and the
trailers of the pull request's commits (base..head, ``change_confirmations``), so it blocks the
merge (exit 2) exactly when the hub would hold the removal, and says how to confirm it. The
pull-request label ``fleetsync/approve-prune`` that once approved an emptying in plan alone is
not a confirmation: the hub cannot see labels, so plan says so when it is given.

Clusters that leave the fleet (their MemberCluster is deleted) are not counted: the hub stops
writing their branch and their agent removes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.hub.prunesafety import ALL, TRAILER, judge

APPROVE_PRUNE_LABEL = "fleetsync/approve-prune"  # no longer a confirmation (see above)
MAX_TRAILER_NAMES = 30  # more blocked clusters than this: the suggested trailer is ``all``


@dataclass(frozen=True, slots=True)
class PruneCheck:
    """One cluster whose change removes more than the share of its objects, or all of them."""

    cluster: str
    before: int  # objects (by identity) base puts on the cluster
    removed: int  # of those, how many head no longer puts there
    after: int  # objects head puts on the cluster
    max_share: float
    blocking: bool  # not confirmed: the hub keeps the cluster's previous bundle

    @property
    def empties(self) -> bool:
        return self.after == 0

    def message(self) -> str:
        what = (
            f"removes all {self.removed} object(s): the cluster is left with none"
            if self.empties
            else f"removes {self.removed} of {self.before} object(s) (more than {self.max_share:.0%}); "
            f"{self.after} remain"
        )
        return what if self.blocking else f"{what}; confirmed by a `{TRAILER}` trailer"

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "before": self.before,
            "removed": self.removed,
            "after": self.after,
            "empties": self.empties,
            "blocking": self.blocking,
            "message": self.message(),
            "confirmWith": f"{TRAILER}: {self.cluster}" if self.blocking else "",
        }


def prune_checks(
    base: Mapping[str, Iterable[str]],
    head: Mapping[str, Iterable[str]],
    members: Collection[str],
    max_share: float,
    allowed: Collection[str],
) -> tuple[PruneCheck, ...]:
    """``base``/``head``: cluster -> the identities each commit puts on it; ``members``: the
    clusters still in the fleet at head; ``allowed``: the clusters (or ``all``) the change's
    trailers confirm. Sorted by cluster."""
    out: list[PruneCheck] = []
    for cluster in sorted(base):
        if cluster not in members:
            continue
        before, after = set(base[cluster]), set(head.get(cluster, ()))
        verdict = judge(cluster, before, after, max_share, allowed)
        if verdict is not None:
            out.append(
                PruneCheck(
                    cluster, verdict.before, verdict.removed, verdict.after, max_share, verdict.refused
                )
            )
    return tuple(out)


def confirmation_hint(checks: Iterable[PruneCheck]) -> str:
    """The trailer that would confirm every blocking check, for the pull request's author."""
    names = [c.cluster for c in checks if c.blocking]
    value = ", ".join(names) if len(names) <= MAX_TRAILER_NAMES else ALL
    return (
        f"The hub keeps these clusters' bundles until a commit of the change confirms the removal with "
        f"the commit-message trailer `{TRAILER}: {value}` (or `{TRAILER}: {ALL}`); see docs/plan.md."
    )


def grouped(checks: Iterable[PruneCheck]) -> list[tuple[str, list[str]]]:
    """(message, clusters) with equal messages together, largest group first."""
    out: dict[str, list[str]] = {}
    for c in checks:
        out.setdefault(c.message(), []).append(c.cluster)
    return sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0]))
