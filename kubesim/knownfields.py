"""Which fields the built-in kinds declare, for unknown-field detection (strict decoding, SSA's 500).

kube-apiserver knows every field from the Go types; we carry the fields of ObjectMeta, of the top
level and ``spec`` of the common kinds, and of pod templates (PodSpec and Container), which is where
a typo in a manifest usually sits. Anything below those levels is not checked. Paths come in two
spellings: JSON-ish for decoding errors (``spec.template.spec.containers[0].imagePullPolicyy``) and
structured-merge-diff's for apply errors (``.spec.template.spec.containers[name="app"].imagePullPolicyy``).
"""

from __future__ import annotations

import json
import re
from typing import Any

Obj = dict[str, Any]

META = {
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
}
TOP = {"apiVersion", "kind", "metadata"}
POD_SPEC = {
    "volumes",
    "initContainers",
    "containers",
    "ephemeralContainers",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "nodeSelector",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "nodeName",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "securityContext",
    "imagePullSecrets",
    "hostname",
    "subdomain",
    "affinity",
    "schedulerName",
    "tolerations",
    "hostAliases",
    "priorityClassName",
    "priority",
    "dnsConfig",
    "readinessGates",
    "runtimeClassName",
    "enableServiceLinks",
    "preemptionPolicy",
    "overhead",
    "topologySpreadConstraints",
    "setHostnameAsFQDN",
    "os",
    "hostUsers",
    "schedulingGates",
    "resourceClaims",
    "resources",
    "hostnameOverride",
}
CONTAINER = {
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "ports",
    "envFrom",
    "env",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "restartPolicyRules",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
}
_WORKLOAD = {"": {"spec", "status"}}
KNOWN: dict[str, dict[str, set[str]]] = {
    "apps/Deployment": {
        **_WORKLOAD,
        "spec": {
            "replicas",
            "selector",
            "template",
            "strategy",
            "minReadySeconds",
            "revisionHistoryLimit",
            "paused",
            "progressDeadlineSeconds",
        },
    },
    "apps/StatefulSet": {
        **_WORKLOAD,
        "spec": {
            "replicas",
            "selector",
            "template",
            "volumeClaimTemplates",
            "serviceName",
            "podManagementPolicy",
            "updateStrategy",
            "revisionHistoryLimit",
            "minReadySeconds",
            "persistentVolumeClaimRetentionPolicy",
            "ordinals",
        },
    },
    "apps/DaemonSet": {
        **_WORKLOAD,
        "spec": {"selector", "template", "updateStrategy", "minReadySeconds", "revisionHistoryLimit"},
    },
    "apps/ReplicaSet": {**_WORKLOAD, "spec": {"replicas", "minReadySeconds", "selector", "template"}},
    "batch/Job": {
        **_WORKLOAD,
        "spec": {
            "parallelism",
            "completions",
            "activeDeadlineSeconds",
            "podFailurePolicy",
            "successPolicy",
            "backoffLimit",
            "backoffLimitPerIndex",
            "maxFailedIndexes",
            "selector",
            "manualSelector",
            "template",
            "ttlSecondsAfterFinished",
            "completionMode",
            "suspend",
            "podReplacementPolicy",
            "managedBy",
        },
    },
    "/Pod": {**_WORKLOAD, "spec": POD_SPEC},
    "/ConfigMap": {"": {"data", "binaryData", "immutable"}},
    "/Secret": {"": {"data", "stringData", "type", "immutable"}},
    "/ServiceAccount": {"": {"secrets", "imagePullSecrets", "automountServiceAccountToken"}},
    "/Namespace": {"": {"spec", "status"}},
    "/Service": {
        "": {"spec", "status"},
        "spec": {
            "ports",
            "selector",
            "clusterIP",
            "clusterIPs",
            "type",
            "externalIPs",
            "sessionAffinity",
            "loadBalancerIP",
            "loadBalancerSourceRanges",
            "externalName",
            "externalTrafficPolicy",
            "healthCheckNodePort",
            "publishNotReadyAddresses",
            "sessionAffinityConfig",
            "ipFamilies",
            "ipFamilyPolicy",
            "allocateLoadBalancerNodePorts",
            "loadBalancerClass",
            "internalTrafficPolicy",
            "trafficDistribution",
        },
    },
}


def _pod_template(template: Any, json_path: str, smd_path: str, out: list[tuple[str, str]]) -> None:
    if not isinstance(template, dict):
        return
    for k in template:
        if k not in ("metadata", "spec"):
            out.append((f"{json_path}.{k}", f"{smd_path}.{k}"))
    meta = template.get("metadata")
    if isinstance(meta, dict):
        out += [(f"{json_path}.metadata.{k}", f"{smd_path}.metadata.{k}") for k in meta if k not in META]
    spec = template.get("spec")
    if isinstance(spec, dict):
        _pod_spec(spec, f"{json_path}.spec", f"{smd_path}.spec", out)


def _pod_spec(spec: Obj, json_path: str, smd_path: str, out: list[tuple[str, str]]) -> None:
    out += [(f"{json_path}.{k}", f"{smd_path}.{k}") for k in spec if k not in POD_SPEC]
    for field in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(field) or []):
            if not isinstance(c, dict):
                continue
            key = f"[name={json.dumps(c.get('name', ''))}]"
            out += [
                (f"{json_path}.{field}[{i}].{k}", f"{smd_path}.{field}{key}.{k}")
                for k in c
                if k not in CONTAINER
            ]


def unknown(group: str, kind: str, obj: Obj) -> list[tuple[str, str]]:
    """(JSON path, SMD path) of every undeclared field we can tell, metadata first then sorted."""
    out = [(f"metadata.{k}", f".metadata.{k}") for k in (obj.get("metadata") or {}) if k not in META]
    known = KNOWN.get(f"{group}/{kind}")
    if known is not None:
        out += [(k, f".{k}") for k in obj if k not in TOP | known[""]]
        spec = obj.get("spec")
        if "spec" in known and isinstance(spec, dict):
            out += [(f"spec.{k}", f".spec.{k}") for k in spec if k not in known["spec"]]
            if kind == "Pod":
                _pod_spec(spec, "spec", ".spec", out)
            elif "template" in known["spec"]:
                _pod_template(spec.get("template"), "spec.template", ".spec.template", out)
    return sorted(out, key=lambda p: (not p[0].startswith("metadata"), p[0]))


def drop(obj: Obj, json_path: str) -> None:
    """Remove the field at a JSON-ish path (``a.b[0].c``), if it is there."""
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", json_path)
    node: Any = obj
    for part in parts[:-1]:
        if part.startswith("["):
            idx = int(part[1:-1])
            node = node[idx] if isinstance(node, list) and idx < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(parts[-1], None)
