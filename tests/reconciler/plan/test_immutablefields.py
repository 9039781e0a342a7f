"""The table of fields Kubernetes will not update: each well-known case is caught, and what
may change (a StatefulSet's replicas, a PVC's storage request, a server-filled clusterIP) is not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.plan.immutablefields import RULES, immutable_changes

DOC = Path(__file__).resolve().parents[3] / "docs" / "immutability.md"


def obj(api: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": "ns"}, **fields}


def ident(api: str, kind: str) -> str:
    group = api.rpartition("/")[0]
    return f"{group}/{kind}/ns/x"


POD = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
POD2 = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i:2"}]}}
SEL = {"matchLabels": {"app": "a"}}
SEL2 = {"matchLabels": {"app": "b"}}

CASES = [
    ("apps/v1", "Deployment", {"spec": {"selector": SEL}}, {"spec": {"selector": SEL2}}, ["spec.selector"]),
    (
        "apps/v1",
        "Deployment",
        {"spec": {"replicas": 1, "selector": SEL}},
        {"spec": {"replicas": 3, "selector": SEL}},
        [],
    ),
    ("apps/v1", "DaemonSet", {"spec": {"selector": SEL}}, {"spec": {"selector": SEL2}}, ["spec.selector"]),
    ("apps/v1", "ReplicaSet", {"spec": {"selector": SEL}}, {"spec": {"selector": SEL2}}, ["spec.selector"]),
    (
        "apps/v1",
        "StatefulSet",
        {"spec": {"serviceName": "a", "replicas": 1}},
        {"spec": {"serviceName": "b", "replicas": 1}},
        ["spec"],
    ),
    (
        "apps/v1",
        "StatefulSet",
        {"spec": {"serviceName": "a", "replicas": 1, "template": POD}},
        {"spec": {"serviceName": "a", "replicas": 4, "template": POD2}},
        [],
    ),
    ("batch/v1", "Job", {"spec": {"template": POD}}, {"spec": {"template": POD2}}, ["spec.template"]),
    (
        "batch/v1",
        "Job",
        {"spec": {"template": POD, "completionMode": "NonIndexed"}},
        {"spec": {"template": POD, "completionMode": "Indexed"}},
        ["spec.completionMode"],
    ),
    (
        "v1",
        "Service",
        {"spec": {"clusterIP": "10.0.0.1"}},
        {"spec": {"clusterIP": "10.0.0.2"}},
        ["spec.clusterIP"],
    ),
    (
        "v1",
        "Service",
        {"spec": {"clusterIP": "None"}},
        {"spec": {"clusterIP": "10.0.0.2"}},
        ["spec.clusterIP"],
    ),
    (
        "v1",
        "Service",
        {"spec": {"ports": [{"port": 80}]}},
        {"spec": {"clusterIP": "10.0.0.2", "ports": [{"port": 80}]}},
        [],
    ),
    (
        "v1",
        "Service",
        {"spec": {"type": "ClusterIP"}},
        {"spec": {"type": "ExternalName", "externalName": "a.b"}},
        ["spec.type"],
    ),
    ("v1", "Service", {"spec": {"type": "ClusterIP"}}, {"spec": {"type": "LoadBalancer"}}, []),
    (
        "v1",
        "PersistentVolumeClaim",
        {"spec": {"storageClassName": "a", "resources": {"requests": {"storage": "1Gi"}}}},
        {"spec": {"storageClassName": "b", "resources": {"requests": {"storage": "1Gi"}}}},
        ["spec"],
    ),
    (
        "v1",
        "PersistentVolumeClaim",
        {"spec": {"storageClassName": "a", "resources": {"requests": {"storage": "1Gi"}}}},
        {"spec": {"storageClassName": "a", "resources": {"requests": {"storage": "2Gi"}}}},
        [],
    ),
    (
        "v1",
        "ConfigMap",
        {"immutable": True, "data": {"a": "1"}},
        {"immutable": True, "data": {"a": "2"}},
        ["data"],
    ),
    ("v1", "ConfigMap", {"data": {"a": "1"}}, {"data": {"a": "2"}}, []),
    ("v1", "ConfigMap", {"immutable": True, "data": {"a": "1"}}, {"data": {"a": "1"}}, ["immutable"]),
    (
        "v1",
        "Secret",
        {"immutable": True, "data": {"a": "MQ=="}},
        {"immutable": True, "data": {"a": "Mg=="}},
        ["data"],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        {"roleRef": {"kind": "Role", "name": "a"}},
        {"roleRef": {"kind": "Role", "name": "b"}},
        ["roleRef"],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        {"roleRef": {"kind": "ClusterRole", "name": "a"}},
        {"roleRef": {"kind": "ClusterRole", "name": "b"}},
        ["roleRef"],
    ),
    ("storage.k8s.io/v1", "StorageClass", {"provisioner": "a"}, {"provisioner": "b"}, ["provisioner"]),
]


@pytest.mark.parametrize(("api", "kind", "before", "after", "fields"), CASES)
def test_each_well_known_immutable_field_is_caught_and_mutable_ones_are_not(
    api: str, kind: str, before: dict[str, Any], after: dict[str, Any], fields: list[str]
) -> None:
    key = ("ClusterResourcePlacement/p", ident(api, kind))
    base = {"c1": {key: obj(api, kind, **before)}, "c2": {key: obj(api, kind, **before)}}
    head = {"c1": {key: obj(api, kind, **after)}, "c2": {key: obj(api, kind, **before)}}
    found = immutable_changes(base, head)
    assert [c.rule.field for c in found] == fields
    assert all(c.clusters == ("c1",) for c in found)  # only where the render changes


def test_a_finding_names_no_secret_value() -> None:
    key = ("ClusterResourcePlacement/p", "/Secret/ns/x")
    before = obj("v1", "Secret", immutable=True, data={"password": "aHVudGVyMg=="})
    after = obj("v1", "Secret", immutable=True, data={"password": "c2VjcmV0"})
    [found] = immutable_changes({"c": {key: before}}, {"c": {key: after}})
    text = str(found.to_dict())
    assert "aHVudGVyMg==" not in text and "c2VjcmV0" not in text


def test_every_rule_is_documented_with_its_fix() -> None:
    doc = DOC.read_text()
    for rule in RULES:
        for kind in rule.kinds:
            assert f"| {kind} | `{rule.field}` |" in doc, (kind, rule.field)
        assert rule.doc.startswith("https://kubernetes.io/docs/") and rule.reason and rule.fix
