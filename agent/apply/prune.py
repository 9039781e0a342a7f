"""Carrying out a prune: read who owns each candidate now, plan (inventory.py's rules), delete.

The plan is inventory.plan_prune's, unchanged; this module only gathers its inputs from the
cluster and executes it. A candidate whose ownership cannot be read is treated as not ours (never
delete blind); a kind no longer served means its CRD went, and the object with it. Deletions go
in reverse wave order (workloads before the config and namespaces they use), each with the uid
we recorded as a precondition, so an object re-created by someone else is never deleted. A
deletion that fails keeps its entry in the inventory for the next pass. Deletion counts as
intended (lifting the share and empty-bundle caps) only when every candidate is listed in the
bundle's ``removals``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from agent.apply.inventory import Inventory, LiveOwnership, PrunePolicy, PruneVerdict, plan_prune
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


def prune(
    kube: Kube,
    inventory: Inventory,
    wanted: Collection[str],
    removals: Collection[str],
    *,
    cluster: str,
    policy: PrunePolicy,
    source_fresh: bool,
) -> Pruned:
    gone = [e for e in inventory.entries if e.identity not in wanted]
    if not gone:
        return Pruned((), PruneSummary(), set())
    live: dict[str, LiveOwnership | None] = {}
    refs: dict[str, KindRef] = {}
    for e in gone:
        try:
            refs[e.identity] = ref = kube.kind(e.api_version, e.kind)
            obj = kube.get(ref, e.name, e.namespace)
        except KindNotServed:
            obj = None  # its CRD is gone, and with it the object
        except KubeError:
            live[e.identity] = LiveOwnership("", "")  # cannot tell: never delete blind
            continue
        meta = (obj or {}).get("metadata") or {}
        live[e.identity] = None if obj is None else LiveOwnership(marks(obj).owner(), str(meta.get("uid", "")))
    plan = plan_prune(
        inventory,
        wanted,
        live,
        f"{cluster}/",
        policy,
        source_fresh=source_fresh,
        deletion_intended=all(e.identity in removals for e in gone),
    )
    deleted: list[str] = []
    kept: set[str] = {i.entry.identity for i in plan.items if i.verdict == PruneVerdict.KEEP_PROTECTED}
    if plan.refused:
        kept |= {e.identity for e in gone}
    for entry in sorted(plan.deletions, key=lambda e: -wave_of(e.api_version, e.kind)):
        try:
            kube.delete(refs[entry.identity], entry.name, entry.namespace, entry.uid or None)
            deleted.append(entry.identity)
        except KubeError as e:
            log.warning("cannot prune %s: %s", entry.identity, e.message)
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
