"""resourceSelectors → a placement's resource snapshot (kubefleet-api.md §2.1 to §2.3, §9).

What KubeFleet's resource selector resolver does on a hub, done over the fleet repo's objects:
pick objects by GVK and name / label selector / neither; a selected Namespace brings everything
in it unless its ``selectionScope`` says otherwise; a ClusterResourcePlacement picks cluster-
scoped kinds (plus namespaced ones inside a ``NamespaceWithResourceSelectors`` namespace); a
ResourcePlacement picks namespaced objects in its own namespace. Reserved namespaces and the
objects a hub's controllers create on their own are never selected, every object is sanitised
as ``generateRawContent`` does (both in reconciler/hub/propagation.py), and the list is sorted by KubeFleet's kind ranks so that the
content hash — and thus the snapshot index — moves only when the content does.

Choices where KubeFleet's docs and code disagree (docs/overrides.md records them):
- ``default`` is *not* reserved: upstream's ``IsReservedNamespace`` checks only the ``kube-``
  and ``fleet-`` prefixes, whatever the doc comment says.
- A selector matches an object by group and kind; its version does not filter (the hub API
  server serves an object in every version of its kind; we cannot convert, so we keep the
  version the repo wrote).
- PersistentVolumeClaims are selected: a Git hub runs no workloads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetsync_contract import identity
from fleetsync_contract.canonical import json_sha256
from reconciler.api.envelope import CLUSTER_SCOPED_KINDS, ENVELOPE_KINDS
from reconciler.api.envelope import GROUP as PLACEMENT_GROUP
from reconciler.api.placement import Placement, ResourceSelector, SelectionScope
from reconciler.api.resource import Resource
from reconciler.hub.propagation import is_reserved_namespace, sanitize, should_propagate

# KubeFleet's sortResources kind ranks (§2.2); unknown kinds sort after all of these.
KIND_RANK: Mapping[str, int] = {
    k: i
    for i, k in enumerate(
        (
            "PriorityClass",
            "Namespace",
            "NetworkPolicy",
            "ResourceQuota",
            "LimitRange",
            "PodDisruptionBudget",
            "ServiceAccount",
            "Secret",
            "ConfigMap",
            "StorageClass",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "DaemonSet",
            "Pod",
            "ReplicationController",
            "ReplicaSet",
            "Deployment",
            "HorizontalPodAutoscaler",
            "StatefulSet",
            "Job",
            "CronJob",
            "IngressClass",
            "Ingress",
            "APIService",
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        )
    )
}


@dataclass(frozen=True, slots=True)
class SelectedObject:
    """One object of a resource snapshot: its coordinates and its sanitised manifest."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str
    manifest: Mapping[str, Any]

    @property
    def identity(self) -> str:
        return identity(self.group, self.kind, self.namespace, self.name)

    @property
    def is_envelope(self) -> bool:
        return self.group == PLACEMENT_GROUP and self.kind in ENVELOPE_KINDS


@dataclass(frozen=True, slots=True)
class Selection:
    """The select stage's result: what a placement selects, in canonical order, and its hash."""

    objects: tuple[SelectedObject, ...]
    hash: str
    # Why a selector could not be honoured (KubeFleet reports these on the placement's
    # Scheduled condition as an invalid resource selector); empty when all is well.
    errors: tuple[str, ...] = ()

    @property
    def identities(self) -> tuple[str, ...]:
        return tuple(o.identity for o in self.objects)


# -- public entry points -------------------------------------------------------------------------
def select_resources(placement: Placement, resources: Mapping[str, Resource]) -> Selection:
    """The sanitised, ordered objects a placement selects, and their content hash."""
    index = _Index(resources)
    errors: list[str] = []
    picked: dict[str, Resource] = {}
    if placement.namespaced:
        _select_rp(placement, index, picked, errors)
    else:
        _select_crp(placement, index, picked, errors)
    objects = [_selected(r) for r in picked.values()]
    objects.sort(key=sort_key)
    return Selection(tuple(objects), resource_hash(objects), tuple(errors))


def resource_hash(objects: Sequence[SelectedObject]) -> str:
    """Content hash of a selected list (order matters; the list is in canonical order)."""
    return json_sha256([o.manifest for o in objects])


def sort_key(obj: SelectedObject) -> tuple[int, str, str]:
    """KubeFleet's order: kind rank; then GroupVersion (full GVK for unknown kinds); then ns/name."""
    rank = KIND_RANK.get(obj.kind)
    gv = f"{obj.group}/{obj.version}" if obj.group else obj.version
    if rank is None:
        return (len(KIND_RANK), f"{gv}, Kind={obj.kind}", f"{obj.namespace}/{obj.name}")
    return (rank, gv, f"{obj.namespace}/{obj.name}")


# -- internals -----------------------------------------------------------------------------------
class _Index:
    """The repo's resources by (group, kind) and by namespace, plus which kinds are namespaced."""

    def __init__(self, resources: Mapping[str, Resource]):
        self.resources = resources
        self.by_kind: dict[tuple[str, str], list[Resource]] = defaultdict(list)
        self.by_namespace: dict[str, list[Resource]] = defaultdict(list)
        self.namespaced: dict[tuple[str, str], bool] = {gk: False for gk in CLUSTER_SCOPED_KINDS}
        for res in resources.values():
            self.by_kind[(res.group, res.kind)].append(res)
            if res.namespace:
                self.by_namespace[res.namespace].append(res)
                self.namespaced.setdefault((res.group, res.kind), True)
            if res.group == "apiextensions.k8s.io" and res.kind == "CustomResourceDefinition":
                spec = res.body.get("spec") or {}
                names = spec.get("names") or {} if isinstance(spec, Mapping) else {}
                if isinstance(names, Mapping) and isinstance(spec.get("group"), str) and names.get("kind"):
                    self.namespaced[(spec["group"], str(names["kind"]))] = spec.get("scope") != "Cluster"

    def is_namespaced(self, group: str, kind: str) -> bool | None:
        """True/False when known (built-in table, a CRD in the repo, or an object seen); else None."""
        return self.namespaced.get((group, kind))

    def matching(self, sel: ResourceSelector, namespace: str | None) -> list[Resource]:
        """Objects of the selector's kind (in ``namespace`` when given) picked by name/labels/all."""
        out: list[Resource] = []
        for res in self.by_kind.get((sel.group, sel.kind), ()):
            if namespace is not None and res.namespace != namespace:
                continue
            if sel.name is not None:
                if res.name != sel.name:
                    continue
            elif sel.label_selector is not None and not sel.label_selector.matches(res.labels):
                continue
            if should_propagate(res, self.resources):
                out.append(res)
        return out


def _is_namespace(sel: ResourceSelector) -> bool:
    return sel.group == "" and sel.kind == "Namespace"


def _describe(sel: ResourceSelector) -> str:
    gvk = f"{sel.group}/{sel.version}/{sel.kind}" if sel.group else f"{sel.version}/{sel.kind}"
    return f"{gvk} {sel.name}" if sel.name else gvk


def _select_crp(placement: Placement, index: _Index, picked: dict[str, Resource], errors: list[str]) -> None:
    selectors = placement.resource_selectors
    ns_selectors = [s for s in selectors if _is_namespace(s)]
    scoped = [
        s for s in ns_selectors if s.selection_scope == SelectionScope.NAMESPACE_WITH_RESOURCE_SELECTORS
    ]
    if scoped:
        if len(ns_selectors) != 1 or scoped[0].name is None:
            errors.append(
                "NamespaceWithResourceSelectors needs exactly one Namespace selector, selecting by name, "
                "and no other Namespace selectors"
            )
            return
        _select_within_namespace(scoped[0], scoped[0].name, selectors, index, picked, errors)
        return
    for sel in selectors:
        if _is_namespace(sel):
            _select_namespaces(sel, index, picked, errors)
        elif index.is_namespaced(sel.group, sel.kind):
            errors.append(
                f"{_describe(sel)}: {sel.kind} is not a cluster scoped resource; a ClusterResourcePlacement "
                "selects namespaced objects through their Namespace"
            )
        else:
            for res in index.matching(sel, None):
                picked[res.identity] = res


def _select_within_namespace(
    ns_selector: ResourceSelector,
    ns_name: str,
    selectors: Sequence[ResourceSelector],
    index: _Index,
    picked: dict[str, Resource],
    errors: list[str],
) -> None:
    """NamespaceWithResourceSelectors: the one named namespace, and what the other selectors pick
    in it (cluster-scoped kinds as they are)."""
    if is_reserved_namespace(ns_name):
        errors.append(f"namespace {ns_name} is reserved (kube-*, fleet-*) and cannot be selected")
        return
    ns = index.resources.get(identity("", "Namespace", "", ns_name))
    if ns is None:
        errors.append(f"namespace {ns_name} selected with NamespaceWithResourceSelectors does not exist")
        return
    picked[ns.identity] = ns
    for sel in selectors:
        if sel is ns_selector:
            continue
        within = ns_name if index.is_namespaced(sel.group, sel.kind) else None
        for res in index.matching(sel, within):
            if within is None and res.namespace:
                continue
            picked[res.identity] = res


def _select_namespaces(
    sel: ResourceSelector, index: _Index, picked: dict[str, Resource], errors: list[str]
) -> None:
    """A Namespace selector: the namespaces it picks, with everything in them (NamespaceWithResources)."""
    if sel.name is not None and is_reserved_namespace(sel.name):
        errors.append(f"namespace {sel.name} is reserved (kube-*, fleet-*) and cannot be selected")
        return
    for ns in index.matching(sel, None):
        picked[ns.identity] = ns
        if sel.selection_scope == SelectionScope.NAMESPACE_WITH_RESOURCES:
            for res in index.by_namespace.get(ns.name, ()):
                if should_propagate(res, index.resources):
                    picked[res.identity] = res


def _select_rp(placement: Placement, index: _Index, picked: dict[str, Resource], errors: list[str]) -> None:
    ns = placement.namespace
    if is_reserved_namespace(ns):
        errors.append(
            f"namespace {ns} is reserved (kube-*, fleet-*): a ResourcePlacement there selects nothing"
        )
        return
    for sel in placement.resource_selectors:
        if _is_namespace(sel) or index.is_namespaced(sel.group, sel.kind) is False:
            errors.append(
                f"{_describe(sel)}: {sel.kind} is cluster-scoped; a ResourcePlacement selects namespaced "
                f"resources in its own namespace {ns}"
            )
            continue
        for res in index.matching(sel, ns):
            picked[res.identity] = res


def _selected(res: Resource) -> SelectedObject:
    return SelectedObject(
        res.group, res.version, res.kind, res.namespace, res.name, sanitize(res.group, res.kind, res.body)
    )
