"""Prune over HTTP: only what we applied and still own, never everything at once, never blind."""

from __future__ import annotations

from typing import Any

import pytest

from agent.apply.takeover import OWNED_BY, PLACEMENT
from agent.errors import KubeError
from fleetsync_contract.bundle import Removal
from fleetsync_contract.report import Outcome
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement


def ns(member: Member) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{member.prefix}-app"}}


def cm(member: Member, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": f"{member.prefix}-app"},
        "data": {"k": name},
    }


def names(member: Member) -> set[str]:
    ref = member.kube.kind("v1", "ConfigMap")
    return {o["metadata"]["name"] for o in member.kube.list(ref, f"{member.prefix}-app")} - {
        "kube-root-ca.crt"
    }


def test_an_object_dropped_from_the_bundle_is_pruned(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    hub.publish([(p, ns(member))] + [(p, cm(member, f"c{i}")) for i in range(4)])
    agent = make_agent(member, hub)
    agent.sync()
    hub.publish([(p, ns(member))] + [(p, cm(member, f"c{i}")) for i in range(3)])
    summary = agent.sync()
    assert summary.deleted == (f"/ConfigMap/{member.prefix}-app/c3",)
    assert names(member) == {"c0", "c1", "c2"}
    report, _ = hub.report()
    assert report.prune.deleted == summary.deleted
    assert f"/ConfigMap/{member.prefix}-app/c3" not in {
        f"/{i.kind}/{i.namespace}/{i.name}" for i in report.inventory
    }


def test_an_object_no_longer_carrying_our_marks_is_kept(
    sim_member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    member = sim_member
    p = placement()
    hub.publish([(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b"))])
    agent = make_agent(member, hub)
    agent.sync()

    def disown(o: dict[str, Any]) -> None:
        o["metadata"]["annotations"].pop(OWNED_BY)
        o["metadata"]["annotations"].pop(PLACEMENT)

    member.sim.edit("v1", "ConfigMap", f"{member.prefix}-app", "b", disown)
    hub.publish([(p, ns(member)), (p, cm(member, "a"))])
    summary = agent.sync()
    assert summary.deleted == ()
    assert names(member) == {"a", "b"}
    report, _ = hub.report()
    assert [(k.identity.split("/")[-1], k.verdict) for k in report.prune.kept] == [("b", "KeepNotOwned")]


def test_a_bundle_that_became_empty_deletes_nothing_unless_every_removal_is_listed(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    objs = [(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b"))]
    hub.publish(objs)
    agent = make_agent(member, hub)
    agent.sync()
    hub.publish([])
    summary = agent.sync()
    assert summary.deleted == ()
    report, _ = hub.report()
    assert "bundle became empty" in report.prune.refused
    assert names(member) == {"a", "b"} and len(report.inventory) == 3
    removals = [Removal(f"/ConfigMap/{member.prefix}-app/{n}", p.key, "ResourceRemoved") for n in "ab"]
    removals.append(Removal(f"/Namespace//{member.prefix}-app", p.key, "ResourceRemoved"))
    hub.publish([], removals)
    summary = agent.sync()
    assert set(summary.deleted) == {f"/ConfigMap/{member.prefix}-app/a", f"/ConfigMap/{member.prefix}-app/b"}
    report, _ = hub.report()
    # the Namespace is protected: kept (and still ours) unless explicitly allowed
    assert [(k.identity, k.verdict) for k in report.prune.kept] == [
        (f"/Namespace//{member.prefix}-app", "KeepProtected")
    ]
    assert [i.kind for i in report.inventory] == ["Namespace"]


def test_more_than_the_configured_share_is_not_deleted_in_one_sync(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    hub.publish([(p, ns(member))] + [(p, cm(member, f"c{i}")) for i in range(5)])
    agent = make_agent(member, hub, max_prune_share=0.3)
    agent.sync()
    hub.publish([(p, ns(member)), (p, cm(member, "c0"))])
    assert agent.sync().deleted == ()
    assert len(names(member)) == 5


def test_nothing_is_pruned_while_the_git_source_is_unreachable_and_the_last_bundle_stays_enforced(
    sim_member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Any
) -> None:
    member = sim_member
    p = placement()
    hub.publish([(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b"))])
    agent = make_agent(member, hub)
    agent.sync()
    hub.publish([(p, ns(member)), (p, cm(member, "a"))])
    moved = hub.bare.rename(tmp_path / "gone.git")  # the hub is unreachable
    member.sim.edit("v1", "ConfigMap", f"{member.prefix}-app", "a", lambda o: o["data"].update(k="edited"))
    summary = agent.sync()
    assert summary.errors and "cannot fetch" in summary.errors[0]
    assert summary.deleted == ()
    assert {r.outcome for r in summary.results} >= {Outcome.APPLIED}  # drift on 'a' was overwritten
    assert member.get("v1", "ConfigMap", f"{member.prefix}-app", "a")["data"]["k"] == "a"  # type: ignore[index]
    assert names(member) == {"a", "b"}
    moved.rename(hub.bare)
    assert agent.sync().deleted == (f"/ConfigMap/{member.prefix}-app/b",)


def test_a_restarted_agent_without_git_enforces_the_cached_bundle_and_prunes_nothing(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Any
) -> None:
    p = placement()
    hub.publish([(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b"))])
    make_agent(member, hub).sync()
    hub.publish([(p, ns(member)), (p, cm(member, "a"))])  # never fetched: the hub becomes unreachable
    member.kube.delete(member.kube.kind("v1", "ConfigMap"), "a", f"{member.prefix}-app")  # out of band
    moved = hub.bare.rename(tmp_path / "gone.git")  # the hub is unreachable
    restarted = make_agent(member, hub)  # same state dir and inventory
    summary = restarted.sync()
    moved.rename(hub.bare)
    assert any("cannot fetch" in e for e in summary.errors)
    assert summary.deleted == ()
    assert restarted.state.bundle is not None and summary.bundle_id == restarted.state.bundle.bundle_id
    assert names(member) == {"a", "b"}  # 'a' re-created from the cached bundle, 'b' not pruned


def test_a_failed_inventory_write_fails_the_sync_before_the_report_is_pushed(
    sim_member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    member = sim_member
    p = placement()
    hub.publish([(p, ns(member)), (p, cm(member, "a"))])
    agent = make_agent(member, hub)
    agent.sync()
    commits = hub.report_commits()
    hub.publish([(p, ns(member)), (p, cm(member, "a")), (p, cm(member, "b"))])  # the inventory must grow
    member.sim.faults.add(
        verb="patch", kind="ConfigMap", name="fleetsync-inventory", status=403, message="denied", times=100
    )
    with pytest.raises(KubeError):
        agent.sync()
    assert hub.report_commits() == commits  # no report claims objects the inventory does not hold
    member.sim.faults.clear()
    assert not agent.sync().errors
    assert hub.report_commits() == commits + 1
