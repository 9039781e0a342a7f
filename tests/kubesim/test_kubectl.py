"""kubesim driven by the real kubectl (v1.32 on these machines): create, apply, apply --server-side, get, delete."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kubesim.server import KubeSim

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None or shutil.which("openssl") is None,
    reason="needs kubectl, and openssl for the TLS that kubectl's token auth requires",
)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: app
        image: nginx:1.25
"""


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_kubectl_create_get_and_delete(sim: KubeSim, kubeconfig: Path) -> None:
    created = kubectl(kubeconfig, "create", "-f", "-", stdin=DEPLOYMENT.format(name="web", replicas=2))
    assert created.returncode == 0, created.stderr
    assert created.stdout == "deployment.apps/web created\n"
    got = kubectl(kubeconfig, "get", "deployment", "web", "-n", "default", "-o", "yaml")
    assert got.returncode == 0, got.stderr
    assert "progressDeadlineSeconds: 600" in got.stdout and "revisionHistoryLimit: 10" in got.stdout
    table = kubectl(kubeconfig, "get", "deployments", "-n", "default")
    assert table.stdout.split("\n")[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table.stdout.split("\n")[1].split()[:4] == ["web", "2/2", "2", "2"]
    deleted = kubectl(kubeconfig, "delete", "deployment", "web", "-n", "default")
    assert deleted.returncode == 0 and deleted.stdout == 'deployment.apps "web" deleted\n'
    missing = kubectl(kubeconfig, "get", "deployment", "web", "-n", "default")
    assert missing.returncode == 1 and 'deployments.apps "web" not found' in missing.stderr


def test_kubectl_client_side_apply_keeps_the_last_applied_annotation(sim: KubeSim, kubeconfig: Path) -> None:
    first = kubectl(kubeconfig, "apply", "-f", "-", stdin=DEPLOYMENT.format(name="csa", replicas=1))
    assert first.returncode == 0 and first.stdout == "deployment.apps/csa created\n", first.stderr
    second = kubectl(kubeconfig, "apply", "-f", "-", stdin=DEPLOYMENT.format(name="csa", replicas=3))
    assert second.returncode == 0 and second.stdout == "deployment.apps/csa configured\n", second.stderr
    live = sim.get_object("apps/v1", "Deployment", "default", "csa")
    assert live is not None and live["spec"]["replicas"] == 3
    annotation = live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert '"replicas":3' in annotation
    assert {m["manager"] for m in live["metadata"]["managedFields"]} >= {"kubectl-client-side-apply"}
    assert ("PATCH", "/apis/apps/v1/namespaces/default/deployments/csa") in sim.request_log


def test_kubectl_server_side_apply_uses_the_kubectl_field_manager(sim: KubeSim, kubeconfig: Path) -> None:
    out = kubectl(
        kubeconfig, "apply", "--server-side", "-f", "-", stdin=DEPLOYMENT.format(name="ssa", replicas=2)
    )
    assert out.returncode == 0 and out.stdout == "deployment.apps/ssa serverside-applied\n", out.stderr
    live = sim.get_object("apps/v1", "Deployment", "default", "ssa")
    assert live is not None
    assert next((m["manager"], m["operation"]) for m in live["metadata"]["managedFields"]) == (
        "kubectl",
        "Apply",
    )
    sim.edit("apps/v1", "Deployment", "default", "ssa", lambda o: o["spec"].__setitem__("replicas", 7))
    conflict = kubectl(
        kubeconfig, "apply", "--server-side", "-f", "-", stdin=DEPLOYMENT.format(name="ssa", replicas=2)
    )
    assert conflict.returncode == 1 and 'conflict with "kubectl-edit": .spec.replicas' in conflict.stderr
    forced = kubectl(
        kubeconfig,
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        "-",
        stdin=DEPLOYMENT.format(name="ssa", replicas=2),
    )
    assert forced.returncode == 0, forced.stderr


def test_kubectl_patch_and_diff(sim: KubeSim, kubeconfig: Path) -> None:
    base = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: default\ndata:\n  a: '1'\n"
    assert kubectl(kubeconfig, "create", "-f", "-", stdin=base).returncode == 0
    patched = kubectl(kubeconfig, "patch", "configmap", "cfg", "-n", "default", "-p", '{"data":{"b":"2"}}')
    assert patched.returncode == 0, patched.stderr
    live = sim.get_object("v1", "ConfigMap", "default", "cfg")
    assert live is not None and live["data"] == {"a": "1", "b": "2"}
    manifest = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: default\ndata:\n  a: '9'\n"
    )
    diff = kubectl(kubeconfig, "diff", "--server-side", "--force-conflicts", "-f", "-", stdin=manifest)
    assert diff.returncode == 1 and '-  a: "1"' in diff.stdout and '+  a: "9"' in diff.stdout


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: gadgets
    kind: Gadget
    shortNames: [gdg]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""


def test_kubectl_finds_a_custom_resource_through_aggregated_discovery(sim: KubeSim, kubeconfig: Path) -> None:
    assert kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=CRD).returncode == 0
    gadget = "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g1\n  namespace: default\nspec:\n  a: 1\n"
    applied = kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=gadget)
    assert applied.returncode == 0 and applied.stdout == "gadget.example.com/g1 serverside-applied\n", (
        applied.stderr
    )
    listed = kubectl(kubeconfig, "get", "gdg", "-n", "default", "-o", "name")
    assert listed.stdout == "gadget.example.com/g1\n", listed.stderr


def test_kubectl_scale_then_get_events_and_describe_show_the_controllers_events(
    sim: KubeSim, kubeconfig: Path
) -> None:
    assert (
        kubectl(
            kubeconfig, "apply", "--server-side", "-f", "-", stdin=DEPLOYMENT.format(name="web", replicas=2)
        ).returncode
        == 0
    )
    scaled = kubectl(kubeconfig, "scale", "deployment/web", "--replicas=4", "-n", "default")
    assert scaled.returncode == 0 and scaled.stdout == "deployment.apps/web scaled\n", scaled.stderr
    events = kubectl(kubeconfig, "get", "events", "-n", "default")
    lines = events.stdout.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert [line.split()[-1] for line in lines[1:]] == ["2", "4"]  # "... from 0 to 2", "... from 2 to 4"
    described = kubectl(kubeconfig, "describe", "deployment", "web", "-n", "default")
    assert "deployment-controller  Scaled up replica set web-" in described.stdout


def test_kubectl_delete_all_leaves_the_namespace_defaults_to_come_back(
    sim: KubeSim, kubeconfig: Path
) -> None:
    deleted = kubectl(kubeconfig, "delete", "configmaps,serviceaccounts", "--all", "-n", "default")
    assert deleted.returncode == 0, deleted.stderr
    listed = kubectl(kubeconfig, "get", "configmaps,serviceaccounts", "-n", "default", "-o", "name")
    assert listed.stdout.split() == ["configmap/kube-root-ca.crt", "serviceaccount/default"]
