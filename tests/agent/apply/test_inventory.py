"""Pruning only ever removes what this agent applied, still owns, and the bundle dropped."""

from __future__ import annotations

import pytest

from agent.apply.inventory import (
    Inventory,
    InventoryEntry,
    LiveOwnership,
    PrunePolicy,
    PruneVerdict,
    entry_for,
    plan_prune,
    updated_inventory,
)

OURS = "prod-eu-1/"


def cm(name: str, uid: str = "u-") -> InventoryEntry:
    return InventoryEntry("v1", "ConfigMap", "web", name, "web-app", uid + name)


def owned(e: InventoryEntry) -> LiveOwnership:
    return LiveOwnership(owner=f"prod-eu-1/{e.placement}", uid=e.uid)


def test_an_owned_object_dropped_from_the_bundle_is_deleted() -> None:
    a, b, c = cm("a"), cm("b"), cm("c")
    inv = Inventory((a, b, c))
    plan = plan_prune(
        inv, {a.identity, b.identity}, {c.identity: owned(c)}, OURS, PrunePolicy(), source_fresh=True
    )
    assert plan.deletions == (c,)


def test_an_object_someone_else_now_owns_is_never_deleted() -> None:
    a, b, c = cm("a"), cm("b"), cm("c")
    live = {c.identity: LiveOwnership(owner="", uid=c.uid)}
    plan = plan_prune(
        Inventory((a, b, c)), {a.identity, b.identity}, live, OURS, PrunePolicy(), source_fresh=True
    )
    assert plan.deletions == ()
    assert plan.items[0].verdict == PruneVerdict.KEEP_NOT_OURS


def test_a_recreated_object_with_another_uid_is_not_ours() -> None:
    a, b, c = cm("a"), cm("b"), cm("c")
    live = {c.identity: LiveOwnership(owner="prod-eu-1/web-app", uid="someone-else")}
    plan = plan_prune(
        Inventory((a, b, c)), {a.identity, b.identity}, live, OURS, PrunePolicy(), source_fresh=True
    )
    assert plan.deletions == ()


def test_objects_never_in_the_inventory_are_not_candidates() -> None:
    a = cm("a")
    plan = plan_prune(Inventory((a,)), {a.identity}, {}, OURS, PrunePolicy(), source_fresh=True)
    assert plan.items == ()


def test_an_empty_bundle_does_not_delete_everything_unless_intended() -> None:
    a, b = cm("a"), cm("b")
    live = {a.identity: owned(a), b.identity: owned(b)}
    refused = plan_prune(Inventory((a, b)), set(), live, OURS, PrunePolicy(), source_fresh=True)
    assert refused.deletions == () and "bundle became empty" in refused.refused
    intended = plan_prune(
        Inventory((a, b)), set(), live, OURS, PrunePolicy(), source_fresh=True, deletion_intended=True
    )
    assert intended.deletions == (a, b)


def test_more_than_the_allowed_share_in_one_sync_is_refused() -> None:
    entries = tuple(cm(str(i)) for i in range(10))
    keep = {e.identity for e in entries[:4]}
    live = {e.identity: owned(e) for e in entries}
    plan = plan_prune(Inventory(entries), keep, live, OURS, PrunePolicy(max_share=0.5), source_fresh=True)
    assert plan.deletions == ()
    assert "6 of 10" in plan.refused


def test_a_stale_source_prunes_nothing() -> None:
    a, b = cm("a"), cm("b")
    plan = plan_prune(
        Inventory((a, b)), {a.identity}, {b.identity: owned(b)}, OURS, PrunePolicy(), source_fresh=False
    )
    assert plan.deletions == () and "stale" in plan.refused


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("v1", "Namespace"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("v1", "PersistentVolumeClaim"),
    ],
)
def test_data_bearing_kinds_are_kept_unless_explicitly_allowed(api_version: str, kind: str) -> None:
    keep = [cm(str(i)) for i in range(3)]
    special = InventoryEntry(api_version, kind, "", "x", "web-app", "u-x")
    inv = Inventory((*keep, special))
    live = {special.identity: owned(special)}
    desired = {e.identity for e in keep}
    plan = plan_prune(inv, desired, live, OURS, PrunePolicy(), source_fresh=True)
    assert plan.deletions == () and plan.items[0].verdict == PruneVerdict.KEEP_PROTECTED
    group = api_version.rpartition("/")[0]
    allowed = PrunePolicy(allow_protected=frozenset({(group, kind)}))
    assert plan_prune(inv, desired, live, OURS, allowed, source_fresh=True).deletions == (special,)


def test_the_inventory_round_trips_through_configmap_data_byte_identically() -> None:
    inv = Inventory((cm("b"), cm("a")), "bundle-1")
    data = inv.to_data()
    again = Inventory.from_data(data)
    assert again.to_data() == data
    assert {e.name for e in again.entries} == {"a", "b"}


def test_failed_deletions_stay_in_the_inventory() -> None:
    a, b, c = cm("a"), cm("b"), cm("c")
    after = updated_inventory(
        Inventory((a, b, c)), [a], deleted=[b.identity], kept_after_failure=[c.identity], bundle_id="x"
    )
    assert {e.name for e in after.entries} == {"a", "c"}


def test_entries_are_built_from_live_objects() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "w", "uid": "1"},
    }
    e = entry_for(obj, "web-app")
    assert e.identity == "apps/Deployment/w/web" and e.uid == "1"
