"""Retries against the Kubernetes API test server: a denial backs off across passes, a transient
answer is retried within the pass (``Retry-After`` honoured), and a 403 says what to grant.

The agent's clock and both sleeps (the applier's and the client's) are injected: a pass is driven
step by step and nothing here waits for real.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.apply.kube import KubeClient
from agent.loop import Agent, AgentConfig, SyncSummary
from agent.source import GitSource
from fleetsync_contract.integrity import verify
from fleetsync_contract.report import Outcome
from tests.support.agentfixtures import Hub, Member, placement

START = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Driven:
    """An agent on the simulator with an injected clock, recording every sleep it asks for."""

    agent: Agent
    clock: Clock
    kube_sleeps: list[float] = field(default_factory=list)


@pytest.fixture
def driven(sim_member: Member, hub: Hub, tmp_path: Path) -> Iterator[Driven]:
    clock = Clock()
    kube_sleeps: list[float] = []
    kube = KubeClient.from_kubeconfig(
        str(sim_member.kubeconfig), sleep=kube_sleeps.append, rng=random.Random(7)
    )
    source = GitSource(
        str(hub.bare), hub.cluster, tmp_path / "state", verify=lambda f: verify(f, hub.cluster)
    )
    agent = Agent(
        AgentConfig(hub.cluster, namespace=f"fs-{sim_member.prefix}", crd_wait_seconds=1),
        kube,
        source,
        clock=clock,
        sleep=lambda _s: None,
        rng=random.Random(7),
    )
    try:
        yield Driven(agent, clock, kube_sleeps)
    finally:
        source.close()
        kube.close()


def objs(member: Member, bad_value: str = "bad") -> list[dict[str, Any]]:
    ns = f"{member.prefix}-app"
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}] + [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": n, "namespace": ns},
            "data": {"k": bad_value if n == "bad" else n},
        }
        for n in ("bad", "good1", "good2")
    ]


def outcome(summary: SyncSummary, name: str) -> Any:
    return next(r for r in summary.results if r.identity.endswith(f"/{name}"))


def patches(member: Member, name: str) -> int:
    """How many PATCH requests (server-side applies) the simulator has seen for one ConfigMap."""
    path = f"/api/v1/namespaces/{member.prefix}-app/configmaps/{name}"
    return sum(1 for method, p in member.sim.request_log if method == "PATCH" and p == path)


def test_a_webhook_denial_is_retried_with_growing_delays_not_every_pass(
    sim_member: Member, hub: Hub, driven: Driven
) -> None:
    p = placement()
    hub.publish([(p, o) for o in objs(sim_member)])
    sim_member.sim.faults.webhook_denial(
        verb="patch", kind="ConfigMap", name="bad", message="no configmaps named bad", times=0
    )
    attempts: list[datetime] = []
    for _ in range(30):  # one pass every 2 s for a minute
        before = patches(sim_member, "bad")
        summary = driven.agent.sync()
        if patches(sim_member, "bad") > before:
            attempts.append(driven.clock.now)
        bad = outcome(summary, "bad")
        assert bad.outcome == Outcome.FAILED_TO_APPLY
        assert 'admission webhook "deny.example.com" denied the request' in bad.message
        assert "next retry after 2026-12-07T12:" in bad.message
        assert outcome(summary, "good1").outcome in (Outcome.APPLIED, Outcome.UNCHANGED)
        driven.clock.advance(2)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert 3 <= len(attempts) <= 6, attempts  # not 30
    assert gaps == sorted(gaps) and gaps[-1] >= 2 * gaps[0], gaps
    assert hub.report_commits() <= len(attempts) + 1  # a held pass reports nothing new


def test_an_object_whose_desired_content_changes_is_retried_at_once(
    sim_member: Member, hub: Hub, driven: Driven
) -> None:
    p = placement()
    hub.publish([(p, o) for o in objs(sim_member)])
    sim_member.sim.faults.webhook_denial(verb="patch", kind="ConfigMap", name="bad", times=0)
    driven.agent.sync()
    assert patches(sim_member, "bad") == 1
    driven.clock.advance(1)
    driven.agent.sync()
    assert patches(sim_member, "bad") == 1  # backing off: the same manifest is not sent again yet

    sim_member.sim.faults.clear()
    hub.publish([(p, o) for o in objs(sim_member, bad_value="fixed")])
    summary = driven.agent.sync()  # same instant: the new manifest goes out at once
    assert patches(sim_member, "bad") == 2
    assert outcome(summary, "bad").outcome == Outcome.APPLIED
    live = sim_member.get("v1", "ConfigMap", f"{sim_member.prefix}-app", "bad")
    assert live is not None and live["data"] == {"k": "fixed"}


def test_four_429s_with_retry_after_are_waited_out_within_the_pass_and_applied(
    sim_member: Member, hub: Hub, driven: Driven
) -> None:
    p = placement()
    hub.publish([(p, o) for o in objs(sim_member)])
    sim_member.sim.faults.add(verb="patch", kind="ConfigMap", name="bad", status=429, retry_after=2, times=4)
    summary = driven.agent.sync()
    assert outcome(summary, "bad").outcome == Outcome.APPLIED
    assert not summary.errors
    assert len(driven.kube_sleeps) == 4
    assert all(2.0 <= s <= 2.5 for s in driven.kube_sleeps), driven.kube_sleeps  # never sooner than asked


def test_a_retry_after_beyond_the_bound_fails_the_object_for_this_pass_only(
    sim_member: Member, hub: Hub, driven: Driven
) -> None:
    p = placement()
    hub.publish([(p, o) for o in objs(sim_member)])
    sim_member.sim.faults.add(
        verb="patch", kind="ConfigMap", name="bad", status=429, retry_after=600, times=1
    )
    summary = driven.agent.sync()
    bad = outcome(summary, "bad")
    assert bad.outcome == Outcome.FAILED_TO_APPLY
    assert driven.kube_sleeps == []  # not a 10-minute stall of the pass
    assert "next retry after 2026-12-07T12:10:00Z" in bad.message  # honoured across passes
    assert outcome(summary, "good1").outcome == Outcome.APPLIED
    driven.clock.advance(300)
    assert outcome(driven.agent.sync(), "bad").outcome == Outcome.FAILED_TO_APPLY
    assert patches(sim_member, "bad") == 1
    driven.clock.advance(301)
    assert outcome(driven.agent.sync(), "bad").outcome == Outcome.APPLIED


@pytest.mark.parametrize("status", [429, 500, 503, 504])
def test_a_transient_error_on_a_read_is_retried_and_the_pass_completes(
    sim_member: Member, hub: Hub, driven: Driven, status: int
) -> None:
    p = placement()
    hub.publish([(p, o) for o in objs(sim_member)])
    sim_member.sim.faults.add(
        verb="get", kind="ConfigMap", name="fleetsync-inventory", status=status, retry_after=None, times=2
    )
    summary = driven.agent.sync()
    assert not summary.errors
    assert {r.outcome for r in summary.results} == {Outcome.APPLIED}
    assert len(driven.kube_sleeps) == 2


def test_a_forbidden_apply_names_the_verb_the_resource_and_where_to_grant_it(
    sim_member: Member, hub: Hub, driven: Driven
) -> None:
    ns = f"{sim_member.prefix}-app"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }
    p = placement()
    hub.publish([(p, objs(sim_member)[0]), (p, deployment)])
    sim_member.sim.faults.rbac_denial(
        verb="patch", kind="Deployment", name="web", resource="deployments", group="apps", namespace=ns
    )
    web = outcome(driven.agent.sync(), "web")
    assert web.outcome == Outcome.FAILED_TO_APPLY
    assert web.message.startswith(
        'forbidden: User "system:serviceaccount:fleetsync-system:fleetsync-agent" cannot patch '
        f"deployments.apps in namespace {ns}; "
        "grant it in the agent's RBAC (deploy/agent/rbac-apply.yaml; docs/agent.md "
        '"Retries and backoff")'
    ), web.message
    assert "\n" not in web.message
