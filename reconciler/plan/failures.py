"""Placements that would fail on a cluster, and what the hub does then: it keeps the old version.

The hub's stages (reconciler/hub/pipeline.py) do not drop a placement's objects when a stage
fails: a cluster whose overrides fail (``Overridden=False``, ``OverriddenFailed``) stays on its
previous bundle for that placement, and a placement whose resource selectors are invalid
(``InvalidResourceSelectors``) stays as it is on every cluster (reconciler/hub/loop.py carries
those files from the bundle branches). ``desired_shares`` describes only the renders that
succeeded, so plan must put the carried version back itself: otherwise a typo that breaks one
override would show as "removed Namespace, removed Deployment" on every cluster it targets,
while the hub removes nothing. ``keep_previous`` does that from base's render of the same
placement, and ``placement_failures`` lists the failures so that the merge is blocked when the
change causes one (a failure base already had is shown but does not block: the change did not
cause it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.hub.outcome import Placed
from reconciler.hub.overrides import REASON_FAILED
from reconciler.plan.diff import ObjectKey

REASON_SELECTORS = "InvalidResourceSelectors"
EVERY_CLUSTER = ""  # the cluster of a failure that is the placement's on every cluster


@dataclass(frozen=True, slots=True)
class PlacementFailure:
    """A placement that fails on ``cluster`` (every cluster when it is ``EVERY_CLUSTER``)."""

    placement: str
    cluster: str
    stage: str  # override | selection
    reason: str  # KubeFleet's condition reason
    message: str
    new: bool  # base did not fail the same way: the change causes it, and it blocks the merge

    def to_dict(self) -> dict[str, Any]:
        return {
            "placement": self.placement,
            "cluster": self.cluster,
            "stage": self.stage,
            "reason": self.reason,
            "message": self.message,
            "new": self.new,
            "outcome": "the hub keeps the previous version of this placement's objects",
        }


def _failures(p: Placed | None) -> dict[tuple[str, str], tuple[str, str]]:
    """(cluster, stage) -> (reason, message) of every failure of ``p``."""
    if p is None:
        return {}
    if p.schedule is None:
        return {(EVERY_CLUSTER, "selection"): (REASON_SELECTORS, "; ".join(p.selection_errors))}
    return {(c, "override"): (REASON_FAILED, r.error) for c, r in sorted(p.results.items()) if not r.ok}


def placement_failures(
    base: Mapping[str, Placed], head: Mapping[str, Placed]
) -> tuple[PlacementFailure, ...]:
    """Every failure of head's placements, sorted by placement and cluster, each marked new
    unless base failed on the same cluster with the same message."""
    out: list[PlacementFailure] = []
    for key in sorted(head):
        before = _failures(base.get(key))
        for (cluster, stage), (reason, message) in sorted(_failures(head[key]).items()):
            new = before.get((cluster, stage)) != (reason, message)
            out.append(PlacementFailure(key, cluster, stage, reason, message, new))
    return tuple(out)


def keep_previous(
    head: Mapping[str, Placed],
    base_objects: Mapping[str, Mapping[ObjectKey, Mapping[str, Any]]],
    head_objects: dict[str, dict[ObjectKey, Mapping[str, Any]]],
) -> None:
    """Put base's objects back where head's placement fails, as the hub keeps them (except where
    a staged run moves the cluster to another render, which ``desired_shares`` already shows)."""
    for key, p in head.items():
        for cluster, _stage in _failures(p):
            for c in list(head_objects) if cluster == EVERY_CLUSTER else [cluster]:
                if c in p.older:  # a staged run's other render decides this cluster, not the failed one
                    continue
                kept = {k: m for k, m in base_objects.get(c, {}).items() if k[0] == key}
                head_objects.setdefault(c, {}).update(kept)
