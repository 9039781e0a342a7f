"""Every active namespace holds ConfigMap ``kube-root-ca.crt`` and ServiceAccount ``default``, as on a real cluster.

Prune and selection code lists a namespace's ConfigMaps and ServiceAccounts and must live with
these two objects it did not create; kube-controller-manager keeps them in place (re-created when
deleted, the CA restored when edited), and they go with a terminating namespace.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from kubernetes import config
from kubernetes.client import CoreV1Api

from kubesim.server import KubeSim
from kubesim.testing import running_sim
from tests.support import DATA

GOLDEN = DATA / "kube-golden" / "14-watch.json"


def _core(sim: KubeSim, tmp_path: Path) -> CoreV1Api:
    path = tmp_path / "kubeconfig"
    sim.write_kubeconfig(path)
    return CoreV1Api(config.new_client_from_config(str(path)))


def _names(items: Any) -> list[str]:
    return [i.metadata.name for i in items]


def _recorded_root_ca() -> dict[str, Any]:
    rec = json.loads(GOLDEN.read_text())
    for frames in rec["responses"]:
        for frame in frames["body"] if isinstance(frames["body"], list) else []:
            if frame.get("object", {}).get("metadata", {}).get("name") == "kube-root-ca.crt":
                obj: dict[str, Any] = frame["object"]
                return obj
    raise AssertionError("the recording has no kube-root-ca.crt")


def test_a_new_namespace_gets_the_root_ca_configmap_and_the_default_service_account(
    sim: KubeSim, tmp_path: Path
) -> None:
    core = _core(sim, tmp_path)
    sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert _names(core.list_namespaced_config_map("team").items) == ["kube-root-ca.crt"]
    assert _names(core.list_namespaced_service_account("team").items) == ["default"]
    sa = sim.get_object("v1", "ServiceAccount", "team", "default")
    assert sa is not None and "managedFields" not in sa["metadata"]


def test_the_root_ca_configmap_is_shaped_as_recorded_and_carries_the_cluster_ca(
    sim: KubeSim, tmp_path: Path
) -> None:
    ours = sim.get_object("v1", "ConfigMap", "default", "kube-root-ca.crt")
    recorded = _recorded_root_ca()
    assert ours is not None
    assert sorted(ours) == sorted(recorded) and sorted(ours["metadata"]) == sorted(recorded["metadata"])
    assert ours["metadata"]["annotations"] == recorded["metadata"]["annotations"]
    [entry] = ours["metadata"]["managedFields"]
    assert {k: v for k, v in entry.items() if k != "time"} == {
        k: v for k, v in recorded["metadata"]["managedFields"][0].items() if k != "time"
    }
    path = tmp_path / "kc"
    sim.write_kubeconfig(path)
    ca = yaml.safe_load(path.read_text())["clusters"][0]["cluster"].get("certificate-authority-data")
    if ca is not None:  # served over TLS: the published CA is the one clients trust
        assert ours["data"]["ca.crt"] == base64.b64decode(ca).decode()


@pytest.mark.parametrize("namespace", ["default", "kube-system", "kube-public", "kube-node-lease"])
def test_the_built_in_namespaces_have_them_too(sim: KubeSim, namespace: str) -> None:
    assert sim.get_object("v1", "ConfigMap", namespace, "kube-root-ca.crt") is not None
    assert sim.get_object("v1", "ServiceAccount", namespace, "default") is not None


@pytest.mark.parametrize(("kind", "name"), [("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")])
def test_the_controllers_recreate_them_when_deleted(
    sim: KubeSim, tmp_path: Path, kind: str, name: str
) -> None:
    core = _core(sim, tmp_path)
    before = sim.get_object("v1", kind, "default", name)
    assert before is not None
    delete = (
        core.delete_namespaced_config_map if kind == "ConfigMap" else core.delete_namespaced_service_account
    )
    delete(name, "default")
    after = sim.get_object("v1", kind, "default", name)
    assert after is not None and after["metadata"]["uid"] != before["metadata"]["uid"]


def test_an_edited_root_ca_is_restored_and_other_edits_stay(sim: KubeSim) -> None:
    original = sim.get_object("v1", "ConfigMap", "default", "kube-root-ca.crt")
    assert original is not None
    sim.edit(
        "v1", "ConfigMap", "default", "kube-root-ca.crt", lambda o: o["data"].update({"ca.crt": "forged"})
    )
    sim.edit(
        "v1",
        "ConfigMap",
        "default",
        "kube-root-ca.crt",
        lambda o: o["metadata"].setdefault("labels", {}).update({"team": "x"}),
    )
    now = sim.get_object("v1", "ConfigMap", "default", "kube-root-ca.crt")
    assert now is not None
    assert now["data"] == original["data"] and now["metadata"]["labels"] == {"team": "x"}


def test_they_go_with_a_terminating_namespace_and_are_not_recreated(tmp_path: Path) -> None:
    with running_sim(controllers="never", namespace_delete_delay=3600) as sim:
        core = _core(sim, tmp_path)
        sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
        core.delete_namespace("gone")
        sim.controllers.run_pending()
        assert sim.get_object("v1", "Namespace", None, "gone") is None
        assert [k for k in sim.store.all_keys() if k[2] == "gone"] == []
