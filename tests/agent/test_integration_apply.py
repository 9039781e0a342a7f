"""The agent over HTTP: apply, strategies, takeover, waves and reports (KubeSim, or a real cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from fleetsync_contract.report import Availability, DriftType, Outcome
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement


def ns(member: Member, suffix: str = "app") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{member.prefix}-{suffix}"}}


def cm(member: Member, name: str = "settings", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": f"{member.prefix}-app"},
        "data": data or {"mode": "on"},
    }


def deployment(member: Member, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": f"{member.prefix}-app"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def outcomes(hub: Hub) -> dict[str, Outcome]:
    report, _ = hub.report()
    return {o.identity: o.outcome for p in report.placements for o in p.objects}


def test_applies_a_bundle_and_reports_every_object(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": f"{member.prefix}-app"},
        "stringData": {"password": "hunter2"},
    }
    commit = hub.publish([(p, ns(member)), (p, cm(member)), (p, deployment(member)), (p, secret)])
    agent = make_agent(member, hub)
    summary = agent.sync()
    assert {r.outcome for r in summary.results} == {Outcome.APPLIED}
    live = member.get("v1", "ConfigMap", f"{member.prefix}-app", "settings")
    assert live is not None and live["data"] == {"mode": "on"}  # YAML 1.1 'on' stays a string
    report, _ = hub.report()
    assert report.applied_bundle_commit == commit
    assert len(report.inventory) == 4
    [pr] = report.placements
    assert next(c.type for c in pr.conditions) == "Applied" and pr.conditions[0].status == "True"
    avail = {o.identity.split("/")[1]: o.availability for o in pr.objects}
    assert avail["ConfigMap"] == Availability.AVAILABLE and avail["Namespace"] == Availability.AVAILABLE
    assert b"hunter2" not in str(report).encode()


def test_a_second_sync_changes_nothing_and_commits_nothing(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    hub.publish([(p, ns(member)), (p, cm(member))])
    agent = make_agent(member, hub)
    agent.sync()
    commits = hub.report_commits()
    again = agent.sync()
    assert {r.outcome for r in again.results} == {Outcome.UNCHANGED}
    assert again.report_commit is None and hub.report_commits() == commits


def test_yaml11_lookalike_values_are_applied_as_strings(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    hub.publish([(p, ns(member)), (p, cm(member, n="n", off="off", yes="y", ver="1.20"))])
    make_agent(member, hub).sync()
    live = member.get("v1", "ConfigMap", f"{member.prefix}-app", "settings")
    assert live is not None and live["data"] == {"n": "n", "off": "off", "yes": "y", "ver": "1.20"}


def test_a_crd_and_its_custom_resources_apply_in_one_bundle(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    group = f"{member.prefix}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": f"{member.prefix}-app"},
        "spec": {"size": 3},
    }
    p = placement()
    hub.publish([(p, widget), (p, crd), (p, ns(member))])
    summary = make_agent(member, hub).sync()
    assert {r.identity.split("/")[1]: r.outcome for r in summary.results} == {
        "Namespace": Outcome.APPLIED,
        "CustomResourceDefinition": Outcome.APPLIED,
        "Widget": Outcome.APPLIED,
    }
    assert member.get(f"{group}/v1", "Widget", f"{member.prefix}-app", "w1") is not None


def test_server_side_apply_without_force_reports_a_conflict_on_a_taken_field(
    sim_member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    member = sim_member
    p = placement(type="ServerSideApply")
    hub.publish([(p, ns(member)), (p, deployment(member, 2))])
    agent = make_agent(member, hub)
    agent.sync()
    member.sim.edit(
        "apps/v1",
        "Deployment",
        f"{member.prefix}-app",
        "web",
        lambda o: o["spec"].update(replicas=5),
        manager="hpa",
    )
    summary = agent.sync()
    by_kind = {r.identity.split("/")[1]: r for r in summary.results}
    # an Update manager took spec.replicas; SSA without force conflicts → reported as drift
    assert by_kind["Deployment"].outcome == Outcome.DRIFTED
    _, drifts = hub.report()
    [d] = drifts.values()
    assert [(x.path, x.value_in_hub, x.value_in_member) for x in d.details] == [("/spec/replicas", "2", "5")]


def test_client_side_apply_overwrites_out_of_band_changes(
    sim_member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    member = sim_member
    p = placement()
    hub.publish([(p, ns(member)), (p, cm(member))])
    agent = make_agent(member, hub)
    agent.sync()
    member.sim.edit(
        "v1", "ConfigMap", f"{member.prefix}-app", "settings", lambda o: o["data"].update(mode="off")
    )
    assert {r.outcome for r in agent.sync().results} == {Outcome.UNCHANGED, Outcome.APPLIED}
    live = member.get("v1", "ConfigMap", f"{member.prefix}-app", "settings")
    assert live is not None and live["data"]["mode"] == "on"


def test_if_not_drifted_reports_out_of_band_drift_and_keeps_it(
    sim_member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    member = sim_member
    p = placement(whenToApply="IfNotDrifted")
    hub.publish([(p, ns(member)), (p, cm(member))])
    agent = make_agent(member, hub)
    agent.sync()
    member.sim.edit(
        "v1", "ConfigMap", f"{member.prefix}-app", "settings", lambda o: o["data"].update(mode="off")
    )
    agent.sync()
    ident = f"/ConfigMap/{member.prefix}-app/settings"
    assert outcomes(hub)[ident] == Outcome.DRIFTED
    _, drifts = hub.report()
    [d] = drifts.values()
    assert d.type == DriftType.DRIFT and d.identity == ident
    assert [(x.path, x.value_in_hub, x.value_in_member) for x in d.details] == [("/data/mode", "on", "off")]
    first = d.first_observed_time
    agent.sync()
    assert hub.report()[1][next(iter(drifts))].first_observed_time == first
    live = member.get("v1", "ConfigMap", f"{member.prefix}-app", "settings")
    assert live is not None and live["data"]["mode"] == "off"


def test_report_diff_never_modifies_the_member(
    sim_member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    member = sim_member
    member.sim.create(ns(member))
    member.sim.create(cm(member, mode="off"), manager="kubectl")
    p = placement(type="ReportDiff")
    hub.publish([(p, cm(member)), (p, cm(member, "absent"))])
    make_agent(member, hub).sync()
    report, drifts = hub.report()
    [pr] = report.placements
    assert [c.type for c in pr.conditions] == ["DiffReported"]
    assert {o.outcome for o in pr.objects} == {Outcome.DIFF_REPORTED}
    missing = drifts[f"drift/{p.key}/core/ConfigMap/{member.prefix}-app/absent.yaml"]
    assert [(x.path, x.value_in_hub) for x in missing.details] == [("/", "(the whole object)")]
    assert missing.observed_generation is None
    live = member.get("v1", "ConfigMap", f"{member.prefix}-app", "settings")
    assert live is not None and live["data"] == {"mode": "off"}
    assert member.get("v1", "ConfigMap", f"{member.prefix}-app", "absent") is None


@pytest.mark.parametrize(
    ("strategy", "existing_data", "outcome", "final"),
    [
        ({"whenToTakeOver": "Never"}, "off", Outcome.SKIPPED_TAKE_OVER_NEVER, "off"),
        ({"whenToTakeOver": "IfNoDiff"}, "off", Outcome.DIFF_REPORTED, "off"),
        ({"whenToTakeOver": "IfNoDiff"}, "on", Outcome.TAKEN_OVER, "on"),
        ({"whenToTakeOver": "Always"}, "off", Outcome.TAKEN_OVER, "on"),
        ({"whenToTakeOver": "Always", "type": "ServerSideApply"}, "off", Outcome.FAILED_TO_TAKE_OVER, "off"),
        (
            {"whenToTakeOver": "Always", "type": "ServerSideApply", "serverSideApplyConfig": {"force": True}},
            "off",
            Outcome.TAKEN_OVER,
            "on",
        ),
    ],
)
def test_takeover_of_existing_objects(
    sim_member: Member,
    hub: Hub,
    make_agent: AgentFactory,
    strategy: dict[str, Any],
    existing_data: str,
    outcome: Outcome,
    final: str,
) -> None:
    member = sim_member
    member.sim.create(ns(member))
    member.sim.create(cm(member, mode=existing_data), manager="kubectl-client-side-apply")
    p = placement(**strategy)
    hub.publish([(p, ns(member)), (p, cm(member))])
    make_agent(member, hub).sync()
    assert outcomes(hub)[f"/ConfigMap/{member.prefix}-app/settings"] == outcome
    live = member.get("v1", "ConfigMap", f"{member.prefix}-app", "settings")
    assert live is not None and live["data"]["mode"] == final


def test_an_object_placed_by_another_placement_is_a_conflict(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    a, b = placement("a"), placement("b")
    hub.publish([(a, ns(member)), (a, cm(member)), (b, cm(member, "other"))])
    make_agent(member, hub).sync()
    hub.publish([(a, ns(member)), (a, cm(member)), (b, cm(member))])
    make_agent(member, hub, state="state2").sync()
    report, _ = hub.report()
    by_key = {p.key: {o.identity: o.outcome for o in p.objects} for p in report.placements}
    assert (
        by_key[b.key][f"/ConfigMap/{member.prefix}-app/settings"] == Outcome.APPLY_CONFLICT_BETWEEN_PLACEMENTS
    )


def test_full_comparison_reports_defaulted_fields_as_drift_after_apply(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement(comparisonOption="FullComparison")
    hub.publish([(p, ns(member)), (p, deployment(member))])
    make_agent(member, hub).sync()
    _report, drifts = hub.report()
    ident = f"apps/Deployment/{member.prefix}-app/web"
    assert outcomes(hub)[ident] == Outcome.APPLIED
    d = next(d for d in drifts.values() if d.identity == ident)
    assert any(x.path == "/spec/progressDeadlineSeconds" and x.value_in_member == "600" for x in d.details)


def test_objects_unwrapped_from_an_envelope_report_their_envelope(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    from fleetsync_contract.bundle import BundleObject, EnvelopeRef, build_bundle, manifest_identity

    p = placement()
    env = EnvelopeRef("ResourceEnvelope", f"{member.prefix}-app", "hooks")
    objs = [ns(member), cm(member)]
    files = build_bundle(
        hub.cluster,
        "0" * 40,
        [p],
        [
            BundleObject(
                p.key, manifest_identity(o), manifest=o, envelope=env if o["kind"] == "ConfigMap" else None
            )
            for o in objs
        ],
    )
    hub.publish([], files=files)
    make_agent(member, hub).sync()
    report, _ = hub.report()
    by_kind = {o.identity.split("/")[1]: o for o in report.placements[0].objects}
    assert by_kind["ConfigMap"].envelope is not None and by_kind["ConfigMap"].envelope.name == "hooks"
    assert by_kind["Namespace"].envelope is None


@pytest.mark.parametrize(
    ("comparison", "outcome"),
    [("PartialComparison", Outcome.TAKEN_OVER), ("FullComparison", Outcome.DIFF_REPORTED)],
)
def test_if_no_diff_ignores_server_defaults_only_under_partial_comparison(
    sim_member: Member, hub: Hub, make_agent: AgentFactory, comparison: str, outcome: Outcome
) -> None:
    """A Deployment someone created from the same manifest carries the server's defaults: a
    partial comparison (dry-run apply) sees no difference, a full comparison sees the defaults."""
    member = sim_member
    member.sim.create(ns(member))
    member.sim.create(deployment(member), manager="kubectl-client-side-apply")
    p = placement(whenToTakeOver="IfNoDiff", comparisonOption=comparison)
    hub.publish([(p, ns(member)), (p, deployment(member))])
    make_agent(member, hub).sync()
    assert outcomes(hub)[f"apps/Deployment/{member.prefix}-app/web"] == outcome
    if outcome == Outcome.DIFF_REPORTED:
        _, drifts = hub.report()
        d = next(d for d in drifts.values() if d.identity.startswith("apps/Deployment/"))
        assert any(x.path == "/spec/revisionHistoryLimit" and x.value_in_hub is None for x in d.details)
