"""The shipped policy library (policies/): every policy passes a good object and fails a bad one
with its own message, for every workload kind whose pod template it reads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.load.yamldoc import parse_documents
from reconciler.policy.gate import ClusterInfo, PolicySet, Violation, evaluate, library_paths, load_policies
from reconciler.policy.model import Action
from tests.support import REPO_ROOT

ROOT = REPO_ROOT
LIBRARY = load_policies([], library=library_paths())
GOOD_CONTAINER: dict[str, Any] = {
    "name": "app",
    "image": "ghcr.io/example/app:1.4.2",
    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
}
WORKLOAD_KINDS = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]
API_VERSIONS = {"Pod": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}


def workload(kind: str = "Deployment", namespace: str = "web", **pod: Any) -> dict[str, Any]:
    """A workload of ``kind`` whose pod spec is one good container, updated with ``pod``."""
    spec: dict[str, Any] = {"containers": [copy.deepcopy(GOOD_CONTAINER)]}
    spec.update(copy.deepcopy(pod))
    body: dict[str, Any] = {
        "apiVersion": API_VERSIONS.get(kind, "apps/v1"),
        "kind": kind,
        "metadata": {"name": "app", "namespace": namespace},
    }
    if kind == "Pod":
        body["spec"] = spec
    elif kind == "CronJob":
        body["spec"] = {"schedule": "@hourly", "jobTemplate": {"spec": {"template": {"spec": spec}}}}
    else:
        body["spec"] = {"template": {"metadata": {"labels": {"app": "app"}}, "spec": spec}}
    return body


def container(**fields: Any) -> dict[str, Any]:
    c = copy.deepcopy(GOOD_CONTAINER)
    c.update(fields)
    return c


def ident(obj: dict[str, Any]) -> str:
    group = obj["apiVersion"].rpartition("/")[0]
    return f"{group}/{obj['kind']}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def only(policy: str, policy_set: PolicySet = LIBRARY) -> PolicySet:
    return PolicySet(
        {policy: policy_set.policies[policy]},
        tuple(b for b in policy_set.bindings if b.policy == policy),
        policy_set.params,
    )


def check(policy: str, obj: dict[str, Any]) -> list[Violation]:
    return evaluate(only(policy), ClusterInfo("eu-1"), {ident(obj): obj})


def test_the_library_loads_without_findings_and_documents_every_policy() -> None:
    assert LIBRARY.findings == ()
    readme = (ROOT / "policies" / "README.md").read_text()
    names = {p.stem for p in library_paths()}
    assert names == set(LIBRARY.policies)
    for name in names:
        assert f"`{name}`" in readme, f"policies/README.md does not document {name}"


def test_every_library_file_is_one_policy_named_as_its_file() -> None:
    for path in library_paths():
        docs = parse_documents(path.read_bytes(), str(path))
        assert [d.data["metadata"]["name"] for d in docs] == [path.stem]


def test_security_policies_deny_and_hygiene_policies_warn_by_default() -> None:
    actions = {b.policy: b.actions for b in LIBRARY.bindings}
    for name in (
        "no-kube-namespaces",
        "no-cluster-admin-binding",
        "no-privileged-containers",
        "no-host-path",
        "no-host-network",
        "no-latest-tag",
        "blast-radius",
    ):
        assert actions[name] == (Action.DENY,), name
    for name in ("require-resources", "allowed-registries", "namespace-owner-label"):
        assert actions[name] == (Action.WARN,), name


POD_CASES = [
    # policy, pod spec fields that violate it, a fragment of the message
    (
        "no-privileged-containers",
        {"containers": [container(securityContext={"privileged": True})]},
        "privileged containers are not allowed: app",
    ),
    (
        "no-privileged-containers",
        {"initContainers": [container(name="init", securityContext={"privileged": True})]},
        "privileged containers are not allowed: init",
    ),
    (
        "no-host-path",
        {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
        "hostPath volumes are not allowed: root",
    ),
    ("no-host-network", {"hostNetwork": True}, "hostNetwork is not allowed"),
    ("no-host-network", {"hostPID": True}, "hostPID is not allowed"),
    (
        "require-resources",
        {"containers": [container(resources={"limits": {"memory": "1Gi"}})]},
        "containers without resource requests (cpu, memory) and limits (memory): app",
    ),
    (
        "require-resources",
        {"containers": [container(resources={"requests": {"cpu": "1", "memory": "1Gi"}})]},
        "and limits (memory): app",
    ),
    (
        "no-latest-tag",
        {"containers": [container(image="ghcr.io/example/app:latest")]},
        "to a digest: app (ghcr.io/example/app:latest)",
    ),
    ("no-latest-tag", {"containers": [container(image="ghcr.io/example/app")]}, "app (ghcr.io/example/app)"),
    ("no-latest-tag", {"containers": [container(image="localhost:5000/app")]}, "app (localhost:5000/app)"),
    (
        "allowed-registries",
        {"containers": [container(image="nginx:1.27")]},
        "not allowed: docker.io/library/nginx:1.27 (allowed: registry.k8s.io/, ghcr.io/",
    ),
    (
        "allowed-registries",
        {"containers": [container(image="evil.example.com/ghcr.io/app:1")]},
        "not allowed: evil.example.com/ghcr.io/app:1",
    ),
]


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
@pytest.mark.parametrize(("policy", "pod", "message"), POD_CASES)
def test_a_pod_spec_policy_fails_a_violating_workload_of_every_kind(
    kind: str, policy: str, pod: dict[str, Any], message: str
) -> None:
    violations = check(policy, workload(kind, **pod))
    assert len(violations) == 1, violations
    assert message in violations[0].message
    assert violations[0].policy == policy


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
@pytest.mark.parametrize("policy", sorted({c[0] for c in POD_CASES}))
def test_a_pod_spec_policy_passes_a_good_workload_of_every_kind(kind: str, policy: str) -> None:
    assert check(policy, workload(kind)) == []


@pytest.mark.parametrize(
    ("policy", "pod"),
    [
        ("no-privileged-containers", {"containers": [container(securityContext={"privileged": False})]}),
        ("no-host-network", {"hostNetwork": False}),
        ("no-latest-tag", {"containers": [container(image="ghcr.io/example/app@sha256:" + "a" * 64)]}),
        ("no-latest-tag", {"containers": [container(image="localhost:5000/app:2.0")]}),
        (
            "require-resources",
            {
                "containers": [
                    container(
                        resources={
                            "requests": {"cpu": "1", "memory": "1Gi"},
                            "limits": {"cpu": "2", "memory": "1Gi"},
                        }
                    )
                ]
            },
        ),
        ("allowed-registries", {"containers": [container(image="registry.k8s.io/pause:3.9")]}),
    ],
)
def test_near_misses_pass(policy: str, pod: dict[str, Any]) -> None:
    assert check(policy, workload(**pod)) == []


def test_a_workload_without_a_pod_template_is_not_an_error() -> None:
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "namespace": "web"}}
    for policy in ("no-privileged-containers", "no-host-path", "no-host-network", "require-resources"):
        assert check(policy, broken) == [], policy


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "kube-system"}},
            "objects may not be placed into the reserved namespace kube-system",
        ),
        (
            workload(namespace="kube-public"),
            "objects may not be placed into the reserved namespace kube-public",
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "kube-system", "labels": {"owner": "x"}},
            },
            "the reserved namespace kube-system may not be managed by the fleet",
        ),
    ],
)
def test_no_kube_namespaces_fails_objects_in_reserved_namespaces(obj: dict[str, Any], message: str) -> None:
    assert [v.message for v in check("no-kube-namespaces", obj)] == [message]


@pytest.mark.parametrize("namespace", ["web", "kubernetes-dashboard", "kube"])
def test_no_kube_namespaces_passes_other_namespaces(namespace: str) -> None:
    assert check("no-kube-namespaces", workload(namespace=namespace)) == []


def rbac(kind: str, role_kind: str, role: str) -> dict[str, Any]:
    meta = {"name": "grant"} | ({"namespace": "web"} if kind == "RoleBinding" else {})
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"kind": "Group", "name": "devs"}],
    }


@pytest.mark.parametrize("kind", ["ClusterRoleBinding", "RoleBinding"])
def test_no_cluster_admin_binding_fails_a_binding_to_cluster_admin(kind: str) -> None:
    violations = check("no-cluster-admin-binding", rbac(kind, "ClusterRole", "cluster-admin"))
    assert [v.message for v in violations] == [
        f"{kind} grant binds the cluster-admin ClusterRole; bind a narrower role"
    ]
    assert violations[0].reason == "Forbidden"


@pytest.mark.parametrize(
    ("kind", "role_kind", "role"),
    [("ClusterRoleBinding", "ClusterRole", "view"), ("RoleBinding", "Role", "cluster-admin")],
)
def test_no_cluster_admin_binding_passes_other_roles(kind: str, role_kind: str, role: str) -> None:
    assert check("no-cluster-admin-binding", rbac(kind, role_kind, role)) == []


@pytest.mark.parametrize(
    ("labels", "ok"),
    [({"owner": "web-team"}, True), ({"owner": ""}, False), ({"team": "web"}, False), (None, False)],
)
def test_namespace_owner_label_requires_a_non_empty_owner(labels: dict[str, str] | None, ok: bool) -> None:
    ns: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}}
    if labels is not None:
        ns["metadata"]["labels"] = labels
    violations = check("namespace-owner-label", ns)
    assert [v.message for v in violations] == (
        [] if ok else ["namespace web needs a non-empty owner label naming the team that owns it"]
    )


def test_the_template_fleet_passes_every_deny_policy() -> None:
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted((ROOT / "fleet-repo-template").rglob("*.yaml")):
        if ".github" in path.parts or "kustomization" in path.name:
            continue
        for doc in parse_documents(path.read_bytes(), str(path)):
            data = doc.data
            fleet_object = "kubernetes-fleet.io" in str(data.get("apiVersion"))
            if not fleet_object and isinstance(data.get("metadata"), dict) and "name" in data["metadata"]:
                objects[ident(data)] = data
    assert len(objects) > 5
    blocking = [v for v in evaluate(LIBRARY, ClusterInfo("prod-eu-1"), objects) if v.blocking]
    assert blocking == []
