"""A user keeps an object from pruning with fleetsync's, Flux's or Argo CD's opt-out annotation."""

from __future__ import annotations

import pytest

from agent.apply.inventory import (
    Inventory,
    InventoryEntry,
    LiveOwnership,
    PrunePolicy,
    PruneVerdict,
    plan_prune,
    prune_opted_out,
)

OURS = "prod-eu-1/"
FLEETSYNC = "fleetsync.io/prune"
FLUX = "kustomize.toolkit.fluxcd.io/prune"
ARGO = "argocd.argoproj.io/sync-options"


@pytest.mark.parametrize(
    ("annotations", "opted_out"),
    [
        ({}, False),
        (None, False),
        ({FLEETSYNC: "disabled"}, True),
        ({FLEETSYNC: "Disabled"}, True),  # values are read case-insensitively: erring towards keeping
        ({FLEETSYNC: " disabled "}, True),
        ({FLEETSYNC: "enabled"}, False),
        ({FLEETSYNC: ""}, False),
        ({FLUX: "disabled"}, True),
        ({FLUX: "DISABLED"}, True),
        ({FLUX: "false"}, False),  # Flux's own vocabulary: only "disabled" opts out
        ({ARGO: "Prune=false"}, True),
        ({ARGO: "prune=False"}, True),
        ({ARGO: "ServerSideApply=true,Prune=false"}, True),
        ({ARGO: "ServerSideApply=true, Prune=false ,Replace=true"}, True),  # a list with spaces
        ({ARGO: "Prune = false"}, True),
        ({ARGO: "Prune=true"}, False),
        ({ARGO: "Prune=confirm"}, False),  # Argo's "ask first": fleetsync has no one to ask
        ({ARGO: "ServerSideApply=true,Replace=true"}, False),
        ({ARGO: "PruneLast=true"}, False),  # another option whose name starts alike
        ({ARGO: ""}, False),
        ({"Fleetsync.io/prune": "disabled"}, False),  # keys are exact, as Kubernetes keys are
        ({"example.com/prune": "disabled"}, False),
    ],
)
def test_the_opt_out_annotations_are_read_as_users_write_them(
    annotations: dict[str, str] | None, opted_out: bool
) -> None:
    assert prune_opted_out(annotations) is opted_out


def entry(api_version: str, kind: str, namespace: str, name: str) -> InventoryEntry:
    return InventoryEntry(api_version, kind, namespace, name, "web-app", "u-" + name)


@pytest.mark.parametrize(
    ("api_version", "kind", "namespace"),
    [("v1", "ConfigMap", "web"), ("v1", "Namespace", "")],  # a protected kind too: opted out, not protected
)
def test_an_owned_object_that_opted_out_is_kept_as_orphaned(
    api_version: str, kind: str, namespace: str
) -> None:
    keep, other = entry(api_version, kind, namespace, "keep"), entry("v1", "ConfigMap", "web", "other")
    live = {keep.identity: LiveOwnership(f"{OURS}web-app", keep.uid, opted_out=True)}
    plan = plan_prune(
        Inventory((keep, other)), {other.identity}, live, OURS, PrunePolicy(), source_fresh=True
    )
    assert plan.deletions == ()
    assert [(i.entry, i.verdict) for i in plan.items] == [(keep, PruneVerdict.KEEP_ORPHANED)]


def test_an_opt_out_on_an_object_no_longer_ours_stays_not_owned() -> None:
    keep, other = entry("v1", "ConfigMap", "web", "keep"), entry("v1", "ConfigMap", "web", "other")
    live = {keep.identity: LiveOwnership("", keep.uid, opted_out=True)}
    plan = plan_prune(
        Inventory((keep, other)), {other.identity}, live, OURS, PrunePolicy(), source_fresh=True
    )
    assert [i.verdict for i in plan.items] == [PruneVerdict.KEEP_NOT_OURS]
