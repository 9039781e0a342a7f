"""What this agent applied, and the safety rules for taking anything away again.

The inventory is the agent's own record of every object it applied, kept *in the member
cluster* (a ConfigMap in the agent's namespace), so it survives agent restarts and a lost
report branch. An object leaves the cluster only when all three hold:

1. it is in the inventory (we applied it),
2. the live object still carries our ownership annotation for this cluster and a placement
   (someone else's object with the same name is never touched), and its uid is the one we
   recorded when known (a re-created object is someone else's),
3. it is no longer in the bundle.

On top of that the plan refuses, as a whole, to delete everything at once (a bundle that became
empty) and to delete more than a configurable share of the inventory in one sync, unless the
bundle says the deletion is intended; Namespaces, CustomResourceDefinitions and
PersistentVolumeClaims are kept (and reported) unless explicitly allowed, because deleting them
destroys data that Git cannot bring back. While the Git source is unreachable or stale nothing
is pruned at all: absence of news is not a decision to delete.

A user keeps one object with an opt-out annotation on it (ours, ``fleetsync.io/prune:
disabled``, or the ones people bring from Flux and Argo CD, see ``prune_opted_out``), read from
the live object, so it works whether the last bundle's manifest carried it or someone added it on
the member. Such an object is *orphaned*: kept, reported as ``KeepOrphaned``, and dropped from the
inventory, so that no later sync deletes it once the annotation is gone. Values are read
case-insensitively, more leniently than Flux and Argo CD do: a misspelt opt-out should keep an
object, never delete it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fleetsync_contract import identity

INVENTORY_FORMAT = "fleetsync.io/inventory-v1"
PRUNE_ANNOTATION = "fleetsync.io/prune"  # "disabled": never prune this object
FLUX_PRUNE_ANNOTATION = "kustomize.toolkit.fluxcd.io/prune"  # "disabled", as Flux reads it
ARGO_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"  # a comma-separated list holding "Prune=false"
PROTECTED_KINDS = frozenset(
    {("", "Namespace"), ("apiextensions.k8s.io", "CustomResourceDefinition"), ("", "PersistentVolumeClaim")}
)


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    api_version: str
    kind: str
    namespace: str
    name: str
    placement: str
    uid: str = ""

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def identity(self) -> str:
        return identity(self.group, self.kind, self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class Inventory:
    entries: tuple[InventoryEntry, ...] = ()
    bundle_id: str = ""

    def to_data(self) -> dict[str, str]:
        """ConfigMap ``data``: one JSON document, sorted, so an unchanged inventory is byte-identical."""
        doc = {
            "format": INVENTORY_FORMAT,
            "bundleId": self.bundle_id,
            "entries": [
                {
                    "apiVersion": e.api_version,
                    "kind": e.kind,
                    "namespace": e.namespace,
                    "name": e.name,
                    "placement": e.placement,
                    "uid": e.uid,
                }
                for e in sorted(self.entries, key=lambda x: x.identity)
            ],
        }
        return {"inventory.json": json.dumps(doc, sort_keys=True, separators=(",", ":"))}

    @classmethod
    def from_data(cls, data: Mapping[str, str] | None) -> Inventory:
        if not data or "inventory.json" not in data:
            return cls()
        doc = json.loads(data["inventory.json"])
        if doc.get("format") != INVENTORY_FORMAT:
            raise ValueError(f"inventory format {doc.get('format')!r} is not {INVENTORY_FORMAT}")
        entries = tuple(
            InventoryEntry(
                e["apiVersion"],
                e["kind"],
                e.get("namespace", ""),
                e["name"],
                e.get("placement", ""),
                e.get("uid", ""),
            )
            for e in doc.get("entries", [])
        )
        return cls(entries, str(doc.get("bundleId", "")))


class PruneVerdict(StrEnum):
    DELETE = "Delete"
    KEEP_NOT_OURS = "KeepNotOwned"  # the live object does not carry our ownership (or its uid changed)
    KEEP_PROTECTED = "KeepProtected"  # Namespace / CRD / PVC without explicit permission
    KEEP_ORPHANED = "KeepOrphaned"  # opted out of pruning: kept, and dropped from the inventory
    ALREADY_GONE = "AlreadyGone"


@dataclass(frozen=True, slots=True)
class PruneItem:
    entry: InventoryEntry
    verdict: PruneVerdict


@dataclass(frozen=True, slots=True)
class PrunePolicy:
    max_share: float = 0.5  # of the inventory, in one sync
    allow_empty: bool = False  # the bundle says an empty result is intended
    allow_protected: frozenset[tuple[str, str]] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class PrunePlan:
    items: tuple[PruneItem, ...] = ()
    refused: str = ""  # non-empty: nothing is deleted this sync, and this says why

    @property
    def deletions(self) -> tuple[InventoryEntry, ...]:
        if self.refused:
            return ()
        return tuple(i.entry for i in self.items if i.verdict == PruneVerdict.DELETE)


@dataclass(frozen=True, slots=True)
class LiveOwnership:
    """What the live object says about who owns it (None when the object is gone)."""

    owner: str  # the value of our ownership annotation ('' when absent)
    uid: str
    opted_out: bool = False  # it carries a prune opt-out annotation (prune_opted_out)


def prune_opted_out(annotations: Mapping[str, Any] | None) -> bool:
    """Whether an object's annotations opt it out of pruning: ``fleetsync.io/prune: disabled``,
    Flux's ``kustomize.toolkit.fluxcd.io/prune: disabled``, or Argo CD's
    ``argocd.argoproj.io/sync-options`` listing ``Prune=false`` (spaces around items and ``=``
    allowed). Keys are exact; values ignore case."""
    ann = annotations or {}
    for key in (PRUNE_ANNOTATION, FLUX_PRUNE_ANNOTATION):
        if str(ann.get(key, "")).strip().lower() == "disabled":
            return True
    for option in str(ann.get(ARGO_SYNC_OPTIONS, "")).split(","):
        name, _, value = option.partition("=")
        if name.strip().lower() == "prune" and value.strip().lower() == "false":
            return True
    return False


def plan_prune(
    inventory: Inventory,
    desired: Iterable[str],
    live: Mapping[str, LiveOwnership | None],
    our_owner_prefix: str,
    policy: PrunePolicy,
    *,
    source_fresh: bool,
    deletion_intended: bool = False,
) -> PrunePlan:
    """Which inventory entries to delete now, and which to keep (and why).

    ``desired`` is the set of identities in the new bundle; ``live`` maps each candidate's
    identity to its ownership on the cluster; ``our_owner_prefix`` is ``<cluster>/`` (our
    annotation's value starts with it).
    """
    if not source_fresh:
        return PrunePlan(refused="the Git source is unreachable or stale: nothing is pruned until it is back")
    wanted = set(desired)
    gone = [e for e in inventory.entries if e.identity not in wanted]
    items = [
        PruneItem(e, _verdict(e, live.get(e.identity), our_owner_prefix, policy))
        for e in sorted(gone, key=lambda e: e.identity)
    ]
    deleting = sum(1 for i in items if i.verdict == PruneVerdict.DELETE)
    total = len(inventory.entries)
    intended = deletion_intended or policy.allow_empty
    if deleting and not wanted and not intended:
        return PrunePlan(
            tuple(items),
            refused=(
                f"refusing to delete all {deleting} objects: the bundle became empty; "
                "mark the deletion as intended in the bundle to proceed"
            ),
        )
    if deleting and total and deleting / total > policy.max_share and not intended:
        return PrunePlan(
            tuple(items),
            refused=(
                f"refusing to delete {deleting} of {total} objects in one sync (more than "
                f"{policy.max_share:.0%}); mark the deletion as intended in the bundle to proceed"
            ),
        )
    return PrunePlan(tuple(items))


def _verdict(
    entry: InventoryEntry, own: LiveOwnership | None, our_owner_prefix: str, policy: PrunePolicy
) -> PruneVerdict:
    """One candidate's verdict; an opt-out counts only on an object that is still ours."""
    if own is None:
        return PruneVerdict.ALREADY_GONE
    if not own.owner.startswith(our_owner_prefix) or (entry.uid and own.uid and own.uid != entry.uid):
        return PruneVerdict.KEEP_NOT_OURS
    if own.opted_out:
        return PruneVerdict.KEEP_ORPHANED
    kind = (entry.group, entry.kind)
    if kind in PROTECTED_KINDS and kind not in policy.allow_protected:
        return PruneVerdict.KEEP_PROTECTED
    return PruneVerdict.DELETE


def updated_inventory(
    previous: Inventory,
    applied: Iterable[InventoryEntry],
    deleted: Iterable[str],
    kept_after_failure: Iterable[str],
    bundle_id: str,
) -> Inventory:
    """The inventory after a sync: what is applied now, plus what we failed or refused to delete."""
    by_id: dict[str, InventoryEntry] = {e.identity: e for e in applied}
    keep = set(kept_after_failure)
    removed = set(deleted)
    for e in previous.entries:
        if e.identity in keep and e.identity not in removed:
            by_id.setdefault(e.identity, e)
    return Inventory(tuple(sorted(by_id.values(), key=lambda x: x.identity)), bundle_id)


def entry_for(obj: Mapping[str, Any], placement: str) -> InventoryEntry:
    meta = obj.get("metadata") or {}
    return InventoryEntry(
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name", "")),
        placement,
        str(meta.get("uid") or ""),
    )
