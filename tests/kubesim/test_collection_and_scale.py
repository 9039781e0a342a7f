"""deletecollection and writes through the scale subresource, through the official client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config
from kubernetes.client import AppsV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from kubesim.server import KubeSim

FM = "fleetsync"


def _clients(sim: KubeSim, tmp_path: Path) -> tuple[DynamicClient, CoreV1Api, AppsV1Api]:
    path = tmp_path / "kubeconfig"
    sim.write_kubeconfig(path)
    api = config.new_client_from_config(str(path))
    return DynamicClient(api), CoreV1Api(api), AppsV1Api(api)


def _cm(name: str, labels: dict[str, str], finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": labels}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": name}}


def _deployment(replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web", "tier": "front"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "front"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


def _names(sim: KubeSim) -> list[str]:
    return sorted(k[3] for k in sim.store.keys("", "configmaps", "default"))


def test_deletecollection_deletes_what_the_selector_matches_and_answers_the_list(
    sim: KubeSim, tmp_path: Path
) -> None:
    dyn, _, _ = _clients(sim, tmp_path)
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        sim.apply(_cm(name, {"team": team}))
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    out = res.delete(namespace="default", label_selector="team=x").to_dict()
    assert out["kind"] == "ConfigMapList" and [i["metadata"]["name"] for i in out["items"]] == ["a", "b"]
    assert _names(sim) == ["c", "kube-root-ca.crt"]


def test_deletecollection_leaves_objects_with_finalizers_marked(sim: KubeSim, tmp_path: Path) -> None:
    dyn, _, _ = _clients(sim, tmp_path)
    sim.apply(_cm("held", {"team": "x"}, finalizers=["example.com/keep"]))
    sim.apply(_cm("free", {"team": "x"}))
    dyn.resources.get(api_version="v1", kind="ConfigMap").delete(namespace="default", label_selector="team")
    held = sim.get_object("v1", "ConfigMap", "default", "held")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    assert sim.get_object("v1", "ConfigMap", "default", "free") is None


def test_deletecollection_with_dry_run_deletes_nothing(sim: KubeSim, tmp_path: Path) -> None:
    _, core, _ = _clients(sim, tmp_path)
    sim.apply(_cm("a", {"team": "x"}))
    core.delete_collection_namespaced_config_map("default", label_selector="team=x", dry_run="All")
    assert sim.get_object("v1", "ConfigMap", "default", "a") is not None


@pytest.mark.parametrize(
    "kind", ["Namespace", "ConfigMap"], ids=["a-kind-without-the-verb", "all-namespaces"]
)
def test_deletecollection_where_it_is_not_served_is_method_not_allowed(
    sim: KubeSim, tmp_path: Path, kind: str
) -> None:
    dyn, _, _ = _clients(sim, tmp_path)
    with pytest.raises(ApiException) as e:
        dyn.resources.get(api_version="v1", kind=kind).delete(label_selector="team")
    assert e.value.body is not None
    assert e.value.status == 405 and json.loads(e.value.body)["reason"] == "MethodNotAllowed"
    assert sim.get_object("v1", "Namespace", None, "default") is not None


def test_scale_reads_show_replicas_and_the_selector_string(sim: KubeSim, tmp_path: Path) -> None:
    _, _, apps = _clients(sim, tmp_path)
    sim.apply(_deployment(), manager=FM)
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 2 and scale.status.selector == "app=web,tier=front"


@pytest.mark.parametrize(
    ("how", "body"),
    [
        (
            "replace",
            {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"replicas": 5},
            },
        ),
        ("patch", {"spec": {"replicas": 5}}),
    ],
)
def test_a_scale_write_changes_only_replicas_and_takes_the_field_from_the_applier(
    sim: KubeSim, tmp_path: Path, how: str, body: dict[str, Any]
) -> None:
    dyn, _, apps = _clients(sim, tmp_path)
    sim.apply(_deployment(), manager=FM)
    before = sim.get_object("apps/v1", "Deployment", "default", "web")
    assert before is not None
    write = (
        apps.replace_namespaced_deployment_scale
        if how == "replace"
        else apps.patch_namespaced_deployment_scale
    )
    out = write("web", "default", body, field_manager="scaler")  # type: ignore[arg-type]  # a dict body goes as it is
    assert out.spec.replicas == 5
    after = sim.get_object("apps/v1", "Deployment", "default", "web")
    assert after is not None
    assert (
        after["spec"]["replicas"] == 5
        and after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    )
    assert after["spec"]["template"] == before["spec"]["template"]
    [entry] = [m for m in after["metadata"]["managedFields"] if m["manager"] == "scaler"]
    assert (entry["operation"], entry.get("subresource"), entry["fieldsV1"]) == (
        "Update",
        "scale",
        {"f:spec": {"f:replicas": {}}},
    )
    res = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    with pytest.raises(ApiException) as e:
        dyn.server_side_apply(res, body=_deployment(), field_manager=FM, namespace="default")
    assert e.value.body is not None
    assert e.value.status == 409 and ".spec.replicas" in e.value.body


def test_a_scale_write_with_a_stale_resource_version_conflicts_and_negative_replicas_are_invalid(
    sim: KubeSim, tmp_path: Path
) -> None:
    _, _, apps = _clients(sim, tmp_path)
    sim.apply(_deployment(), manager=FM)
    stale = {
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"},
        "spec": {"replicas": 3},
    }
    with pytest.raises(ApiException) as e:
        apps.replace_namespaced_deployment_scale("web", "default", stale)  # type: ignore[arg-type]  # a dict goes as it is
    assert e.value.status == 409
    with pytest.raises(ApiException) as e:
        apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": -1}})
    assert e.value.body is not None
    assert (
        e.value.status == 422 and json.loads(e.value.body)["details"]["causes"][0]["field"] == "spec.replicas"
    )


def test_scaling_to_the_same_value_is_a_no_op(sim: KubeSim, tmp_path: Path) -> None:
    _, _, apps = _clients(sim, tmp_path)
    sim.apply(_deployment(), manager=FM)
    before = sim.get_object("apps/v1", "Deployment", "default", "web")
    assert before is not None
    apps.patch_namespaced_deployment_scale(
        "web", "default", {"spec": {"replicas": 2}}, field_manager="scaler"
    )
    assert sim.get_object("apps/v1", "Deployment", "default", "web") == before
