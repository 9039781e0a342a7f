"""The agent acts as its kubeconfig says (issue 14, point 1): with ``as:`` it impersonates that
user on every request, so what the user may not do fails and is reported, never done with the
certificate's rights. Runs on KubeSim (with its authorization model on) and, unchanged, on a real
cluster named by FLEETSYNC_E2E_KUBECONFIG (its user must be allowed to impersonate, as
cluster-admin is)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from agent.apply.kube import KubeClient
from agent.errors import Forbidden
from fleetsync_contract.report import Outcome
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement

RBAC = "rbac.authorization.k8s.io/v1"
_PATH_FIELDS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")
# What the agent needs for a bundle of namespaces and ConfigMaps, and nothing of RBAC.
AGENT_RULES = [
    {"apiGroups": ["", "apps", "apiextensions.k8s.io"], "resources": ["*"], "verbs": ["*"]},
]


def impersonating_kubeconfig(source: Path, target: Path, **fields: Any) -> Path:
    """``source`` with ``fields`` (``as``, ``as-groups`` ...) added to every user, relative file
    paths made absolute so the copy works from ``target``."""
    doc = yaml.safe_load(source.read_text())
    for entry in [*doc.get("users", []), *doc.get("clusters", [])]:
        body = entry.get("user") or entry.get("cluster") or {}
        for key in _PATH_FIELDS:
            if key in body and not os.path.isabs(body[key]):
                body[key] = str((source.parent / body[key]).resolve())
    for entry in doc.get("users", []):
        entry["user"].update(fields)
    target.write_text(json.dumps(doc))
    target.chmod(0o600)
    return target


@pytest.fixture
def limited(member: Member, tmp_path: Path) -> Iterator[tuple[Member, str]]:
    """The member seen through a kubeconfig that impersonates ServiceAccount ``limited``, which
    may manage namespaces and ConfigMaps but not ClusterRoles; KubeSim's authorization on."""
    sa = f"system:serviceaccount:{member.prefix}-sa:limited"
    name = f"{member.prefix}-agent"
    role: dict[str, Any] = {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": AGENT_RULES,
    }
    binding: dict[str, Any] = {
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "limited", "namespace": f"{member.prefix}-sa"}],
    }
    member.kube.apply(role)
    member.kube.apply(binding)
    if member.sim is not None:
        from kubesim.authz import Authz

        member.sim.authz = Authz()
    path = impersonating_kubeconfig(member.kubeconfig, tmp_path / "limited.kubeconfig", **{"as": sa})
    try:
        with KubeClient.from_kubeconfig(str(path)) as kube:
            yield Member(path, kube, member.sim, member.prefix), sa
    finally:
        if member.sim is not None:
            member.sim.authz = None
        for obj in (binding, role):
            member.kube.delete(member.kube.kind(RBAC, obj["kind"]), obj["metadata"]["name"])


def test_an_impersonated_service_account_cannot_create_a_cluster_role_and_the_agent_reports_it(
    member: Member, limited: tuple[Member, str], hub: Hub, make_agent: AgentFactory
) -> None:
    as_sa, sa = limited
    ns = f"{member.prefix}-app"
    denied = f"{member.prefix}-denied"
    p = placement()
    hub.publish(
        [
            (p, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            (p, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok", "namespace": ns}}),
            (
                p,
                {
                    "apiVersion": RBAC,
                    "kind": "ClusterRole",
                    "metadata": {"name": denied},
                    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
                },
            ),
        ]
    )
    make_agent(as_sa, hub).sync()
    report, _ = hub.report()
    results = {o.identity: o for pl in report.placements for o in pl.objects}
    role = results[f"rbac.authorization.k8s.io/ClusterRole//{denied}"]
    assert role.outcome == Outcome.FAILED_TO_APPLY
    assert f'User "{sa}" cannot ' in role.message
    assert "clusterroles.rbac.authorization.k8s.io (cluster-scoped)" in role.message
    assert results[f"/ConfigMap/{ns}/ok"].outcome == Outcome.APPLIED
    assert member.get(RBAC, "ClusterRole", "", denied) is None  # never created, with any rights
    assert member.get("v1", "ConfigMap", ns, "ok") is not None


def test_every_request_carries_the_impersonation_headers(sim_member: Member, tmp_path: Path) -> None:
    from kubesim.authz import Authz

    seen: list[list[tuple[str, str]]] = []
    sim = sim_member.sim
    handle = sim.handle

    def spy(method: str, path: str, headers: dict[str, str], body: bytes, lines: Any = ()) -> Any:
        seen.append([(k, v) for k, v in lines if k.lower().startswith("impersonate-")])
        return handle(method, path, headers, body, lines)

    path = impersonating_kubeconfig(
        sim_member.kubeconfig,
        tmp_path / "kc",
        **{"as": "jane", "as-groups": ["dev", "ops"], "as-uid": "42", "as-user-extra": {"team/x": ["a"]}},
    )
    sim.handle = spy
    sim.authz = Authz()
    try:
        with KubeClient.from_kubeconfig(str(path)) as kube, pytest.raises(Forbidden) as denied:
            kube.list(kube.kind("v1", "Namespace"))
    finally:
        sim.authz = None
        del sim.handle
    expected = [
        ("Impersonate-User", "jane"),
        ("Impersonate-Uid", "42"),
        ("Impersonate-Group", "dev"),
        ("Impersonate-Group", "ops"),
        ("Impersonate-Extra-team%2Fx", "a"),
    ]
    assert 'User "jane" cannot list namespaces (cluster-scoped)' in str(denied.value)
    assert len(seen) >= 2  # discovery, then the list
    assert all(lines == expected for lines in seen), seen
