"""The workload controllers record Events, as kube-controller-manager does (recording 09)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config
from kubernetes.client import CoreV1Api

from kubesim.testing import running_sim
from tests.support import DATA

GOLDEN = DATA / "kube-golden" / "09-workload-status-progression.json"
TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "x"}},
    "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
}


def _workloads() -> list[dict[str, Any]]:
    spec = {"replicas": 2, "selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": spec,
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": spec,
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "migrate", "namespace": "default"},
            "spec": {
                "template": {"spec": {"restartPolicy": "Never", "containers": TEMPLATE["spec"]["containers"]}}
            },
        },
    ]


def _events(core: CoreV1Api) -> list[tuple[str, str, str]]:
    items = core.list_namespaced_event("default").items
    return sorted(
        (e.involved_object.kind or "", e.reason or "", (e.message or "").split(" ")[0]) for e in items
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # Without kubelets: one pod of an OrderedReady StatefulSet, the Job's pod, the Deployment's scale-up.
        (
            "never",
            [
                ("Deployment", "ScalingReplicaSet", "Scaled"),
                ("Job", "SuccessfulCreate", "Created"),
                ("StatefulSet", "SuccessfulCreate", "Create"),
            ],
        ),
        (
            "instant",
            [
                ("Deployment", "ScalingReplicaSet", "Scaled"),
                ("Job", "Completed", "Job"),
                ("Job", "SuccessfulCreate", "Created"),
                ("StatefulSet", "SuccessfulCreate", "Create"),
                ("StatefulSet", "SuccessfulCreate", "Create"),
            ],
        ),
    ],
)
def test_workload_controllers_record_events_for_what_they_did(
    tmp_path: Path, mode: str, expected: list[tuple[str, str, str]]
) -> None:
    with running_sim(controllers=mode) as sim:
        path = tmp_path / "kubeconfig"
        sim.write_kubeconfig(path)
        core = CoreV1Api(config.new_client_from_config(str(path)))
        for w in _workloads():
            sim.apply(w, manager="fleetsync")
        assert _events(core) == expected


def test_an_event_is_shaped_as_recorded() -> None:
    rec = json.loads(GOLDEN.read_text())
    recorded = next(
        e
        for r in rec["responses"]
        if isinstance(r["body"], dict)
        for e in r["body"].get("items", [])
        if e.get("reason") == "ScalingReplicaSet"
    )
    with running_sim(controllers="never") as sim:
        sim.apply(_workloads()[0], manager="fleetsync")
        [(_, ours)] = sim.store.items("", "events", "default")
    assert sorted(ours) == sorted([*recorded, "apiVersion", "kind"])  # list items carry neither
    assert sorted(ours["metadata"]) == sorted(recorded["metadata"])
    assert sorted(ours["involvedObject"]) == sorted(recorded["involvedObject"])
    for k in ("reason", "type", "count", "source", "reportingComponent", "reportingInstance", "eventTime"):
        assert ours[k] == recorded[k], k
    assert ours["message"].startswith("Scaled up replica set web-") and ours["message"].endswith(
        " from 0 to 2"
    )
    assert [{k: v for k, v in m.items() if k != "time"} for m in ours["metadata"]["managedFields"]] == [
        {k: v for k, v in m.items() if k != "time"} for m in recorded["metadata"]["managedFields"]
    ]


def test_events_of_one_object_are_found_by_field_selector_as_kubectl_describe_asks(tmp_path: Path) -> None:
    with running_sim(controllers="instant") as sim:
        path = tmp_path / "kubeconfig"
        sim.write_kubeconfig(path)
        core = CoreV1Api(config.new_client_from_config(str(path)))
        for w in _workloads():
            sim.apply(w, manager="fleetsync")
        web = sim.get_object("apps/v1", "Deployment", "default", "web")
        assert web is not None
        selector = (
            f"involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=Deployment,"
            f"involvedObject.uid={web['metadata']['uid']}"
        )
        [event] = core.list_namespaced_event("default", field_selector=selector).items
        assert event.reason == "ScalingReplicaSet"
        by_source = core.list_event_for_all_namespaces(field_selector="source=job-controller").items
        assert sorted(e.reason or "" for e in by_source) == ["Completed", "SuccessfulCreate"]
