"""Resource selection as KubeFleet's resolver does it: scopes, reserved namespaces, skips, order, snapshots."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.meta import LabelSelector, ObjectMeta, Origin
from reconciler.api.placement import Placement, ResourceSelector, SelectionScope
from reconciler.api.resource import Resource
from reconciler.hub.propagation import sanitize
from reconciler.hub.select import select_resources
from reconciler.status.memory import PlacementMemory, SnapshotRecord, next_snapshots

ORIGIN = Origin("fleet.yaml", 1)
NS_WITH = SelectionScope.NAMESPACE_WITH_RESOURCES
NS_ONLY = SelectionScope.NAMESPACE_ONLY
NS_SEL = SelectionScope.NAMESPACE_WITH_RESOURCE_SELECTORS


def res(api_version: str, kind: str, name: str, namespace: str = "", **extra: Any) -> Resource:
    group, _, version = api_version.rpartition("/")
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    meta.update(extra.pop("metadata", {}))
    body = {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}
    return Resource(group, version, kind, namespace, name, body, ORIGIN)


def repo(*items: Resource) -> dict[str, Resource]:
    return {r.identity: r for r in items}


def crp(*selectors: ResourceSelector) -> Placement:
    return Placement(
        "ClusterResourcePlacement",
        "placement.kubernetes-fleet.io/v1beta1",
        ObjectMeta("web"),
        ORIGIN,
        tuple(selectors),
    )


def rp(namespace: str, *selectors: ResourceSelector) -> Placement:
    return Placement(
        "ResourcePlacement",
        "placement.kubernetes-fleet.io/v1beta1",
        ObjectMeta("app", namespace),
        ORIGIN,
        tuple(selectors),
    )


def ns_sel(
    name: str | None = None, scope: SelectionScope = NS_WITH, labels: dict[str, str] | None = None
) -> ResourceSelector:
    ls = LabelSelector(labels) if labels is not None else None
    return ResourceSelector("", "v1", "Namespace", name, ls, scope)


FLEET = repo(
    res("v1", "Namespace", "web", metadata={"labels": {"team": "web"}}),
    res("v1", "Namespace", "api", metadata={"labels": {"team": "api"}}),
    res("v1", "ConfigMap", "settings", "web"),
    res("apps/v1", "Deployment", "frontend", "web"),
    res("v1", "ConfigMap", "other", "api"),
    res("rbac.authorization.k8s.io/v1", "ClusterRole", "reader", metadata={"labels": {"team": "web"}}),
    res("rbac.authorization.k8s.io/v1", "ClusterRole", "writer"),
)


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        (crp(ns_sel("web")), ["/Namespace//web", "/ConfigMap/web/settings", "apps/Deployment/web/frontend"]),
        (crp(ns_sel("web", NS_ONLY)), ["/Namespace//web"]),
        (crp(ns_sel(labels={"team": "api"})), ["/Namespace//api", "/ConfigMap/api/other"]),
        (
            crp(ns_sel()),
            [
                "/Namespace//api",
                "/Namespace//web",
                "/ConfigMap/api/other",
                "/ConfigMap/web/settings",
                "apps/Deployment/web/frontend",
            ],
        ),
        (
            crp(ResourceSelector("rbac.authorization.k8s.io", "v1", "ClusterRole", "writer")),
            ["rbac.authorization.k8s.io/ClusterRole//writer"],
        ),
        (
            crp(
                ResourceSelector(
                    "rbac.authorization.k8s.io", "v1", "ClusterRole", None, LabelSelector({"team": "web"})
                )
            ),
            ["rbac.authorization.k8s.io/ClusterRole//reader"],
        ),
        (
            crp(ResourceSelector("rbac.authorization.k8s.io", "v1", "ClusterRole")),
            [
                "rbac.authorization.k8s.io/ClusterRole//reader",
                "rbac.authorization.k8s.io/ClusterRole//writer",
            ],
        ),
        (
            crp(
                ns_sel("web", NS_SEL),
                ResourceSelector("", "v1", "ConfigMap", "settings"),
                ResourceSelector("rbac.authorization.k8s.io", "v1", "ClusterRole", "writer"),
            ),
            ["/Namespace//web", "/ConfigMap/web/settings", "rbac.authorization.k8s.io/ClusterRole//writer"],
        ),
        (rp("web", ResourceSelector("", "v1", "ConfigMap")), ["/ConfigMap/web/settings"]),
        (
            rp("web", ResourceSelector("apps", "v1", "Deployment", "frontend")),
            ["apps/Deployment/web/frontend"],
        ),
        (crp(ns_sel("missing")), []),
    ],
    ids=[
        "ns-with-resources",
        "ns-only",
        "ns-by-label",
        "all-namespaces",
        "cluster-kind-by-name",
        "cluster-kind-by-label",
        "cluster-kind-all",
        "ns-with-resource-selectors",
        "rp-kind-all",
        "rp-by-name",
        "missing-namespace-selects-nothing",
    ],
)
def test_selectors_pick_what_kubefleet_picks(placement: Placement, expected: list[str]) -> None:
    selection = select_resources(placement, FLEET)
    assert list(selection.identities) == expected
    assert selection.errors == ()


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        (crp(ResourceSelector("", "v1", "ConfigMap", "settings")), "not a cluster scoped resource"),
        (rp("web", ns_sel("web")), "cluster-scoped; a ResourcePlacement selects namespaced"),
        (rp("web", ResourceSelector("rbac.authorization.k8s.io", "v1", "ClusterRole")), "cluster-scoped"),
        (crp(ns_sel("web", NS_SEL), ns_sel("api")), "exactly one Namespace selector"),
        (crp(ns_sel("kube-system")), "reserved"),
        (crp(ns_sel("gone", NS_SEL)), "does not exist"),
    ],
    ids=[
        "crp-namespaced-kind",
        "rp-namespace",
        "rp-cluster-kind",
        "two-ns-with-selectors",
        "reserved-by-name",
        "scoped-namespace-missing",
    ],
)
def test_invalid_selectors_are_reported_not_guessed(placement: Placement, message: str) -> None:
    selection = select_resources(placement, FLEET)
    assert any(message in e for e in selection.errors), selection.errors


@pytest.mark.parametrize(
    ("namespace", "selected"),
    [
        ("kube-system", False),
        ("kube-public", False),
        ("fleet-system", False),
        ("fleet-member-a", False),
        ("default", True),
        ("kubeflow", True),
    ],
)
def test_reserved_namespaces_are_kube_and_fleet_prefixes_not_default(namespace: str, selected: bool) -> None:
    fleet = repo(res("v1", "Namespace", namespace), res("v1", "ConfigMap", "c", namespace))
    got = select_resources(crp(ns_sel()), fleet).identities
    assert (f"/ConfigMap/{namespace}/c" in got) is selected
    assert (f"/Namespace//{namespace}" in got) is selected


@pytest.mark.parametrize(
    "skipped",
    [
        res("v1", "ConfigMap", "kube-root-ca.crt", "web"),
        res("v1", "ServiceAccount", "default", "web"),
        res("v1", "Secret", "sa-token", "web", type="kubernetes.io/service-account-token"),
        res("v1", "Endpoints", "svc", "web"),
        res(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            "svc-abc",
            "web",
            metadata={"labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller"}},
        ),
        res("apps/v1", "ReplicaSet", "rs", "web", metadata={"ownerReferences": [{"kind": "Deployment"}]}),
        res(
            "apps/v1",
            "ControllerRevision",
            "cr",
            "web",
            metadata={"ownerReferences": [{"kind": "StatefulSet"}]},
        ),
        res("v1", "ConfigMap", "going", "web", metadata={"deletionTimestamp": "2026-11-25T00:00:00Z"}),
    ],
    ids=[
        "kube-root-ca",
        "default-sa",
        "sa-token-secret",
        "endpoints-of-service",
        "managed-endpointslice",
        "owned-replicaset",
        "owned-controllerrevision",
        "being-deleted",
    ],
)
def test_objects_a_hub_creates_by_itself_are_never_selected(skipped: Resource) -> None:
    fleet = repo(res("v1", "Namespace", "web"), res("v1", "Service", "svc", "web"), skipped)
    assert skipped.identity not in select_resources(crp(ns_sel("web")), fleet).identities


@pytest.mark.parametrize(
    "kept",
    [
        res("v1", "ServiceAccount", "builder", "web"),
        res("v1", "Secret", "creds", "web", type="Opaque"),
        res("v1", "Endpoints", "external", "web"),
        res("discovery.k8s.io/v1", "EndpointSlice", "manual", "web"),
        res("apps/v1", "ReplicaSet", "bare", "web"),
        res("v1", "PersistentVolumeClaim", "data", "web"),
    ],
    ids=[
        "other-sa",
        "opaque-secret",
        "endpoints-without-service",
        "user-endpointslice",
        "unowned-replicaset",
        "pvc",
    ],
)
def test_user_objects_that_resemble_generated_ones_are_selected(kept: Resource) -> None:
    fleet = repo(res("v1", "Namespace", "web"), res("v1", "Service", "svc", "web"), kept)
    assert kept.identity in select_resources(crp(ns_sel("web")), fleet).identities


def test_fleet_crds_are_never_selected() -> None:
    fleet = repo(
        res(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "works.placement.kubernetes-fleet.io",
            spec={"group": "placement.kubernetes-fleet.io", "names": {"kind": "Work"}, "scope": "Namespaced"},
        ),
        res(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "widgets.example.com",
            spec={"group": "example.com", "names": {"kind": "Widget"}, "scope": "Namespaced"},
        ),
    )
    got = select_resources(
        crp(ResourceSelector("apiextensions.k8s.io", "v1", "CustomResourceDefinition")), fleet
    )
    assert got.identities == ("apiextensions.k8s.io/CustomResourceDefinition//widgets.example.com",)


def test_a_crd_in_the_repo_decides_whether_its_kind_is_namespaced() -> None:
    fleet = repo(
        res(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "widgets.example.com",
            spec={"group": "example.com", "names": {"kind": "Widget"}, "scope": "Namespaced"},
        ),
    )
    got = select_resources(crp(ResourceSelector("example.com", "v1", "Widget")), fleet)
    assert any("not a cluster scoped resource" in e for e in got.errors)


def test_selection_is_sorted_by_kubefleet_kind_rank_then_group_version_then_name() -> None:
    fleet = repo(
        res("v1", "Namespace", "web"),
        res("apps/v1", "Deployment", "b", "web"),
        res("apps/v1", "Deployment", "a", "web"),
        res("v1", "Service", "s", "web"),
        res("v1", "ConfigMap", "c", "web"),
        res("v1", "Secret", "s", "web"),
        res("example.com/v1", "Widget", "w", "web"),
        res("aaa.io/v1", "Zeta", "z", "web"),
        res("v1", "ServiceAccount", "sa", "web"),
    )
    got = select_resources(crp(ns_sel("web")), fleet).identities
    assert got == (
        "/Namespace//web",
        "/ServiceAccount/web/sa",
        "/Secret/web/s",
        "/ConfigMap/web/c",
        "/Service/web/s",
        "apps/Deployment/web/a",
        "apps/Deployment/web/b",
        "aaa.io/Zeta/web/z",
        "example.com/Widget/web/w",
    )


def test_service_cluster_ip_and_node_ports_are_dropped_unless_headless() -> None:
    svc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {
            "clusterIP": "10.0.0.1",
            "clusterIPs": ["10.0.0.1"],
            "healthCheckNodePort": 31000,
            "ports": [{"port": 80, "nodePort": 30080}],
        },
    }
    assert sanitize("", "Service", svc)["spec"] == {"ports": [{"port": 80}]}
    headless = {**svc, "spec": {"clusterIP": "None", "clusterIPs": ["None"]}}
    assert sanitize("", "Service", headless)["spec"] == {"clusterIP": "None", "clusterIPs": ["None"]}
    assert svc["spec"]["clusterIP"] == "10.0.0.1", "the hub's object is not modified"


@pytest.mark.parametrize(("manual", "kept"), [(None, False), (False, False), (True, True)])
def test_job_controller_uid_labels_are_dropped_unless_manual_selector(
    manual: bool | None, kept: bool
) -> None:
    uid = {"controller-uid": "x", "batch.kubernetes.io/controller-uid": "x", "app": "j"}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(uid)},
        "template": {"metadata": {"labels": dict(uid), "creationTimestamp": None}},
    }
    if manual is not None:
        spec["manualSelector"] = manual
    out = sanitize(
        "batch", "Job", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": spec}
    )
    expected = uid if kept else {"app": "j"}
    assert out["spec"]["selector"]["matchLabels"] == expected
    assert out["spec"]["template"]["metadata"]["labels"] == expected
    assert ("creationTimestamp" in out["spec"]["template"]["metadata"]) is kept


def test_server_fields_status_and_kubectl_annotations_are_dropped_labels_and_finalizers_kept() -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "status": {"x": 1},
        "metadata": {
            "name": "c",
            "uid": "u",
            "resourceVersion": "1",
            "generation": 2,
            "selfLink": "/x",
            "creationTimestamp": "t",
            "managedFields": [{}],
            "ownerReferences": [{}],
            "finalizers": ["f"],
            "labels": {"a": "b"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "deployment.kubernetes.io/revision": "3",
            },
        },
    }
    assert sanitize("", "ConfigMap", body) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "finalizers": ["f"], "labels": {"a": "b"}},
    }


def test_the_hash_moves_with_content_and_ignores_server_fields() -> None:
    base = select_resources(crp(ns_sel("web")), FLEET).hash
    same = dict(FLEET)
    cm = res("v1", "ConfigMap", "settings", "web", metadata={"resourceVersion": "99"})
    same[cm.identity] = cm
    assert select_resources(crp(ns_sel("web")), same).hash == base
    changed = dict(FLEET)
    cm = res("v1", "ConfigMap", "settings", "web", data={"k": "v"})
    changed[cm.identity] = cm
    assert select_resources(crp(ns_sel("web")), changed).hash != base


@pytest.mark.parametrize(
    ("history", "hash", "limit", "index", "kept"),
    [
        ([], "a", 10, 0, [0]),
        ([{"index": 0, "hash": "a"}], "a", 10, 0, [0]),
        ([{"index": 0, "hash": "a"}], "b", 10, 1, [0, 1]),
        ([{"index": 0, "hash": "a"}, {"index": 1, "hash": "b"}], "a", 10, 2, [0, 1, 2]),
        ([{"index": i, "hash": str(i)} for i in range(3)], "new", 3, 3, [1, 2, 3]),
        ([{"index": 7, "hash": "x"}], "y", 1, 8, [8]),
    ],
    ids=[
        "first",
        "same-hash-same-index",
        "new-hash-next-index",
        "back-to-old-content-is-a-new-index",
        "history-trimmed-to-limit",
        "limit-one-keeps-latest",
    ],
)
def test_snapshot_index_is_monotonic_and_history_honours_revision_history_limit(
    history: list[dict[str, Any]], hash: str, limit: int, index: int, kept: list[int]
) -> None:
    previous = (
        PlacementMemory(
            "ClusterResourcePlacement/web",
            snapshots=tuple(SnapshotRecord(h["index"], h["hash"], "c0") for h in history),
        )
        if history
        else None
    )
    got = next_snapshots(previous, hash, limit, "c1")
    assert [s.index for s in got] == kept
    assert (got[-1].index, got[-1].hash) == (index, hash)
    new = not history or history[-1]["hash"] != hash
    assert got[-1].commit == ("c1" if new else "c0"), "a snapshot remembers the commit that created it"


def test_envelopes_are_selected_like_any_object() -> None:
    env = res(
        "placement.kubernetes-fleet.io/v1beta1",
        "ResourceEnvelope",
        "hooks",
        "web",
        data={"q.yaml": {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}}},
    )
    fleet = {**FLEET, env.identity: env}
    assert env.identity in select_resources(crp(ns_sel("web")), fleet).identities
    assert select_resources(
        rp("web", ResourceSelector("placement.kubernetes-fleet.io", "v1beta1", "ResourceEnvelope")), fleet
    ).identities == (env.identity,)
