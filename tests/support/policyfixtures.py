"""Policies, bindings and rendered objects for the policy gate's tests, written as YAML text.

The gate reads ValidatingAdmissionPolicy documents as a user commits them, so the tests build
them as text (``policy``, ``binding``) and load them with the real loader (``gate``); rendered
objects are plain manifests keyed by their canonical identity (``rendered``), as the hub hands
them to the gate. The gate's own tests and its cache's tests share these builders.
"""

from __future__ import annotations

from typing import Any

from reconciler.load.yamldoc import Document, parse_documents
from reconciler.policy.gate import ClusterInfo, PolicySet, Violation, load_policies

EU = ClusterInfo("eu-1", {"env": "prod"}, {"nodeCount": 5})


def docs(text: str, file: str = "policies/local.yaml") -> list[Document]:
    return parse_documents(text, file)


def policy(
    name: str,
    expression: str,
    *,
    resources: str = "[configmaps]",
    operations: str = "[CREATE, UPDATE]",
    extra: str = "",
    message: str = "",
    action: str = "Deny",
    failure: str = "Fail",
) -> str:
    msg = f"\n      message: {message}" if message else ""
    return f"""apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: {name}
  annotations:
    fleetsync.io/default-action: {action}
spec:
  failurePolicy: {failure}
  matchConstraints:
    resourceRules:
      - apiGroups: ["*"]
        apiVersions: ["*"]
        resources: {resources}
        operations: {operations}
{extra}  validations:
    - expression: {expression!r}{msg}
"""


def binding(name: str, policy_name: str, actions: str, extra: str = "") -> str:
    return f"""apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {name}
spec:
  policyName: {policy_name}
  validationActions: {actions}
{extra}"""


def cm(
    name: str = "settings", namespace: str = "web", labels: dict[str, str] | None = None, **data: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": dict(data)}


def rendered(*objs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for o in objs:
        group = o["apiVersion"].rpartition("/")[0]
        out[f"{group}/{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"] = o
    return out


def gate(*texts: str, enabled: list[str] | None = None) -> PolicySet:
    return load_policies(docs("\n---\n".join(texts)), enabled=enabled)


def messages(vs: list[Violation]) -> list[str]:
    return [v.message for v in vs]
