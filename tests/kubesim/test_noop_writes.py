"""Writes that change nothing are no-ops, as on kube-apiserver (recordings 03-ssa-dryrun, 05-ssa-field-removal).

The agent reads "did the server write?" from the resourceVersion an apply answers, so an apply,
update or patch that leaves spec, metadata and managedFields as they were must keep the
resourceVersion, the generation and every managedFields ``time`` — also after a controller wrote
status in between, which gives the object a status manager entry the applier does not own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config
from kubernetes.dynamic import DynamicClient

from kubesim.server import KubeSim
from kubesim.testing import running_sim

FM = "fleetsync"


def _ticking_clock() -> Callable[[], str]:
    """A clock one second further on every call, so every write could carry a different time."""
    ticks = itertools.count()

    def now() -> str:
        n = next(ticks)
        return f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"

    return now


@pytest.fixture
def slow_sim() -> Iterator[KubeSim]:
    # Controllers write status only when a test runs them, like a kube-controller-manager a
    # moment after the request; the clock moves on between every write.
    with running_sim(controllers="delay:3600", status_delay=3600, clock=_ticking_clock()) as s:
        yield s


@pytest.fixture
def client(slow_sim: KubeSim, tmp_path: Path) -> Iterator[DynamicClient]:
    path = tmp_path / "kubeconfig"
    slow_sim.write_kubeconfig(path)
    api = config.new_client_from_config(str(path))
    try:
        yield DynamicClient(api)
    finally:
        api.close()


def web(**extra_meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", **extra_meta},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 8080}],
                            "resources": {"requests": {"cpu": "100m"}},
                            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
                        }
                    ]
                },
            },
        },
    }


def _apply(dyn: DynamicClient, body: dict[str, Any], manager: str = FM) -> dict[str, Any]:
    res = dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"])
    out: dict[str, Any] = dyn.server_side_apply(
        res,
        body=body,
        field_manager=manager,
        force_conflicts=True,
        namespace=body["metadata"].get("namespace"),
    ).to_dict()
    return out


def _live(sim: KubeSim) -> dict[str, Any]:
    obj = sim.get_object("apps/v1", "Deployment", "default", "web")
    assert obj is not None
    return obj


def _settle(sim: KubeSim) -> dict[str, Any]:
    sim.controllers.run_pending()
    live = _live(sim)
    assert any(m["manager"] == "kube-controller-manager" for m in live["metadata"]["managedFields"])
    return live


@pytest.mark.parametrize(
    "meta",
    [
        pytest.param({}, id="no-labels-or-annotations"),
        pytest.param(
            {"labels": {"app": "web"}, "annotations": {"fleetsync.io/spec-hash": "abc"}}, id="annotated"
        ),
    ],
)
def test_reapplying_after_the_controller_wrote_status_keeps_resource_version_and_times(
    slow_sim: KubeSim, client: DynamicClient, meta: dict[str, Any]
) -> None:
    _apply(client, web(**meta))
    settled = _settle(slow_sim)
    again = _apply(client, web(**meta))
    assert again["metadata"]["resourceVersion"] == settled["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == settled["metadata"]["generation"] == 1
    assert again["metadata"]["managedFields"] == settled["metadata"]["managedFields"]
    assert _live(slow_sim) == settled


def test_reapplying_after_a_spec_change_and_its_status_is_a_no_op(
    slow_sim: KubeSim, client: DynamicClient
) -> None:
    _apply(client, web())
    _settle(slow_sim)
    changed = web()
    changed["spec"]["replicas"] = 3
    assert _apply(client, changed)["metadata"]["generation"] == 2
    settled = _settle(slow_sim)
    again = _apply(client, changed)
    assert (again["metadata"]["resourceVersion"], again["metadata"]["generation"]) == (
        settled["metadata"]["resourceVersion"],
        2,
    )
    assert again["metadata"]["managedFields"] == settled["metadata"]["managedFields"]


def test_an_update_with_the_body_just_read_is_a_no_op(slow_sim: KubeSim, client: DynamicClient) -> None:
    _apply(client, web())
    settled = _settle(slow_sim)
    res = client.resources.get(api_version="apps/v1", kind="Deployment")
    for manager in (FM, "someone-else"):
        out = res.replace(body=settled, namespace="default", field_manager=manager).to_dict()
        assert out["metadata"]["resourceVersion"] == settled["metadata"]["resourceVersion"]
        assert out["metadata"]["managedFields"] == settled["metadata"]["managedFields"]
    assert _live(slow_sim) == settled


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        ("application/merge-patch+json", {}),
        ("application/merge-patch+json", {"spec": {"replicas": 2}}),
        (
            "application/strategic-merge-patch+json",
            {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
        ),
        ("application/json-patch+json", [{"op": "replace", "path": "/spec/replicas", "value": 2}]),
    ],
)
def test_a_patch_that_changes_nothing_is_a_no_op(
    slow_sim: KubeSim, client: DynamicClient, content_type: str, patch: Any
) -> None:
    _apply(client, web())
    settled = _settle(slow_sim)
    res = client.resources.get(api_version="apps/v1", kind="Deployment")
    out = res.patch(
        name="web", namespace="default", body=patch, content_type=content_type, field_manager="patcher"
    ).to_dict()
    assert out["metadata"]["resourceVersion"] == settled["metadata"]["resourceVersion"]
    assert out["metadata"]["managedFields"] == settled["metadata"]["managedFields"]
    assert _live(slow_sim) == settled
