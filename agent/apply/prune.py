"""Carrying out a prune: read who owns each candidate now, plan (inventory.py's rules), delete.

The plan is inventory.plan_prune's, unchanged; this module only gathers its inputs from the
cluster and executes it. A candidate whose ownership cannot be read is treated as not ours (never
delete blind); a kind no longer served means its CRD went, and the object with it. Deletions go
in reverse wave order (workloads before the config and namespaces they use), each with the uid
we recorded as a precondition, so an object re-created by someone else is never deleted. The
reads, and the deletions of one wave, go out at once on ``workers`` threads (each is a round trip
to the API server). A deletion that fails keeps its entry in the inventory for the next pass.
Deletion counts as intended (lifting the share and empty-bundle caps) only when every candidate
is listed in the bundle's ``removals``, or when the bundle says the cluster is leaving the fleet
(``leaving``: its emptying was confirmed by the leave, docs/hub.md "Leaving the fleet"; an entry
kept earlier, such as a protected Namespace, is named by no removal and must not block it). The prune opt-out is read from the live object
(inventory.prune_opted_out): a user may add it on the member, and one set in the last bundle's
manifest reached the live object when that bundle was applied. An orphaned object is left out of
``kept``, so it leaves the inventory.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from agent.apply.inventory import (
    Inventory,
    InventoryEntry,
    LiveOwnership,
    PrunePolicy,
    PruneVerdict,
    plan_prune,
    prune_opted_out,
)
from agent.apply.kube import KindRef
from agent.apply.manager import Kube
from agent.apply.order import wave_of
from agent.apply.takeover import marks
from agent.errors import KindNotServed, KubeError
from fleetsync_contract.report import KeptItem, PruneSummary

log = logging.getLogger("fleetsync.agent")


@dataclass(frozen=True, slots=True)
class Pruned:
    deleted: tuple[str, ...]
    summary: PruneSummary
    kept: set[str]  # identities that stay in the inventory although not in the bundle


def _ownership(obj: dict[str, Any]) -> LiveOwnership:
    meta = obj.get("metadata") or {}
    return LiveOwnership(
        marks(obj).owner(), str(meta.get("uid", "")), prune_opted_out(meta.get("annotations"))
    )


def prune(
    kube: Kube,
    inventory: Inventory,
    wanted: Collection[str],
    removals: Collection[str],
    *,
    cluster: str,
    policy: PrunePolicy,
    source_fresh: bool,
    workers: int = 1,
    leaving: bool = False,
) -> Pruned:
    gone = [e for e in inventory.entries if e.identity not in wanted]
    if not gone:
        return Pruned((), PruneSummary(), set())
    refs: dict[str, KindRef] = {}

    def read(e: InventoryEntry) -> LiveOwnership | None:
        try:
            refs[e.identity] = ref = kube.kind(e.api_version, e.kind)
            obj = kube.get(ref, e.name, e.namespace)
        except KindNotServed:
            obj = None  # its CRD is gone, and with it the object
        except KubeError:
            return LiveOwnership("", "")  # cannot tell: never delete blind
        return None if obj is None else _ownership(obj)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="prune") as pool:
        live = dict(zip([e.identity for e in gone], pool.map(read, gone), strict=True))
        plan = plan_prune(
            inventory,
            wanted,
            live,
            f"{cluster}/",
            policy,
            source_fresh=source_fresh,
            deletion_intended=leaving or all(e.identity in removals for e in gone),
        )
        kept: set[str] = {i.entry.identity for i in plan.items if i.verdict == PruneVerdict.KEEP_PROTECTED}
        if plan.refused:
            kept |= {e.identity for e in gone}

        def delete(entry: InventoryEntry) -> bool:
            try:
                kube.delete(refs[entry.identity], entry.name, entry.namespace, entry.uid or None)
            except KubeError as e:
                log.warning("cannot prune %s: %s", entry.identity, e.message)
                return False
            return True

        deleted: list[str] = []
        by_wave: dict[int, list[InventoryEntry]] = {}
        for entry in plan.deletions:
            by_wave.setdefault(wave_of(entry.api_version, entry.kind), []).append(entry)
        for wave in sorted(by_wave, reverse=True):  # a wave's deletions at once, waves in reverse order
            for entry, ok in zip(by_wave[wave], pool.map(delete, by_wave[wave]), strict=True):
                if ok:
                    deleted.append(entry.identity)
                else:
                    kept.add(entry.identity)
    summary = PruneSummary(
        plan.refused,
        tuple(sorted(deleted)),
        tuple(
            KeptItem(i.entry.identity, i.verdict.value)
            for i in plan.items
            if i.verdict != PruneVerdict.DELETE or i.entry.identity in kept
        ),
    )
    return Pruned(tuple(sorted(deleted)), summary, kept)
