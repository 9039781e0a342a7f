"""Per-cluster bundles: every placement bound to a cluster → the files of its bundle branch.

Pure and deterministic: the same inputs give the same bytes and so the same bundle id, with no
timestamps anywhere; the hub commits a branch only when its id changes. Two placements that
place the same object on one cluster keep one file each (under their own placement key): the
agent sees both and reports ApplyConflictBetweenPlacements, as KubeFleet's work applier does.

Speed comes from ``ManifestCache``: an object that no override touched is the same mapping for
every cluster (reconciler/hub/overrides.py keeps it shared and marks the others ``patched``), so it
is serialised once per reconcile rather than once per cluster; patched manifests are serialised
directly and never cached, so the cache stays as small as the placements' selections.
``placement_version`` is the same content as a hash, computed before any bundle is rendered: the
rollout compares versions, and equal versions render equal files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetsync_contract.bundle import (
    Bundle,
    BundleObject,
    BundlePlacement,
    EntryKey,
    FileEntry,
    Removal,
    build_bundle_index,
    placement_key,
)
from fleetsync_contract.canonical import dump
from reconciler.api.placement import ApplyStrategy, Placement
from reconciler.hub.overrides import OverriddenObject, OverrideResult, manifest_digest


@dataclass(frozen=True, slots=True)
class PlacementOnCluster:
    """One placement's share of a cluster's bundle: the snapshot index and the overridden objects."""

    placement: Placement
    resource_index: int
    objects: Sequence[OverriddenObject]


@dataclass(frozen=True, slots=True)
class RenderedBundle:
    cluster: str
    bundle_id: str
    files: Mapping[str, bytes]
    index: Bundle  # bundle.yaml as parse_bundle reads it back: nobody parses what was just written


class ManifestCache:
    """Canonical bytes per manifest mapping, shared across the clusters of one reconcile.

    Keyed by object identity of the mapping; the cache holds a reference to each mapping so an
    id is never reused while the cache holds its entry.

    A long-running hub keeps one across passes (``InputMemo.manifests``): the patched manifests
    an ``OverrideMemo`` reuses are the same mappings pass after pass, so they are serialised
    once, not once per pass. ``begin_pass`` keeps only the entries the last pass used.
    """

    __slots__ = ("_previous", "_texts", "entries")

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Mapping[str, Any], bytes]] = {}
        self._previous: dict[int, tuple[Mapping[str, Any], bytes]] = {}
        # bundle.yaml's text of each file entry (fleetsync_contract/bundle.py ``files_text``)
        self.entries = _Generations({})

    def begin_pass(self) -> None:
        """A render pass begins: what the one before did not use is forgotten."""
        self._previous, self._texts = self._texts, {}
        old = self.entries
        old.previous = {}
        self.entries = _Generations(old)

    def text(self, manifest: Mapping[str, Any]) -> bytes:
        hit = self._texts.get(id(manifest))
        if hit is None:
            hit = self._previous.pop(id(manifest), None)
            if hit is None:
                hit = (manifest, dump(manifest))
            self._texts[id(manifest)] = hit
        return hit[1]


class _Generations(dict[EntryKey, tuple[FileEntry, bytes]]):
    """This pass's entries; a miss takes the entry over from the previous pass's."""

    def __init__(self, previous: dict[EntryKey, tuple[FileEntry, bytes]]):
        super().__init__()
        self.previous = previous

    def __missing__(self, key: EntryKey) -> tuple[FileEntry, bytes]:
        value = self.previous.pop(key)  # KeyError: dump it
        self[key] = value
        return value


def key_of(placement: Placement) -> str:
    """The placement key of docs/formats.md (``ClusterResourcePlacement/web``)."""
    return placement_key(placement.kind, placement.namespace, placement.name)


def apply_strategy_doc(strategy: ApplyStrategy) -> dict[str, Any]:
    """KubeFleet's applyStrategy shape with every default filled in (what bundles carry)."""
    doc = strategy.to_dict()
    doc["serverSideApplyConfig"] = {"force": strategy.server_side_apply_force}
    return doc


def bundle_placement(placement: Placement, resource_index: int) -> BundlePlacement:
    return BundlePlacement(
        kind=placement.kind,
        namespace=placement.namespace,
        name=placement.name,
        resource_index=resource_index,
        apply_strategy=apply_strategy_doc(placement.strategy.apply_strategy),
        unavailable_period_seconds=placement.strategy.rolling_update.unavailable_period_seconds,
    )


def placement_version(
    placement: Placement, index: int, result: OverrideResult, digests: dict[str, str]
) -> str:
    """Everything a placement puts in one cluster's bundle, as a hash: its bundle.yaml entry
    (snapshot index, apply strategy) and the overridden objects. Equal versions, equal files.

    ``digests`` (one per placement per pass) keeps the digest of each object no override
    touched, by its snapshot index and identity: within a placement those name its content,
    so every cluster after the first reuses it. A patched manifest is digested directly."""
    entry = bundle_placement(placement, index).to_dict()
    h = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode() + b"\0")
    for obj in result.objects:
        envelope = f"{obj.envelope.kind}/{obj.envelope.namespace}/{obj.envelope.name}" if obj.envelope else ""
        key = f"{index}\0{obj.identity}\0{envelope}"
        d = obj.digest or (None if obj.patched else digests.get(key))
        if not d:
            d = manifest_digest(obj.manifest)
            if not obj.patched:
                digests[key] = d
        h.update(f"{obj.identity}\0{d}\0".encode())
        if obj.envelope is not None:
            h.update(f"{obj.envelope.kind}/{obj.envelope.namespace}/{obj.envelope.name}\0".encode())
    h.update("\0".join(result.deleted).encode())
    return h.hexdigest()[:16]


def render_cluster(
    cluster: str,
    source_commit: str,
    placements: Sequence[PlacementOnCluster],
    removals: Sequence[Removal] = (),
    cache: ManifestCache | None = None,
    heartbeat_period_seconds: int | None = None,
    *,
    leaving: bool = False,
) -> RenderedBundle:
    """The bundle files of one cluster (``bundle.yaml`` and one file per object).

    ``heartbeat_period_seconds``: the MemberCluster's ``spec.heartbeatPeriodSeconds``, carried to
    the agent (which never reads the fleet repo) as bundle.yaml's ``memberCluster``."""
    cache = cache or ManifestCache()
    bps: list[BundlePlacement] = []
    objects: list[BundleObject] = []
    for p in placements:
        bp = bundle_placement(p.placement, p.resource_index)
        bps.append(bp)
        for obj in p.objects:
            # a patched manifest is this cluster's alone: cached only when an OverrideMemo keeps it
            text = dump(obj.manifest) if obj.patched and not obj.digest else cache.text(obj.manifest)
            objects.append(BundleObject(bp.key, obj.identity, text=text, envelope=obj.envelope))
    index, files = build_bundle_index(
        cluster,
        source_commit,
        bps,
        objects,
        removals,
        heartbeat_period_seconds=heartbeat_period_seconds,
        leaving=leaving,  # bundle.yaml says so: the agent's prune caps are lifted
        texts=cache.entries,
    )
    return RenderedBundle(cluster, index.bundle_id, files, index)


def removals_since(
    previous: Bundle | None,
    placements: Iterable[PlacementOnCluster],
    *,
    deleted_by_override: Mapping[str, Iterable[str]] | None = None,
    unselected: Iterable[str] = (),
    deleted_placements: Iterable[str] = (),
) -> list[Removal]:
    """What left this cluster since ``previous`` (its last bundle), with KubeFleet-style reasons.

    ``deleted_by_override`` maps placement key → identities a Delete rule removed on this cluster;
    ``unselected`` are placement keys that no longer pick this cluster; ``deleted_placements`` are
    placement keys gone from the repo. Anything else that vanished is ResourceRemoved.
    """
    if previous is None:
        return []
    now = {(key_of(p.placement), o.identity) for p in placements for o in p.objects}
    by_override = {k: set(v) for k, v in (deleted_by_override or {}).items()}
    unselected_set, deleted_set = set(unselected), set(deleted_placements)
    out: list[Removal] = []
    for entry in previous.files:
        key = (entry.placement, entry.identity)
        if key in now:
            continue
        if entry.placement in deleted_set:
            reason = "PlacementDeleted"
        elif entry.placement in unselected_set:
            reason = "ClusterUnselected"
        elif entry.identity in by_override.get(entry.placement, set()):
            reason = "OverrideDeleted"
        else:
            reason = "ResourceRemoved"
        out.append(Removal(entry.identity, entry.placement, reason))
    return sorted(set(out), key=lambda r: (r.placement, r.identity))
