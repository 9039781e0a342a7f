"""kubesim through the official ``kubernetes`` client: what the agent relies on, behaviour by behaviour."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import config, watch
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from urllib3 import HTTPResponse

from kubesim.server import KubeSim
from kubesim.testing import running_sim

FM = "fleetsync"


def deployment(
    name: str = "web", namespace: str = "default", replicas: int | None = None, image: str = "nginx:1.25"
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def configmap(
    name: str,
    namespace: str = "default",
    data: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {}}


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        threading.Event().wait(0.02)


def apply(dyn: DynamicClient, body: dict[str, Any], **kw: Any) -> Any:
    res = dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"])
    return dyn.server_side_apply(
        res,
        body=body,
        field_manager=kw.pop("field_manager", FM),
        namespace=body["metadata"].get("namespace"),
        **kw,
    )


def status_of(e: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    assert e.value.body is not None
    body: dict[str, Any] = json.loads(e.value.body)
    return body


def test_server_side_apply_creates_with_defaults_and_one_apply_entry(dyn: DynamicClient) -> None:
    out = apply(dyn, deployment()).to_dict()
    assert out["spec"]["replicas"] == 1
    assert out["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    container = out["spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert out["metadata"]["generation"] == 1 and out["metadata"]["uid"]
    [entry] = [m for m in out["metadata"]["managedFields"] if m["manager"] == FM]
    assert entry["operation"] == "Apply"
    assert entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}'] == {
        ".": {},
        "f:image": {},
        "f:name": {},
    }


def test_dry_run_apply_returns_the_would_be_object_and_stores_nothing(dyn: DynamicClient) -> None:
    apply(dyn, deployment())
    res = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    before = res.get(name="web", namespace="default").to_dict()
    dry = apply(dyn, deployment(replicas=4), dry_run="All").to_dict()
    assert dry["spec"]["replicas"] == 4 and dry["metadata"]["generation"] == 2
    after = res.get(name="web", namespace="default").to_dict()
    assert after == before
    ghost = apply(dyn, deployment("ghost"), dry_run="All").to_dict()
    assert ghost["metadata"]["uid"] and "resourceVersion" not in ghost["metadata"]
    with pytest.raises(ApiException) as e:
        res.get(name="ghost", namespace="default")
    assert e.value.status == 404


def test_reapplying_an_identical_manifest_changes_nothing(dyn: DynamicClient) -> None:
    first = apply(dyn, configmap("same", data={"a": "1"})).to_dict()
    again = apply(dyn, configmap("same", data={"a": "1"})).to_dict()
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == first["metadata"]["managedFields"]


def test_apply_conflicts_with_an_out_of_band_edit_and_names_the_manager(
    sim: KubeSim, dyn: DynamicClient
) -> None:
    apply(dyn, deployment(replicas=2))
    sim.edit("apps/v1", "Deployment", "default", "web", lambda o: o["spec"].__setitem__("replicas", 5))
    with pytest.raises(ApiException) as e:
        apply(dyn, deployment(replicas=3))
    body = status_of(e)
    assert e.value.status == 409 and body["reason"] == "Conflict"
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-edit"',
            "field": ".spec.replicas",
        }
    ]
    forced = apply(dyn, deployment(replicas=3), force_conflicts=True).to_dict()
    assert forced["spec"]["replicas"] == 3
    editor = [m for m in forced["metadata"]["managedFields"] if m["manager"] == "kubectl-edit"]
    assert all("f:replicas" not in json.dumps(m["fieldsV1"]) for m in editor)


def test_a_field_dropped_by_its_only_applier_is_removed_but_a_shared_one_stays(dyn: DynamicClient) -> None:
    apply(dyn, configmap("cfg", data={"a": "1", "b": "2"}, labels={"team": "x"}), field_manager="a")
    apply(dyn, configmap("cfg", labels={"team": "x"}), field_manager="b")
    out = apply(dyn, configmap("cfg", data={"a": "1"}), field_manager="a").to_dict()
    assert out["data"] == {"a": "1"}
    assert out["metadata"]["labels"] == {"team": "x"}
    out = apply(dyn, configmap("cfg"), field_manager="b").to_dict()
    assert "labels" not in out["metadata"]


def test_dropping_replicas_returns_it_to_the_default(dyn: DynamicClient) -> None:
    apply(dyn, deployment(replicas=3))
    assert apply(dyn, deployment()).to_dict()["spec"]["replicas"] == 1


def test_generation_counts_spec_changes_only(sim: KubeSim, dyn: DynamicClient) -> None:
    assert apply(dyn, deployment()).metadata.generation == 1
    sim.edit(
        "apps/v1",
        "Deployment",
        "default",
        "web",
        lambda o: o["metadata"].setdefault("labels", {}).__setitem__("x", "y"),
    )
    edited = sim.get_object("apps/v1", "Deployment", "default", "web")
    assert edited is not None and edited["metadata"]["generation"] == 1
    assert apply(dyn, deployment(image="nginx:1.26")).metadata.generation == 2


def test_update_with_a_stale_resource_version_is_a_conflict(dyn: DynamicClient) -> None:
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    created = res.create(body=configmap("rv", data={"a": "1"}), namespace="default").to_dict()
    current = dict(created, data={"a": "2"})
    res.replace(body=current, namespace="default")
    with pytest.raises(ApiException) as e:
        res.replace(body=dict(created, data={"a": "3"}), namespace="default")
    assert e.value.status == 409 and "the object has been modified" in status_of(e)["message"]


@pytest.mark.parametrize(
    ("content_type", "patch", "expected"),
    [
        ("application/merge-patch+json", {"data": {"b": "2"}}, {"a": "1", "b": "2"}),
        ("application/json-patch+json", [{"op": "replace", "path": "/data/a", "value": "9"}], {"a": "9"}),
        ("application/strategic-merge-patch+json", {"data": {"a": None}}, None),
    ],
)
def test_patch_types_change_the_stored_object(
    dyn: DynamicClient, content_type: str, patch: Any, expected: dict[str, str] | None
) -> None:
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    res.create(body=configmap("p", data={"a": "1"}), namespace="default")
    out = res.patch(name="p", namespace="default", body=patch, content_type=content_type).to_dict()
    assert out.get("data") == expected


def test_strategic_merge_patch_merges_containers_by_name(dyn: DynamicClient) -> None:
    apply(dyn, deployment())
    res = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox:1.36"}]}}}}
    out = res.patch(
        name="web", namespace="default", body=patch, content_type="application/strategic-merge-patch+json"
    ).to_dict()
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["app", "side"]


def test_lists_filter_by_label_and_field_selectors_across_namespaces(
    sim: KubeSim, dyn: DynamicClient
) -> None:
    apply(dyn, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    apply(dyn, configmap("one", labels={"env": "dev"}))
    apply(dyn, configmap("two", "other", labels={"env": "prod"}))
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    assert [i.metadata.name for i in res.get(label_selector="env in (dev,prod)").items] == ["one", "two"]
    assert [i.metadata.name for i in res.get(namespace="other", label_selector="env").items] == ["two"]
    assert [
        i.metadata.name
        for i in res.get(field_selector="metadata.namespace=default", label_selector="env!=prod").items
    ] == ["kube-root-ca.crt", "one"]
    with pytest.raises(ApiException) as e:
        res.get(namespace="default", field_selector="data.x=1")
    assert e.value.status == 400


def test_objects_need_an_existing_namespace(dyn: DynamicClient) -> None:
    with pytest.raises(ApiException) as e:
        apply(dyn, configmap("x", "nope"))
    assert e.value.status == 404 and status_of(e)["details"] == {"name": "nope", "kind": "namespaces"}


def test_a_deleted_namespace_terminates_refuses_new_objects_then_vanishes(kubeconfig: Path) -> None:
    with running_sim(namespace_delete_delay=0.3) as s:
        s.write_kubeconfig(kubeconfig)
        api = config.new_client_from_config(str(kubeconfig))
        dyn = DynamicClient(api)
        apply(dyn, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
        apply(dyn, configmap("cfg", "gone"))
        ns = dyn.resources.get(api_version="v1", kind="Namespace")
        assert ns.delete(name="gone").to_dict()["status"]["phase"] == "Terminating"
        with pytest.raises(ApiException) as e:
            apply(dyn, configmap("late", "gone"))
        assert (
            e.value.status == 403 and status_of(e)["details"]["causes"][0]["reason"] == "NamespaceTerminating"
        )
        wait_for(lambda: s.get_object("v1", "Namespace", None, "gone") is None)
        assert s.get_object("v1", "ConfigMap", "gone", "cfg") is None
        api.close()


def test_delete_honours_preconditions_and_answers_a_status(dyn: DynamicClient) -> None:
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    uid = res.create(body=configmap("d"), namespace="default").metadata.uid
    with pytest.raises(ApiException) as e:
        res.delete(name="d", namespace="default", body={"preconditions": {"uid": "wrong"}})
    assert e.value.status == 409
    out = res.delete(name="d", namespace="default", body={"preconditions": {"uid": uid}})
    assert out.status == "Success" and out.details.uid == uid


def test_a_finalizer_holds_a_deleted_object_until_removed(dyn: DynamicClient) -> None:
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body = configmap("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    apply(dyn, body)
    assert res.delete(name="held", namespace="default").metadata.deletionTimestamp
    assert res.get(name="held", namespace="default").metadata.deletionTimestamp
    res.patch(
        name="held",
        namespace="default",
        body={"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )
    with pytest.raises(ApiException) as e:
        res.get(name="held", namespace="default")
    assert e.value.status == 404


def test_service_gets_a_cluster_ip_that_may_not_change(dyn: DynamicClient) -> None:
    svc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    out = apply(dyn, svc).to_dict()
    assert out["spec"]["clusterIP"] == out["spec"]["clusterIPs"][0]
    assert out["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    svc["spec"]["clusterIP"] = "10.96.200.200"
    with pytest.raises(ApiException) as e:
        apply(dyn, svc)
    assert e.value.status == 422 and status_of(e)["details"]["causes"][0]["field"] == "spec.clusterIPs[0]"


def test_custom_resources_are_served_once_their_crd_is_established(kubeconfig: Path) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wdg"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer", "default": 1, "minimum": 0}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    with running_sim(crd_establish_delay=0.2) as s:
        s.write_kubeconfig(kubeconfig)
        api = config.new_client_from_config(str(kubeconfig))
        dyn = DynamicClient(api)
        created = apply(dyn, crd).to_dict()
        assert created["status"]["conditions"] is None
        wait_for(lambda: s.discovery.lookup("example.com", "v1", "widgets") is not None)
        dyn.resources.invalidate_cache()
        established = s.get_object(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "widgets.example.com"
        )
        assert established is not None
        assert {c["type"]: c["status"] for c in established["status"]["conditions"]} == {
            "NamesAccepted": "True",
            "Established": "True",
        }
        widget = apply(
            dyn,
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w", "namespace": "default"},
                "spec": {},
            },
        ).to_dict()
        assert widget["spec"] == {"size": 1}
        with pytest.raises(ApiException) as e:
            apply(
                dyn,
                {
                    "apiVersion": "example.com/v1",
                    "kind": "Widget",
                    "metadata": {"name": "w", "namespace": "default"},
                    "spec": {"size": -1},
                },
            )
        assert e.value.status == 422
        api.close()


@pytest.mark.parametrize(
    ("mode", "available_at_once"),
    [("instant", True), ("never", False), ("delay:0.2", False)],
)
def test_workload_controllers_move_status_as_configured(
    tmp_path: Path, mode: str, available_at_once: bool
) -> None:
    with running_sim(controllers=mode) as s:
        s.apply(deployment(replicas=2))

        def available() -> bool:
            st = (s.get_object("apps/v1", "Deployment", "default", "web") or {}).get("status", {})
            return any(c["type"] == "Available" and c["status"] == "True" for c in st.get("conditions", []))

        assert available() is available_at_once
        if mode.startswith("delay"):
            wait_for(available)
        st = s.get_object("apps/v1", "Deployment", "default", "web")["status"]  # type: ignore[index]
        assert st["observedGeneration"] == 1 and st["replicas"] == 2


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ({"status": 429, "retry_after": 2}, 429, "TooManyRequests"),
        ({"status": 500}, 500, "InternalError"),
        ({"status": 503}, 503, "ServiceUnavailable"),
        ({"status": 403, "message": "forbidden by test"}, 403, "Forbidden"),
        ({"status": 422, "message": "spec.selector: field is immutable"}, 422, "Invalid"),
    ],
)
def test_faults_answer_as_configured_then_clear(
    sim: KubeSim, dyn: DynamicClient, fault: dict[str, Any], status: int, reason: str
) -> None:
    sim.faults.add(verb="patch", kind="ConfigMap", name="f", **fault)
    with pytest.raises(ApiException) as e:
        apply(dyn, configmap("f"))
    assert e.value.status == status and status_of(e)["reason"] == reason
    if status == 429:
        assert e.value.headers is not None and e.value.headers["Retry-After"] == "2"
    apply(dyn, configmap("f"))  # times=1: the next request goes through


def test_webhook_denial_and_quota_faults_read_like_the_real_messages(
    sim: KubeSim, dyn: DynamicClient
) -> None:
    sim.faults.webhook_denial(kind="ConfigMap", webhook="policy.example.com", message="no")
    with pytest.raises(ApiException) as e:
        apply(dyn, configmap("w"))
    assert status_of(e)["message"] == 'admission webhook "policy.example.com" denied the request: no'
    sim.faults.quota_exceeded(verb="create", kind="ConfigMap")
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(ApiException) as e2:
        res.create(body=configmap("q"), namespace="default")
    assert e2.value.status == 403 and "exceeded quota" in status_of(e2)["message"]


def test_requests_without_the_token_are_unauthorized(sim: KubeSim, tmp_path: Path) -> None:
    path = tmp_path / "bad"
    sim.write_kubeconfig(path)
    path.write_text(path.read_text().replace(sim.token, "wrong"))
    api = config.new_client_from_config(str(path))
    with pytest.raises(ApiException) as e:
        CoreV1Api(api).list_namespace()
    assert e.value.status == 401
    api.close()


def test_simulators_run_side_by_side_without_sharing_objects() -> None:
    with running_sim() as a, running_sim() as b:
        a.apply(configmap("only-a"))
        assert a.url != b.url and a.token != b.token
        assert b.get_object("v1", "ConfigMap", "default", "only-a") is None
        assert a.request_log == [] and b.request_log == []


def test_nodes_report_capacity_and_allocatable_and_bound_pods_request_cpu(
    sim: KubeSim, kubeconfig: Path
) -> None:
    sim.add_node("n1", cpu="8", memory="32Gi", labels={"zone": "a"}, pods_cpu_requested="1500m")
    api = config.new_client_from_config(str(kubeconfig))
    core = CoreV1Api(api)
    [node] = core.list_node().items
    assert (
        node.status.allocatable is not None
        and node.status.capacity is not None
        and node.metadata.labels is not None
    )
    assert node.status.allocatable["cpu"] == "8" and node.status.capacity["memory"] == "32Gi"
    assert node.metadata.labels["zone"] == "a"
    assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
    [pod] = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1").items
    assert pod.status.phase == "Running" and pod.spec.containers[0].resources.requests == {"cpu": "1500m"}
    assert ("GET", "/api/v1/nodes") in sim.request_log
    api.close()


def test_watch_streams_changes_after_a_list(sim: KubeSim, kubeconfig: Path) -> None:
    api = config.new_client_from_config(str(kubeconfig))
    core = CoreV1Api(api)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    sim.apply(configmap("watched", data={"a": "1"}))
    sim.apply(configmap("watched", data={"a": "2"}))
    events = [
        (e["type"], e["object"].data)
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
        )
    ]
    assert events == [("ADDED", {"a": "1"}), ("MODIFIED", {"a": "2"})]
    api.close()


def test_unknown_fields_are_refused_by_strict_create_and_by_apply(dyn: DynamicClient) -> None:
    bad = deployment("typo")
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    res = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    with pytest.raises(ApiException) as strict:
        res.create(body=bad, namespace="default", query_params=[("fieldValidation", "Strict")])
    assert (
        strict.value.status == 400
        and 'unknown field "spec.template.spec.containers[0].imagePullPolicyy"'
        in (status_of(strict)["message"])
    )
    with pytest.raises(ApiException) as applied:
        apply(dyn, bad)
    assert applied.value.status == 500 and status_of(applied)["message"].endswith(
        '.spec.template.spec.containers[name="app"].imagePullPolicyy: field not declared in schema'
    )
    warned = res.create(body=bad, namespace="default").to_dict()
    assert "imagePullPolicyy" not in warned["spec"]["template"]["spec"]["containers"][0]


def test_a_list_at_an_exact_past_resource_version_shows_that_state(sim: KubeSim, kubeconfig: Path) -> None:
    api = config.new_client_from_config(str(kubeconfig))
    core = CoreV1Api(api)
    sim.apply(configmap("a"))
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    sim.apply(configmap("b"))
    past = core.list_namespaced_config_map("default", resource_version=rv, resource_version_match="Exact")
    assert [i.metadata.name for i in past.items] == ["a", "kube-root-ca.crt"]
    assert past.metadata.resource_version == rv
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map("default", resource_version_match="NotOlderThan")
    assert e.value.status == 422
    api.close()


def test_edit_through_the_status_subresource_changes_only_status(sim: KubeSim) -> None:
    sim.apply(deployment())
    out = sim.edit(
        "apps/v1",
        "Deployment",
        "default",
        "web",
        lambda o: o.update(status={"replicas": 9}, spec={**o["spec"], "replicas": 4}),
        manager="tester",
        subresource="status",
    )
    assert out["status"] == {"replicas": 9} and out["spec"]["replicas"] == 1
    assert ("tester", "status") in {
        (m["manager"], m.get("subresource")) for m in out["metadata"]["managedFields"]
    }


def test_a_rolling_update_keeps_old_pods_available_until_the_new_ones_are() -> None:
    with running_sim(controllers="delay:0.3") as s:
        s.apply(deployment(replicas=2))
        s.controllers.run_pending()
        assert s.get_object("apps/v1", "Deployment", "default", "web")["status"]["availableReplicas"] == 2  # type: ignore[index]
        s.apply(deployment(replicas=2, image="nginx:1.26"))
        st = s.get_object("apps/v1", "Deployment", "default", "web")["status"]  # type: ignore[index]
        assert (st["observedGeneration"], st["updatedReplicas"], st["availableReplicas"]) == (2, 0, 2)
        wait_for(
            lambda: (
                s.get_object("apps/v1", "Deployment", "default", "web")["status"]["updatedReplicas"]  # type: ignore[index]
                == 2
            )
        )


def test_a_slow_fault_delays_and_a_standing_fault_repeats_until_cleared(
    sim: KubeSim, dyn: DynamicClient
) -> None:
    sim.faults.add(verb="get", kind="ConfigMap", name="slow", status=0, delay=0.3)
    apply(dyn, configmap("slow"))
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    started = time.monotonic()
    assert res.get(name="slow", namespace="default").metadata.name == "slow"
    assert time.monotonic() - started >= 0.3
    sim.faults.add(verb="list", kind="ConfigMap", status=503, times=0)
    for _ in range(2):
        with pytest.raises(ApiException) as e:
            res.get(namespace="default")
        assert e.value.status == 503
    sim.faults.clear()
    assert res.get(namespace="default").items


def test_a_watch_from_a_too_old_resource_version_gets_one_expired_frame(
    sim: KubeSim, kubeconfig: Path
) -> None:
    for i in range(3):
        sim.apply(configmap(f"c{i}"))
    sim.store.compact(keep_last=1)
    api = config.new_client_from_config(str(kubeconfig))
    raw = CoreV1Api(api).list_namespaced_config_map(
        "default", watch=True, resource_version="1", timeout_seconds=1, _preload_content=False
    )
    frames = [json.loads(line) for line in cast(HTTPResponse, raw).read().splitlines() if line.strip()]
    assert [(f["type"], f["object"]["code"], f["object"]["reason"]) for f in frames] == [
        ("ERROR", 410, "Expired")
    ]
    api.close()


@pytest.mark.parametrize(("mode", "gets_ip"), [("instant", True), ("never", False)])
def test_a_load_balancer_gets_an_ingress_ip_unless_controllers_never_run(mode: str, gets_ip: bool) -> None:
    with running_sim(controllers=mode) as s:
        s.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "lb", "namespace": "default"},
                "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]},
            }
        )
        ingress = s.get_object("v1", "Service", "default", "lb")["status"]["loadBalancer"].get("ingress")  # type: ignore[index]
        assert bool(ingress) is gets_ip
