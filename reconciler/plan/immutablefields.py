"""Fields of built-in Kubernetes kinds that the API server will not update, as data.

A fleet repo has no member API server to ask, and the hub publishes whatever the commit says:
a changed Deployment selector is rendered, committed and then refused by the API server of
every member it reaches ("field is immutable"), cluster after cluster. ``fleetsync plan`` knows
the well-known cases from this table and blocks the merge with the fix. The table is data (one
``ImmutableField`` per rule, with the Kubernetes documentation's reason and page) so that adding
a rule is one line and docs/immutability.md can list exactly what is checked; the comparison
(``immutable_changes``) is the only logic. It compares what base and head *render* for the same
object on the same cluster (after overrides), so an override that changes a selector on some
clusters is caught on those clusters only. A server-side dry run would know more, but plan runs
offline; the table covers what people actually hit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.plan.diff import ObjectKey

RECREATE = (
    "recreate it: delete the object in one commit and add it back in a later one, once the hub has "
    "rendered the deletion (docs/immutability.md); or rename it (the new object is created, the old "
    "one pruned)"
)
RENAME_IMMUTABLE = (
    "rename it (a new name per content, as kustomize's configMapGenerator/secretGenerator do); the old "
    "one is pruned once nothing places it"
)
PVC_FIX = (
    "a claim holds data: create a claim with another name and migrate; on a bound claim only "
    "spec.resources.requests (growing storage) and spec.volumeAttributesClassName may change"
)
DOCS = "https://kubernetes.io/docs/"


@dataclass(frozen=True, slots=True)
class ImmutableField:
    """One rule: ``path`` of ``group``/``kinds`` may not change once the object exists."""

    group: str
    kinds: tuple[str, ...]
    path: tuple[str, ...]
    reason: str  # the Kubernetes documentation's (or API server's) words
    doc: str
    mutable: tuple[str, ...] = ()  # keys under ``path`` that may change (StatefulSet, PVC spec)
    when_base: tuple[tuple[str, ...], Any] | None = None  # only when base has this value there
    both_set: bool = False  # only when base and head both set it (else the server fills it in)
    into: tuple[Any, ...] = ()  # only a change into one of these values (a type transition)
    fix: str = RECREATE

    @property
    def field(self) -> str:
        return ".".join(self.path)


_WORKLOADS = DOCS + "concepts/workloads/controllers/"
_CONFIG = ("immutable",), True

RULES: tuple[ImmutableField, ...] = (
    ImmutableField(
        "apps",
        ("Deployment",),
        ("spec", "selector"),
        ".spec.selector is immutable after creation of the Deployment in apps/v1",
        _WORKLOADS + "deployment/#selector",
    ),
    ImmutableField(
        "apps",
        ("ReplicaSet",),
        ("spec", "selector"),
        "the selector of a ReplicaSet is immutable in apps/v1",
        _WORKLOADS + "replicaset/#pod-selector",
    ),
    ImmutableField(
        "apps",
        ("DaemonSet",),
        ("spec", "selector"),
        "once a DaemonSet is created, its .spec.selector can not be mutated",
        _WORKLOADS + "daemonset/#pod-selector",
    ),
    ImmutableField(
        "apps",
        ("StatefulSet",),
        ("spec",),
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        _WORKLOADS + "statefulset/",
        mutable=(
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        ),
    ),
    ImmutableField(
        "batch",
        ("Job",),
        ("spec", "selector"),
        "a Job's selector is immutable",
        _WORKLOADS + "job/#specifying-your-own-pod-selector",
    ),
    ImmutableField(
        "batch",
        ("Job",),
        ("spec", "template"),
        "a Job's pod template is immutable (field is immutable); a Job runs to completion once",
        _WORKLOADS + "job/#pod-template",
    ),
    ImmutableField(
        "batch",
        ("Job",),
        ("spec", "completionMode"),
        "a Job's completionMode is immutable",
        _WORKLOADS + "job/#completion-mode",
    ),
    ImmutableField(
        "",
        ("Service",),
        ("spec", "clusterIP"),
        "spec.clusterIP: field is immutable (it can be changed only by changing the type to ExternalName)",
        DOCS + "concepts/services-networking/service/#choosing-your-own-ip-address",
        both_set=True,
    ),
    ImmutableField(
        "",
        ("Service",),
        ("spec", "clusterIPs"),
        "spec.clusterIPs: field is immutable (the first entry is spec.clusterIP)",
        DOCS + "concepts/services-networking/dual-stack/#services",
        both_set=True,
    ),
    ImmutableField(
        "",
        ("Service",),
        ("spec", "type"),
        "a Service that has a cluster IP cannot become ExternalName while the API server keeps its "
        "allocated spec.clusterIP (clusterIPs may not be set for ExternalName)",
        DOCS + "concepts/services-networking/service/#externalname",
        into=("ExternalName",),
    ),
    ImmutableField(
        "",
        ("PersistentVolumeClaim",),
        ("spec",),
        "spec is immutable after creation except resources.requests and volumeAttributesClassName "
        "for bound claims",
        DOCS + "concepts/storage/persistent-volumes/#persistentvolumeclaims",
        mutable=("resources", "volumeAttributesClassName"),
        fix=PVC_FIX,
    ),
    ImmutableField(
        "",
        ("ConfigMap",),
        ("data",),
        "an immutable ConfigMap's data cannot be changed (only deleted and recreated)",
        DOCS + "concepts/configuration/configmap/#configmap-immutable",
        when_base=_CONFIG,
        fix=RENAME_IMMUTABLE,
    ),
    ImmutableField(
        "",
        ("ConfigMap",),
        ("binaryData",),
        "an immutable ConfigMap's binaryData cannot be changed (only deleted and recreated)",
        DOCS + "concepts/configuration/configmap/#configmap-immutable",
        when_base=_CONFIG,
        fix=RENAME_IMMUTABLE,
    ),
    ImmutableField(
        "",
        ("ConfigMap", "Secret"),
        ("immutable",),
        "once a ConfigMap or Secret is marked immutable, it is not possible to revert this change",
        DOCS + "concepts/configuration/configmap/#configmap-immutable",
        when_base=_CONFIG,
        fix=RENAME_IMMUTABLE,
    ),
    ImmutableField(
        "",
        ("Secret",),
        ("data",),
        "an immutable Secret's data cannot be changed (only deleted and recreated)",
        DOCS + "concepts/configuration/secret/#secret-immutable",
        when_base=_CONFIG,
        fix=RENAME_IMMUTABLE,
    ),
    ImmutableField(
        "",
        ("Secret",),
        ("stringData",),
        "an immutable Secret's data cannot be changed (only deleted and recreated)",
        DOCS + "concepts/configuration/secret/#secret-immutable",
        when_base=_CONFIG,
        fix=RENAME_IMMUTABLE,
    ),
    ImmutableField(
        "rbac.authorization.k8s.io",
        ("RoleBinding", "ClusterRoleBinding"),
        ("roleRef",),
        "after you create a binding, you cannot change the Role or ClusterRole that it refers to",
        DOCS + "reference/access-authn-authz/rbac/#clusterrolebinding-example",
    ),
    ImmutableField(
        "storage.k8s.io",
        ("StorageClass",),
        ("provisioner",),
        "a StorageClass's provisioner, parameters, reclaimPolicy and volumeBindingMode cannot be updated",
        DOCS + "concepts/storage/storage-classes/",
    ),
    ImmutableField(
        "storage.k8s.io",
        ("StorageClass",),
        ("parameters",),
        "a StorageClass's provisioner, parameters, reclaimPolicy and volumeBindingMode cannot be updated",
        DOCS + "concepts/storage/storage-classes/",
    ),
    ImmutableField(
        "storage.k8s.io",
        ("StorageClass",),
        ("reclaimPolicy",),
        "a StorageClass's provisioner, parameters, reclaimPolicy and volumeBindingMode cannot be updated",
        DOCS + "concepts/storage/storage-classes/",
    ),
    ImmutableField(
        "storage.k8s.io",
        ("StorageClass",),
        ("volumeBindingMode",),
        "a StorageClass's provisioner, parameters, reclaimPolicy and volumeBindingMode cannot be updated",
        DOCS + "concepts/storage/storage-classes/",
    ),
)

_BY_KIND: dict[tuple[str, str], tuple[ImmutableField, ...]] = {}
for _rule in RULES:
    for _kind in _rule.kinds:
        _BY_KIND[(_rule.group, _kind)] = (*_BY_KIND.get((_rule.group, _kind), ()), _rule)


@dataclass(frozen=True, slots=True)
class ImmutableChange:
    """One rule broken by one object, on the clusters where base and head render it differently."""

    placement: str
    identity: str
    rule: ImmutableField
    clusters: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "placement": self.placement,
            "identity": self.identity,
            "field": self.rule.field,
            "clusters": list(self.clusters),
            "reason": self.rule.reason,
            "fix": self.rule.fix,
            "doc": self.rule.doc,
        }


_MISSING = object()


def _at(manifest: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = manifest
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return _MISSING
        value = value[key]
    return value


def broken(rule: ImmutableField, base: Mapping[str, Any], head: Mapping[str, Any]) -> bool:
    """Whether changing ``base`` into ``head`` (one object) breaks ``rule``."""
    if rule.when_base is not None and _at(base, rule.when_base[0]) != rule.when_base[1]:
        return False
    before, after = _at(base, rule.path), _at(head, rule.path)
    if rule.both_set and (before is _MISSING or after is _MISSING or before in ("", None)):
        return False
    if rule.into and (after not in rule.into or before in rule.into):
        return False
    if rule.mutable and isinstance(before, Mapping) and isinstance(after, Mapping):
        before = {k: v for k, v in before.items() if k not in rule.mutable}
        after = {k: v for k, v in after.items() if k not in rule.mutable}
    return bool(before != after)


def immutable_changes(
    base: Mapping[str, Mapping[ObjectKey, Mapping[str, Any]]],
    head: Mapping[str, Mapping[ObjectKey, Mapping[str, Any]]],
) -> tuple[ImmutableChange, ...]:
    """Every rule of ``RULES`` that an object kept from base to head breaks, with the clusters
    (cluster -> (placement key, identity) -> rendered manifest, as plan renders both sides)."""
    found: dict[tuple[str, str, ImmutableField], list[str]] = {}
    for cluster in sorted(base.keys() & head.keys()):
        before_all, after_all = base[cluster], head[cluster]
        for key in sorted(before_all.keys() & after_all.keys()):
            before, after = before_all[key], after_all[key]
            if before is after:
                continue
            group, kind = key[1].split("/", 2)[:2]
            for rule in _BY_KIND.get((group, kind), ()):
                if broken(rule, before, after):
                    found.setdefault((key[0], key[1], rule), []).append(cluster)
    return tuple(
        ImmutableChange(placement, ident, rule, tuple(clusters))
        for (placement, ident, rule), clusters in sorted(
            found.items(), key=lambda kv: (kv[0][1], kv[0][2].field, kv[0][0])
        )
    )
