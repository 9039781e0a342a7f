"""Which objects a policy or binding applies to: Kubernetes' matchResources over a rendered object.

An object is judged as an admission request would present it: the operation follows from the
cluster's previous and new render (CREATE, UPDATE, DELETE), the resource is the kind's plural
(reconciler/policy/model.py), and a namespaceSelector reads the labels of the Namespace rendered
for the same cluster, since the gate runs before anything reaches the member.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.api.resource import split_api_version
from reconciler.policy.model import MatchResources, plural_of


def field_map(data: Any, key: str) -> dict[str, Any]:
    """``data[key]`` when both are mappings, else {} (rendered objects are untrusted plain data)."""
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Target:
    """One object of one cluster as the gate judges it: new and previous render, and its names."""

    identity: str
    obj: Mapping[str, Any] | None
    old: Mapping[str, Any] | None
    group: str
    version: str
    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]

    @property
    def operation(self) -> str:
        return "CREATE" if self.old is None else "DELETE" if self.obj is None else "UPDATE"


def target(identity: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> Target:
    body = obj if obj is not None else old or {}
    meta = field_map(body, "metadata")
    api_version = body.get("apiVersion")
    group, version = split_api_version(api_version if isinstance(api_version, str) else "")
    labels = field_map(meta, "labels")
    kind, namespace, name = (
        str(body.get("kind") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )
    return Target(identity, obj, old, group, version, kind, namespace, name, labels)


def matches(m: MatchResources, t: Target, ns_labels: Mapping[str, str] | None, inherit: bool) -> bool:
    """Kubernetes' matchResources: rules (absent in a binding: inherit), exclusions, selectors."""
    resource = plural_of(t.kind)
    namespaced = bool(t.namespace)
    args = (t.group, t.version, resource, t.name, namespaced, t.operation)
    if (m.has_rules or not inherit) and not any(r.matches(*args) for r in m.rules):
        return False
    if any(r.matches(*args) for r in m.exclude):
        return False
    if m.object_selector is not None and not m.object_selector.matches(t.labels):
        return False
    if m.namespace_selector is not None and (namespaced or t.kind == "Namespace"):
        labels = t.labels if t.kind == "Namespace" else ns_labels or {}
        if not m.namespace_selector.matches(labels):
            return False
    return True


def request(t: Target) -> dict[str, Any]:
    """The ``request`` variable: what an API server's admission request would say of this object."""
    return {
        "operation": t.operation,
        "name": t.name,
        "namespace": t.namespace,
        "dryRun": True,
        "kind": {"group": t.group, "version": t.version, "kind": t.kind},
        "resource": {"group": t.group, "version": t.version, "resource": plural_of(t.kind)},
        "userInfo": {"username": "fleetsync"},
    }
