"""What of the fleet repo's objects a hub places, and in what form: KubeFleet's
``ShouldPropagateObj`` (``should_propagate``) and ``generateRawContent`` (``sanitize``).

A hub's API server holds objects its own controllers made (a namespace's ``kube-root-ca.crt``,
a Service's Endpoints, owned ReplicaSets) and fields it filled in (uids, cluster IPs, a Job's
controller-uid labels); KubeFleet never places the first and strips the second, and so do we, so
that a repo exported from a live hub places what KubeFleet would. These rules are apart from the
selection itself (reconciler/hub/select.py) because they judge one object at a time, whoever
selected it, and each is a table: the reasons never to place, the fields to drop per kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fleetsync_contract import identity
from reconciler.api.envelope import ENVELOPE_KINDS
from reconciler.api.envelope import GROUP as PLACEMENT_GROUP
from reconciler.api.registry import FLEET_GROUPS
from reconciler.api.resource import Resource

RESERVED_PREFIXES = ("kube-", "fleet-")

_DROPPED_METADATA = (
    "resourceVersion",
    "generation",
    "uid",
    "selfLink",
    "deletionTimestamp",
    "managedFields",
    "ownerReferences",
    "creationTimestamp",
)
_DROPPED_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
)
_JOB_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def is_reserved_namespace(namespace: str) -> bool:
    return namespace.startswith(RESERVED_PREFIXES)


def sanitize(group: str, kind: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``manifest`` without what a hub server adds (§2.3, ``generateRawContent``)."""
    obj: dict[str, Any] = _copy(manifest)
    obj.pop("status", None)
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        _sanitize_metadata(meta)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return obj
    sanitize_spec = _SPEC_SANITIZERS.get((group, kind))
    if sanitize_spec is not None:
        sanitize_spec(spec)
    return obj


def _sanitize_metadata(meta: dict[str, Any]) -> None:
    for key in _DROPPED_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in _DROPPED_ANNOTATIONS:
            annotations.pop(key, None)
        if not annotations:
            meta.pop("annotations")


def _sanitize_service(spec: dict[str, Any]) -> None:
    """What the API server allocates: cluster IPs (unless headless), node ports."""
    if spec.get("clusterIP") != "None":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    spec.pop("healthCheckNodePort", None)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.pop("nodePort", None)


def _sanitize_job(spec: dict[str, Any]) -> None:
    """The controller-uid labels the API server adds to a Job's selector and template (unless
    the Job chose its own selector)."""
    if spec.get("manualSelector") is True:
        return
    selector = spec.get("selector")
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    template = spec.get("template")
    tmeta = template.get("metadata") if isinstance(template, dict) else None
    tlabels = tmeta.get("labels") if isinstance(tmeta, dict) else None
    for m in (labels, tlabels):
        if isinstance(m, dict):
            for key in _JOB_UID_LABELS:
                m.pop(key, None)
    if isinstance(tmeta, dict):
        tmeta.pop("creationTimestamp", None)


_SPEC_SANITIZERS: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("", "Service"): _sanitize_service,
    ("batch", "Job"): _sanitize_job,
}


def should_propagate(res: Resource, resources: Mapping[str, Resource]) -> bool:
    """False for what a hub never places: reserved namespaces, objects being deleted, fleet's own
    CRDs and objects, and what controllers create by themselves (``ShouldPropagateObj``)."""
    meta = res.body.get("metadata") or {}
    if not isinstance(meta, Mapping) or meta.get("deletionTimestamp"):
        return False
    return not any(never(res, meta, resources) for never in _NEVER_PLACED)


def _in_reserved_namespace(res: Resource, meta: Mapping[str, Any], resources: Mapping[str, Resource]) -> bool:
    if is_reserved_namespace(res.namespace):
        return True
    return res.group == "" and res.kind == "Namespace" and is_reserved_namespace(res.name)


def _fleet_own(res: Resource, meta: Mapping[str, Any], resources: Mapping[str, Resource]) -> bool:
    """Fleet's own objects (envelopes excepted: they carry what is placed) and CRDs."""
    g, k = res.group, res.kind
    if g in FLEET_GROUPS and not (g == PLACEMENT_GROUP and k in ENVELOPE_KINDS):
        return True
    if g == "apiextensions.k8s.io" and k == "CustomResourceDefinition":
        spec = res.body.get("spec") or {}
        crd_group = spec.get("group", "") if isinstance(spec, Mapping) else ""
        return isinstance(crd_group, str) and crd_group.endswith("kubernetes-fleet.io")
    return False


def _core_default(res: Resource, meta: Mapping[str, Any], resources: Mapping[str, Resource]) -> bool:
    """What every cluster makes for itself in a namespace, and a Service's Endpoints."""
    if res.group != "":
        return False
    k = res.kind
    return (
        (k == "ConfigMap" and res.name == "kube-root-ca.crt")
        or (k == "ServiceAccount" and res.name == "default")
        or (k == "Secret" and res.body.get("type") == "kubernetes.io/service-account-token")
        or (k == "Endpoints" and identity("", "Service", res.namespace, res.name) in resources)
    )


def _controller_made(res: Resource, meta: Mapping[str, Any], resources: Mapping[str, Resource]) -> bool:
    """Owned ReplicaSets and ControllerRevisions, and EndpointSlices a controller manages."""
    g, k = res.group, res.kind
    if g == "apps" and k in ("ReplicaSet", "ControllerRevision") and meta.get("ownerReferences"):
        return True
    if g == "discovery.k8s.io" and k == "EndpointSlice":
        labels = meta.get("labels") or {}
        return isinstance(labels, Mapping) and "endpointslice.kubernetes.io/managed-by" in labels
    return False


# Each is a reason a hub never places an object (ShouldPropagateObj's checks, grouped by subject).
_NEVER_PLACED: tuple[Callable[[Resource, Mapping[str, Any], Mapping[str, Resource]], bool], ...] = (
    _in_reserved_namespace,
    _fleet_own,
    _controller_made,
    _core_default,
)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value
