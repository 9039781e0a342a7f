"""Ownership marks, and who may take over an object that is already on the cluster.

KubeFleet marks what it applied with an ownerReference to the member's ``AppliedWork``. fleetsync
has no AppliedWork (Git is the hub), so the same facts live on the object itself:

- label ``fleetsync.io/owned-by: <cluster>`` (a safe label value: the cluster name when it is
  one, else ``h-`` and a hash) — lets the agent list what it owns with one selector;
- annotations ``fleetsync.io/owned-by: <cluster>`` (exact), ``fleetsync.io/placement: <placement
  key>`` (which placement owns it: the AppliedWork's role), ``fleetsync.io/bundle-id`` and
  KubeFleet's ``kubernetes-fleet.io/spec-hash`` (the hash of the hub manifest, which decides
  whether ``whenToApply: IfNotDrifted`` still protects the live object).

Because ownerReferences are ignored in every KubeFleet comparison, these marks are ignored too
(``fleetsync.io/`` keys are discarded with KubeFleet's reserved prefixes, see compare.py).

The takeover decision (``drift_detection_takeover.go``) is a pure function of the live object
and the placement's strategy: an object placed by another placement that still exists is an
``ApplyConflictBetweenPlacements`` even with co-ownership allowed; one with any other owner
reference is ``ManifestsAlreadyOwnedByOthers`` unless ``allowCoOwnership``; otherwise
``whenToTakeOver`` decides. A mark naming a placement no longer in the bundle is left-behind
(KubeFleet drops ownerReferences to orphaned AppliedWorks) and does not block.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fleetsync_contract.canonical import json_sha256

OWNED_BY = "fleetsync.io/owned-by"
PLACEMENT = "fleetsync.io/placement"
BUNDLE_ID = "fleetsync.io/bundle-id"
SPEC_HASH = "kubernetes-fleet.io/spec-hash"

_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def owner_label_value(cluster: str) -> str:
    """The cluster name when it is a valid label value, else a stable hash of it."""
    if _LABEL_VALUE.match(cluster) and cluster:
        return cluster
    return "h-" + hashlib.sha256(cluster.encode()).hexdigest()[:40]


def spec_hash(manifest: Mapping[str, Any]) -> str:
    """Hash of the hub manifest as delivered (before our marks): sha256 of canonical JSON."""
    return "sha256:" + json_sha256(manifest)


def stamped(manifest: Mapping[str, Any], cluster: str, placement: str, bundle_id: str) -> dict[str, Any]:
    """A copy of ``manifest`` carrying our ownership marks."""
    out = copy.deepcopy(dict(manifest))
    meta = out.setdefault("metadata", {})
    labels = dict(meta.get("labels") or {})
    annotations = dict(meta.get("annotations") or {})
    labels[OWNED_BY] = owner_label_value(cluster)
    annotations.update(
        {OWNED_BY: cluster, PLACEMENT: placement, BUNDLE_ID: bundle_id, SPEC_HASH: spec_hash(manifest)}
    )
    meta["labels"] = labels
    meta["annotations"] = annotations
    return out


@dataclass(frozen=True, slots=True)
class Marks:
    """What a live object says about its owner."""

    cluster: str  # '' when not placed by any fleetsync agent
    placement: str
    spec_hash: str
    other_owners: int  # ownerReferences (KubeFleet counts every one as another owner)

    def owner(self) -> str:
        """The value inventory.plan_prune compares with ``<cluster>/``."""
        return f"{self.cluster}/{self.placement}" if self.cluster else ""


def marks(live: Mapping[str, Any]) -> Marks:
    meta = live.get("metadata") or {}
    ann = meta.get("annotations") or {}
    refs = meta.get("ownerReferences") or []
    return Marks(
        str(ann.get(OWNED_BY, "")),
        str(ann.get(PLACEMENT, "")),
        str(ann.get(SPEC_HASH, "")),
        len(refs) if isinstance(refs, list) else 0,
    )


class Ownership(StrEnum):
    OURS = "Ours"  # placed by this placement on this cluster already
    TAKE_OVER = "TakeOver"  # free to take over, subject to whenToTakeOver
    OTHER_PLACEMENT = "ApplyConflictBetweenPlacements"
    OTHER_OWNERS = "ManifestsAlreadyOwnedByOthers"


def ownership(
    live: Mapping[str, Any],
    cluster: str,
    placement: str,
    placements: Collection[str],
    allow_co_ownership: bool,
) -> Ownership:
    """Whether this placement may manage ``live`` (KubeFleet's takeover pre-checks)."""
    m = marks(live)
    if m.cluster == cluster and m.placement == placement:
        return Ownership.OURS
    placed_by_other = m.cluster == cluster and m.placement != placement and m.placement in placements
    if placed_by_other:
        return Ownership.OTHER_PLACEMENT
    if m.other_owners and not allow_co_ownership:
        return Ownership.OTHER_OWNERS
    return Ownership.TAKE_OVER
