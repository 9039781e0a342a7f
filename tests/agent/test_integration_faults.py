"""What real API servers do to clients: every fault fails only its object, or is retried."""

from __future__ import annotations

from typing import Any

import pytest

from fleetsync_contract.report import Outcome
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement


def objs(member: Member) -> list[dict[str, Any]]:
    ns = f"{member.prefix}-app"
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}] + [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": ns}, "data": {"k": n}}
        for n in ("bad", "good1", "good2")
    ]


@pytest.mark.parametrize(
    ("fault", "outcome", "message"),
    [
        (
            {"status": 403, "message": "configmaps is forbidden: User cannot patch"},
            Outcome.FAILED_TO_APPLY,
            "forbidden",
        ),
        (
            {"status": 422, "message": "ConfigMap is invalid: data: Invalid value"},
            Outcome.FAILED_TO_APPLY,
            "invalid",
        ),
        ({"status": 429, "retry_after": 0, "times": 2}, Outcome.APPLIED, ""),
        ({"status": 500, "times": 2}, Outcome.APPLIED, ""),
        ({"status": 503, "times": 10}, Outcome.FAILED_TO_APPLY, ""),
        (
            {"status": 500, "message": "failed to create typed patch object: unknown field", "times": 10},
            Outcome.FAILED_TO_APPLY,
            "unknown field",
        ),
    ],
)
def test_api_faults_fail_or_retry_only_their_object(
    sim_member: Member,
    hub: Hub,
    make_agent: AgentFactory,
    fault: dict[str, Any],
    outcome: Outcome,
    message: str,
) -> None:
    member = sim_member
    p = placement()
    hub.publish([(p, o) for o in objs(member)])
    member.sim.faults.add(verb="patch", kind="ConfigMap", name="bad", **fault)
    summary = make_agent(member, hub).sync()
    by_name = {r.identity.split("/")[-1]: r for r in summary.results}
    assert by_name["bad"].outcome == outcome
    assert message in by_name["bad"].message.lower()
    assert by_name["good1"].outcome == by_name["good2"].outcome == Outcome.APPLIED


def test_a_webhook_denial_fails_that_object_and_keeps_the_message(
    sim_member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    member = sim_member
    p = placement()
    hub.publish([(p, o) for o in objs(member)])
    member.sim.faults.webhook_denial(
        verb="patch", kind="ConfigMap", name="bad", message="no configmaps named bad"
    )
    make_agent(member, hub).sync()
    report, _ = hub.report()
    bad = next(o for pl in report.placements for o in pl.objects if o.identity.endswith("/bad"))
    assert bad.outcome == Outcome.FAILED_TO_APPLY
    assert 'admission webhook "deny.example.com" denied the request' in bad.message
    assert report.placements[0].conditions[0].reason == "SomeManifestsAreNotApplied"


def test_a_conflict_on_apply_of_an_owned_object_is_reported_as_drift(
    sim_member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    member = sim_member
    p = placement(type="ServerSideApply")
    hub.publish([(p, o) for o in objs(member)])
    agent = make_agent(member, hub)
    agent.sync()
    member.sim.faults.add(
        verb="patch",
        kind="ConfigMap",
        name="bad",
        status=409,
        message='Apply failed with 1 conflict: conflict with "kubectl": .data.k',
    )
    member.sim.edit(
        "v1",
        "ConfigMap",
        f"{member.prefix}-app",
        "bad",
        lambda o: o["data"].update(k="theirs"),
        manager="kubectl",
    )
    summary = agent.sync()
    bad = next(r for r in summary.results if r.identity.endswith("/bad"))
    assert bad.outcome == Outcome.DRIFTED
    assert [(d.path, d.value_in_member) for d in bad.details] == [("/data/k", "theirs")]


def test_a_secret_is_never_echoed_in_messages_or_reports(
    sim_member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    member = sim_member
    ns = f"{member.prefix}-app"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": ns},
        "data": {"token": "c3VwZXJzZWNyZXQ="},
    }
    p = placement()
    hub.publish([(p, objs(member)[0]), (p, secret)])
    member.sim.faults.add(
        verb="patch",
        kind="Secret",
        name="s",
        status=422,
        message='Secret is invalid: data[token]: Invalid value: "c3VwZXJzZWNyZXQ="',
    )
    make_agent(member, hub).sync()
    raw = hub.report()
    assert "c3VwZXJzZWNyZXQ" not in repr(raw)
