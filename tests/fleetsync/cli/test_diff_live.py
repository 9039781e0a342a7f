"""``fleetsync diff`` against a cluster (KubeSim, or a real one named by FLEETSYNC_E2E_KUBECONFIG)
and a real bare Git hub: the agent applies a bundle, the hub moves on, someone edits the cluster;
the diff names every difference and changes nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

from typer.testing import CliRunner

from fleetsync.cli import app
from tests.agent import conftest as agent_fixtures
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement

# The agent's integration fixtures (tests/agent/conftest.py): a KubeSim or real member, a bare hub.
_sim, _real, member, hub, make_agent = (
    agent_fixtures._sim,
    agent_fixtures._real,
    agent_fixtures.member,
    agent_fixtures.hub,
    agent_fixtures.make_agent,
)


def ns(member: Member) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{member.prefix}-app"}}


def cm(member: Member, name: str, **data: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": f"{member.prefix}-app"}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {"mode": "on"}}


def secret(member: Member, password: str) -> dict[str, Any]:
    meta = {"name": "creds", "namespace": f"{member.prefix}-app"}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"password": password}}


def deployment(member: Member, replicas: int) -> dict[str, Any]:
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


def diff(member: Member, hub: Hub, *args: str) -> Any:
    return CliRunner().invoke(
        app,
        [
            "diff",
            "--cluster",
            hub.cluster,
            "--repo",
            str(hub.bare),
            "--kubeconfig",
            str(member.kubeconfig),
            "--namespace",
            f"fs-{member.prefix}",
            *args,
        ],
    )


def versions(member: Member) -> dict[str, Any]:
    """What a write would move: resource versions of config and secrets, the Deployment's spec."""
    kube, namespace = member.kube, f"{member.prefix}-app"
    out: dict[str, Any] = {}
    for kind in ("ConfigMap", "Secret"):
        for o in kube.list(kube.kind("v1", kind), namespace):
            out[f"{kind}/{o['metadata']['name']}"] = o["metadata"]["resourceVersion"]
    web = member.get("apps/v1", "Deployment", namespace, "web")
    assert web is not None
    out["Deployment/web"] = (web["metadata"].get("generation"), web["spec"])
    return out


def test_diff_names_every_difference_on_a_cluster_and_writes_nothing(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    base = [(p, ns(member)), (p, cm(member, "settings")), (p, deployment(member, 1))]
    hub.publish([*base, (p, secret(member, "hub-pass-1")), (p, cm(member, "old"))])
    make_agent(member, hub).sync()
    kube, namespace = member.kube, f"{member.prefix}-app"
    kube.merge_patch(kube.kind("apps/v1", "Deployment"), "web", namespace, {"spec": {"replicas": 0}})
    changed = base64.b64encode(b"member-pass-2").decode()
    kube.merge_patch(kube.kind("v1", "Secret"), "creds", namespace, {"data": {"password": changed}})
    kube.apply(cm(member, "theirs"), force=True)  # on the cluster, not placed by the agent
    hub.publish([*base, (p, secret(member, "hub-pass-1")), (p, cm(member, "new")), (p, cm(member, "theirs"))])
    before = versions(member)

    js = diff(member, hub, "-o", "json")
    text = diff(member, hub)

    assert js.exit_code == 1, js.output
    assert text.exit_code == 1, text.output
    assert versions(member) == before
    assert member.get("v1", "ConfigMap", namespace, "new") is None
    doc = json.loads(js.stdout)
    assert doc["dryRun"] == "server"
    ours = [o for o in doc["objects"] if namespace in o["identity"]]  # a real cluster is shared
    states = {o["identity"].split("/", 1)[1]: o["state"] for o in ours}
    assert states == {
        f"Namespace//{namespace}": "in-sync",
        f"ConfigMap/{namespace}/settings": "in-sync",
        f"Deployment/{namespace}/web": "drifted",
        f"Secret/{namespace}/creds": "drifted",
        f"ConfigMap/{namespace}/new": "missing",
        f"ConfigMap/{namespace}/theirs": "not-owned",
        f"ConfigMap/{namespace}/old": "extra-owned-not-in-bundle",
    }
    by_kind = {o["identity"].split("/")[1] + "/" + o["identity"].split("/")[3]: o for o in ours}
    assert by_kind["Deployment/web"]["differences"] == [
        {"path": "/spec/replicas", "valueInHub": "1", "valueInMember": "0"}
    ]
    assert [d["path"] for d in by_kind["Secret/creds"]["differences"]] == ["/data/password"]
    assert "-  replicas: 0\n" in text.stdout and "+  replicas: 1\n" in text.stdout
    for value in ("hub-pass-1", "member-pass-2"):
        for out in (js.output, text.output):
            assert value not in out and base64.b64encode(value.encode()).decode() not in out


def test_a_rewritten_hub_branch_is_refused_as_the_agent_refuses_it(
    member: Member, hub: Hub, make_agent: AgentFactory
) -> None:
    p = placement()
    hub.publish([(p, ns(member)), (p, cm(member, "settings"))])
    make_agent(member, hub).sync()
    hub.publish([(p, ns(member)), (p, cm(member, "settings", mode="off"))], rewrite=True)

    result = diff(member, hub)

    assert result.exit_code == 3, result.output
    assert "rewritten" in result.stderr
