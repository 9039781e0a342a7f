"""A bundle that says the cluster is leaving the fleet (docs/hub.md "Leaving the fleet").

The hub empties a leaving cluster's bundle and lists every object of its last bundle in
``removals``. An inventory can hold more than that last bundle: an object kept earlier (a
protected Namespace the hub once removed) is named by no removal, and without ``leaving`` it
would make the agent refuse the whole emptying.
"""

from __future__ import annotations

from typing import Any

from fleetsync_contract.bundle import Removal, build_bundle, manifest_identity
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement


def ns(member: Member, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{member.prefix}-{name}"}}


def cm(member: Member, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": f"{member.prefix}-app"},
        "data": {"k": name},
    }


def configmaps(member: Member) -> set[str]:
    ref = member.kube.kind("v1", "ConfigMap")
    return {o["metadata"]["name"] for o in member.kube.list(ref, f"{member.prefix}-app")} - {
        "kube-root-ca.crt"
    }


def empty(hub: Hub, removals: list[Removal], *, leaving: bool) -> None:
    p = placement()
    hub.publish([], files=build_bundle(hub.cluster, f"{hub.n + 1:040x}", [p], [], removals, leaving=leaving))


def kept_namespace_and_one_configmap(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> tuple[Any, Removal]:
    p = placement()
    hub.publish([(p, ns(member, "app")), (p, ns(member, "old")), (p, cm(member, "a"))])
    agent = make_agent(member, hub)
    agent.sync()
    old = manifest_identity(ns(member, "old"))
    hub.publish([(p, ns(member, "app")), (p, cm(member, "a"))], [Removal(old, p.key, "ResourceRemoved")])
    agent.sync()  # the Namespace is protected: kept, and still in the inventory
    report, _ = hub.report()
    assert old in {k.identity for k in report.prune.kept}
    return agent, Removal(manifest_identity(cm(member, "a")), p.key, "ClusterUnselected")


def test_an_emptying_whose_inventory_holds_an_unlisted_kept_object_is_refused_without_leaving(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    agent, removal = kept_namespace_and_one_configmap(member, hub, make_agent)
    app = Removal(manifest_identity(ns(member, "app")), removal.placement, "ClusterUnselected")
    empty(hub, [removal, app], leaving=False)
    assert agent.sync().deleted == ()
    report, _ = hub.report()
    assert "bundle became empty" in report.prune.refused
    assert configmaps(member) == {"a"}


def test_a_leaving_bundle_is_pruned_although_an_earlier_kept_object_is_not_listed(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    agent, removal = kept_namespace_and_one_configmap(member, hub, make_agent)
    app = Removal(manifest_identity(ns(member, "app")), removal.placement, "ClusterUnselected")
    empty(hub, [removal, app], leaving=True)
    assert agent.sync().deleted == (removal.identity,)
    report, _ = hub.report()
    assert report.prune.refused == ""
    assert configmaps(member) == set()
    # the protected kinds are still kept: a leave lifts the caps, not the agent's other rules
    assert sorted(i.kind for i in report.inventory) == ["Namespace", "Namespace"]
