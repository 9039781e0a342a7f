"""Prune opt-outs over HTTP: an annotated object is kept, reported as orphaned, and forgotten."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.agentfixtures import AgentFactory, Hub, Member, placement

OPT_OUTS = [
    ("fleetsync.io/prune", "disabled"),
    ("kustomize.toolkit.fluxcd.io/prune", "disabled"),
    ("argocd.argoproj.io/sync-options", "ServerSideApply=true, Prune=false"),
]


def ns(member: Member) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{member.prefix}-app"}}


def cm(member: Member, name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": f"{member.prefix}-app"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": name}}


def names(member: Member) -> set[str]:
    ref = member.kube.kind("v1", "ConfigMap")
    return {o["metadata"]["name"] for o in member.kube.list(ref, f"{member.prefix}-app")} - {
        "kube-root-ca.crt"
    }


def annotate(member: Member, name: str, annotations: dict[str, str | None]) -> None:
    ref = member.kube.kind("v1", "ConfigMap")
    member.kube.merge_patch(ref, name, f"{member.prefix}-app", {"metadata": {"annotations": annotations}})


def assert_orphaned(member: Member, hub: Hub, name: str) -> None:
    identity = f"/ConfigMap/{member.prefix}-app/{name}"
    report, _ = hub.report()
    assert [(k.identity, k.verdict) for k in report.prune.kept] == [(identity, "KeepOrphaned")]
    assert identity not in report.prune.deleted
    assert identity not in {f"/{i.kind}/{i.namespace}/{i.name}" for i in report.inventory}


@pytest.mark.parametrize(("key", "value"), OPT_OUTS)
def test_an_object_a_user_annotated_on_the_member_is_kept_and_reported_orphaned(
    member: Member, hub: Hub, make_agent: AgentFactory, key: str, value: str
) -> None:
    p = placement()
    hub.publish([(p, ns(member))] + [(p, cm(member, n)) for n in ("a", "b", "keep")])
    agent = make_agent(member, hub)
    agent.sync()
    annotate(member, "keep", {key: value})
    hub.publish([(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b"))])
    summary = agent.sync()
    assert summary.deleted == ()
    assert names(member) == {"a", "b", "keep"}
    assert_orphaned(member, hub, "keep")
    # Out of the inventory for good: lifting the opt-out later does not bring a deletion back.
    annotate(member, "keep", {key: None})
    assert agent.sync().deleted == ()
    assert names(member) == {"a", "b", "keep"}


@pytest.mark.parametrize(("key", "value"), OPT_OUTS)
def test_an_opt_out_set_in_the_last_bundles_manifest_is_honoured(
    member: Member, hub: Hub, make_agent: AgentFactory, key: str, value: str
) -> None:
    p = placement()
    hub.publish(
        [(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b")), (p, cm(member, "keep", {key: value}))]
    )
    agent = make_agent(member, hub)
    agent.sync()
    hub.publish([(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b"))])
    assert agent.sync().deleted == ()
    assert names(member) == {"a", "b", "keep"}
    assert_orphaned(member, hub, "keep")


def test_an_orphan_does_not_hold_back_the_prune_of_its_neighbours(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    keep = cm(member, "keep", {"fleetsync.io/prune": "disabled"})
    hub.publish(
        [(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b")), (p, cm(member, "c")), (p, keep)]
    )
    agent = make_agent(member, hub)
    agent.sync()
    hub.publish([(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b"))])
    assert agent.sync().deleted == (f"/ConfigMap/{member.prefix}-app/c",)
    assert names(member) == {"a", "b", "keep"}
    assert_orphaned(member, hub, "keep")


def test_an_orphan_put_back_in_the_bundle_is_owned_and_inventoried_again(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    full = [(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b")), (p, cm(member, "keep"))]
    hub.publish(full)
    agent = make_agent(member, hub)
    agent.sync()
    annotate(member, "keep", {"fleetsync.io/prune": "disabled"})
    hub.publish(full[:3])
    agent.sync()
    assert_orphaned(member, hub, "keep")
    hub.publish(full)
    summary = agent.sync()
    assert not summary.errors
    report, _ = hub.report()
    assert f"/ConfigMap/{member.prefix}-app/keep" in {
        f"/{i.kind}/{i.namespace}/{i.name}" for i in report.inventory
    }
    assert report.prune.kept == ()
