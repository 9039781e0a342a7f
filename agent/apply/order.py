"""Apply order: KubeFleet's waves, so what an object needs exists before it is applied.

The member applies a bundle in waves (``pkg/controllers/workapplier/waves.go``): namespaces and
priority classes; then policy, configuration, storage and CRDs; then roles; then role bindings;
then workloads and services; then API services and webhooks (last, so a webhook never blocks the
objects of its own bundle); everything else — custom resources included — after all of them.
A wave's objects are independent of each other and are applied in parallel; waves run in order.

A kind counts as known only within Kubernetes' own API groups, exactly as KubeFleet checks the
group: a custom ``Deployment`` in ``example.com`` goes to the last wave. Custom resources wait in
the last wave for their CRD (applied in wave 1) to be Established; the applier refreshes
discovery between waves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

LAST_WAVE = 999

_WAVE_BY_KIND: dict[str, int] = {
    "Namespace": 0,
    "PriorityClass": 0,
    "NetworkPolicy": 1,
    "ResourceQuota": 1,
    "LimitRange": 1,
    "PodSecurityPolicy": 1,
    "PodDisruptionBudget": 1,
    "ServiceAccount": 1,
    "Secret": 1,
    "ConfigMap": 1,
    "StorageClass": 1,
    "PersistentVolume": 1,
    "PersistentVolumeClaim": 1,
    "CustomResourceDefinition": 1,
    "IngressClass": 1,
    "ClusterRole": 2,
    "Role": 2,
    "ClusterRoleBinding": 3,
    "RoleBinding": 3,
    "Service": 4,
    "DaemonSet": 4,
    "Pod": 4,
    "ReplicationController": 4,
    "ReplicaSet": 4,
    "Deployment": 4,
    "HorizontalPodAutoscaler": 4,
    "StatefulSet": 4,
    "Job": 4,
    "CronJob": 4,
    "Ingress": 4,
    "APIService": 5,
    "ValidatingWebhookConfiguration": 5,
    "MutatingWebhookConfiguration": 5,
}

KNOWN_GROUPS = frozenset(
    {
        "",
        "networking.k8s.io",
        "scheduling.k8s.io",
        "policy",
        "storage.k8s.io",
        "apiextensions.k8s.io",
        "rbac.authorization.k8s.io",
        "apps",
        "autoscaling",
        "apiregistration.k8s.io",
        "admissionregistration.k8s.io",
        "batch",
    }
)


def wave_of(api_version: str, kind: str) -> int:
    """The wave number of a kind (``LAST_WAVE`` for anything unknown, custom resources included)."""
    group = api_version.rpartition("/")[0]
    if group in KNOWN_GROUPS and kind in _WAVE_BY_KIND:
        return _WAVE_BY_KIND[kind]
    return LAST_WAVE


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Wave(Generic[T]):
    number: int
    items: tuple[T, ...]


def waves(items: Iterable[T], key: Callable[[T], tuple[str, str]]) -> list[Wave[T]]:
    """Group ``items`` into waves by ``key(item) -> (apiVersion, kind)``, in ascending order.

    Within a wave the input order is kept (it is the bundle's sorted file order, so runs are
    reproducible even though a wave's objects are applied in parallel)."""
    by_num: dict[int, list[T]] = {}
    for item in items:
        by_num.setdefault(wave_of(*key(item)), []).append(item)
    return [Wave(n, tuple(by_num[n])) for n in sorted(by_num)]


def is_crd(api_version: str, kind: str) -> bool:
    return kind == "CustomResourceDefinition" and api_version.startswith("apiextensions.k8s.io/")


def crd_serves(crd: dict[str, object], api_version: str, kind: str) -> bool:
    """Whether a CRD manifest defines ``kind`` in the group of ``api_version``."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return False
    names = spec.get("names")
    group = api_version.rpartition("/")[0]
    return spec.get("group") == group and isinstance(names, dict) and names.get("kind") == kind


def crd_established(crd: dict[str, object]) -> bool:
    """Established and NamesAccepted both True: the API server now serves the kind."""
    status = crd.get("status")
    conds = status.get("conditions") if isinstance(status, dict) else None
    if not isinstance(conds, list):
        return False
    true = {c.get("type") for c in conds if isinstance(c, dict) and c.get("status") == "True"}
    return {"Established", "NamesAccepted"} <= true
