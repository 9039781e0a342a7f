"""A member is owned by one (fleet, cluster name): another fleet or name is refused with one clear
error naming the owner and the hand-over; a hand-over, an old-format inventory and a changed URL
spelling work. Runs against KubeSim, and unchanged against a real cluster when
FLEETSYNC_E2E_KUBECONFIG is set (the ``member`` fixture)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from agent.errors import ClaimRefused
from agent.loop import INVENTORY_NAME
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement

FLEET_A = "https://git.example.com/team-a/fleet.git"
FLEET_B = "https://git.example.com/team-b/fleet.git"


def ns(member: Member, tag: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{member.prefix}-{tag}"}}


def cm(member: Member, tag: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": f"{member.prefix}-{tag}"},
        "data": {"k": name},
    }


def other_hub(tmp_path: Path, cluster: str) -> Hub:
    root = tmp_path / f"other-{cluster}"
    root.mkdir()
    return Hub(root, cluster)


def inventory(member: Member) -> dict[str, str]:
    got = member.get("v1", "ConfigMap", f"fs-{member.prefix}", INVENTORY_NAME)
    assert got is not None
    return dict(got.get("data") or {})


def _first_fleet(member: Member, hub: Hub, make_agent: AgentFactory) -> None:
    p = placement()
    hub.publish([(p, ns(member, "a")), (p, cm(member, "a", "from-a"))])
    assert not make_agent(member, hub, fleet=FLEET_A).sync().errors


def test_a_member_claimed_by_another_cluster_is_refused_naming_the_owner_and_the_hand_over(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _first_fleet(member, hub, make_agent)
    other = other_hub(tmp_path, "member-2")
    p = placement()
    other.publish([(p, ns(member, "b")), (p, cm(member, "b", "from-b"))])
    second = make_agent(member, other, fleet=FLEET_B, state="b")
    with caplog.at_level(logging.DEBUG), pytest.raises(ClaimRefused) as caught:
        second.sync()
    message = str(caught.value)
    assert "member-1" in message and FLEET_A in message
    assert "--take-over-from member-1" in message and f"fs-{member.prefix}/{INVENTORY_NAME}" in message
    assert "\n" not in message
    for wrong in ("rewritten", "local clone", "descend"):
        assert wrong not in message and wrong not in caplog.text
    assert other.report_commits() == 0  # nothing reported, so no other cluster's objects as its own
    assert member.get("v1", "ConfigMap", f"{member.prefix}-b", "from-b") is None
    assert inventory(member)["cluster"] == "member-1"


def test_the_same_cluster_name_in_another_fleet_is_refused_not_called_a_rewritten_branch(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _first_fleet(member, hub, make_agent)
    other = other_hub(tmp_path, "member-1")
    p = placement()
    other.publish([(p, ns(member, "b")), (p, cm(member, "b", "from-b"))])
    second = make_agent(member, other, fleet=FLEET_B, state="b", url=str(other.bare))
    with caplog.at_level(logging.DEBUG), pytest.raises(ClaimRefused) as caught:
        second.sync()
    message = str(caught.value)
    assert "member-1" in message and FLEET_A in message and "--take-over-from member-1" in message
    for wrong in ("rewritten", "local clone"):
        assert wrong not in message and wrong not in caplog.text
    assert other.report_commits() == 0
    assert member.get("v1", "ConfigMap", f"{member.prefix}-b", "from-b") is None


def test_take_over_from_hands_the_member_over_and_leaves_the_old_objects_in_place(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Path
) -> None:
    _first_fleet(member, hub, make_agent)
    other = other_hub(tmp_path, "member-2")
    p = placement()
    other.publish([(p, ns(member, "b")), (p, cm(member, "b", "from-b"))])
    second = make_agent(member, other, fleet=FLEET_B, state="b", take_over_from="member-1")
    summary = second.sync()
    assert not summary.errors
    assert member.get("v1", "ConfigMap", f"{member.prefix}-b", "from-b") is not None
    assert member.get("v1", "ConfigMap", f"{member.prefix}-a", "from-a") is not None  # not pruned
    report, _ = other.report()
    assert all(i.namespace != f"{member.prefix}-a" for i in report.inventory)
    assert inventory(member)["cluster"] == "member-2" and inventory(member)["fleet"] == FLEET_B
    with pytest.raises(ClaimRefused, match="member-2"):
        make_agent(member, hub, fleet=FLEET_A, state="a-again").sync()  # the old agent is now refused


def test_an_inventory_of_the_old_format_is_adopted_by_the_agent_whose_bundle_descends_from_it(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    first = hub.publish([(p, ns(member, "a")), (p, cm(member, "a", "one"))])
    make_agent(member, hub, fleet=FLEET_A).sync()
    _write_old_format(member, first)
    hub.publish([(p, ns(member, "a")), (p, cm(member, "a", "one")), (p, cm(member, "a", "two"))])
    summary = make_agent(member, hub, fleet=FLEET_A, state="upgraded").sync()
    assert not summary.errors
    assert inventory(member)["cluster"] == "member-1" and inventory(member)["fleet"] == FLEET_A


def test_an_inventory_of_the_old_format_from_another_fleet_is_refused_as_a_claim(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Path
) -> None:
    p = placement()
    first = hub.publish([(p, ns(member, "a")), (p, cm(member, "a", "one"))])
    make_agent(member, hub, fleet=FLEET_A).sync()
    _write_old_format(member, first)
    other = other_hub(tmp_path, "member-1")
    other.publish([(p, ns(member, "b")), (p, cm(member, "b", "from-b"))])
    with pytest.raises(ClaimRefused) as caught:
        make_agent(member, other, fleet=FLEET_B, state="b", url=str(other.bare)).sync()
    message = str(caught.value)
    assert first[:12] in message and "rewritten" not in message
    assert f"--take-over-from {first[:12]}" in message


def test_the_same_fleet_under_another_url_spelling_keeps_its_member(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    hub.publish([(p, ns(member, "a")), (p, cm(member, "a", "one"))])
    make_agent(member, hub, fleet=str(hub.bare)).sync()
    hub.publish([(p, ns(member, "a")), (p, cm(member, "a", "one")), (p, cm(member, "a", "two"))])
    url = f"file://{hub.bare}/"
    summary = make_agent(member, hub, url=url, fleet=url, state="respelt").sync()
    assert not summary.errors
    assert member.get("v1", "ConfigMap", f"{member.prefix}-a", "two") is not None
    assert inventory(member)["fleet"] == url


def test_a_wrong_repo_never_enforces_the_cached_bundle_of_the_fleet_that_owns_the_member(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _first_fleet(member, hub, make_agent)
    member.kube.delete(member.kube.kind("v1", "ConfigMap"), "from-a", f"{member.prefix}-a")
    wrong = str(tmp_path / "typo.git")
    with caplog.at_level(logging.DEBUG):
        summary = make_agent(member, hub, url=wrong, fleet=wrong).sync()  # same state dir
    assert summary.results == () and summary.bundle_id == ""
    assert member.get("v1", "ConfigMap", f"{member.prefix}-a", "from-a") is None
    assert "local clone" not in caplog.text and "cached bundle" not in caplog.text
    assert summary.errors and "cannot fetch" in summary.errors[0]


def _write_old_format(member: Member, commit: str) -> None:
    """The inventory as agents before the ownership keys wrote it: no cluster, no fleet."""
    ref = member.kube.kind("v1", "ConfigMap")
    live = member.kube.get(ref, INVENTORY_NAME, f"fs-{member.prefix}")
    assert live is not None
    data = {k: v for k, v in (live.get("data") or {}).items() if k not in ("cluster", "fleet")}
    assert data["bundleCommit"] == commit
    member.kube.delete(ref, INVENTORY_NAME, f"fs-{member.prefix}")
    member.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": INVENTORY_NAME, "namespace": f"fs-{member.prefix}"},
            "data": data,
        },
        force=True,
    )


def test_agent_run_once_on_a_member_claimed_by_another_cluster_exits_2_before_touching_it(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from fleetsync.cli import app

    _first_fleet(member, hub, make_agent)
    other = other_hub(tmp_path, "member-2")
    p = placement()
    other.publish([(p, ns(member, "b")), (p, cm(member, "b", "from-b"))])
    args = ["agent", "run", "--once", "--repo", str(other.bare), "--cluster", "member-2"]
    args += ["--kubeconfig", str(member.kubeconfig), "--namespace", f"fs-{member.prefix}"]
    result = CliRunner().invoke(app, [*args, "--state-dir", str(tmp_path / "cli")])
    assert result.exit_code == 2, result.output
    assert "claimed by cluster member-1 of fleet " + FLEET_A in result.output
    assert "--take-over-from member-1" in result.output
    assert other.report_commits() == 0
    assert member.get("v1", "ConfigMap", f"{member.prefix}-b", "from-b") is None
    handed = CliRunner().invoke(
        app, [*args, "--state-dir", str(tmp_path / "cli"), "--take-over-from", "member-1"]
    )
    assert handed.exit_code == 0, handed.output
    assert member.get("v1", "ConfigMap", f"{member.prefix}-b", "from-b") is not None
    assert inventory(member)["cluster"] == "member-2" and inventory(member)["fleet"] == str(other.bare)
