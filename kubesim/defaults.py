"""Defaulting and server-set fields, as kube-apiserver v1.36 adds them (see the 02-ssa recordings).

These are the fields that make a naive "desired == live" drift check fail: a Deployment gains a
strategy, a revision history limit and a progress deadline, every pod template gains a DNS policy,
a scheduler and per-container pull policies, a Service gains a cluster IP. Each function mutates
the object in place and is idempotent, so it runs after every write. Allocation (cluster IPs,
node ports, uids) goes through :class:`Allocator`, which the server owns per simulated cluster.
"""

from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]


class Allocator:
    """Cluster IPs from 10.96.0.0/16 and node ports from 30000-32767, never reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ip = 10
        self._port = 30000

    def cluster_ip(self) -> str:
        with self._lock:
            self._ip += 1
            return f"10.96.{self._ip // 256}.{self._ip % 256}"

    def node_port(self) -> int:
        with self._lock:
            self._port += 1
            return self._port


def _pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    if ":" not in tail or tail.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def _container(c: Obj) -> None:
    if "image" in c:
        c.setdefault("imagePullPolicy", _pull_policy(str(c["image"])))
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
    for e in c.get("env") or []:
        ref = e.get("valueFrom", {}).get("fieldRef") if isinstance(e, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")


def pod_spec(spec: Obj, restart: str = "Always") -> None:
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                _container(c)
    spec.setdefault("restartPolicy", restart)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("serviceAccountName") and "serviceAccount" not in spec:
        spec["serviceAccount"] = spec["serviceAccountName"]
    for v in spec.get("volumes") or []:
        if isinstance(v, dict):
            for src, mode in (("configMap", 420), ("secret", 420)):
                if isinstance(v.get(src), dict):
                    v[src].setdefault("defaultMode", mode)


def pod_template(spec: Obj, restart: str = "Always") -> None:
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    pod_spec(template.setdefault("spec", {}), restart)


def deployment(obj: Obj, _: Allocator) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    pod_template(spec)
    obj.setdefault("status", {})


def statefulset(obj: Obj, _: Allocator) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    us = spec.setdefault("updateStrategy", {})
    us.setdefault("type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        us.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("serviceName", "")
    pvc = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    pvc.setdefault("whenDeleted", "Retain")
    pvc.setdefault("whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
            claim.setdefault("status", {"phase": "Pending"})
    pod_template(spec)
    obj.setdefault("status", {"availableReplicas": 0, "replicas": 0})


def daemonset(obj: Obj, _: Allocator) -> None:
    meta = obj.setdefault("metadata", {})
    meta.setdefault("annotations", {}).setdefault("deprecated.daemonset.template.generation", "1")
    spec = obj.setdefault("spec", {})
    us = spec.setdefault("updateStrategy", {})
    us.setdefault("type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        ru = us.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", 1)
        ru.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    pod_template(spec)
    obj.setdefault(
        "status",
        {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0},
    )


def job(obj: Obj, _: Allocator) -> None:
    spec = obj.setdefault("spec", {})
    meta = obj.setdefault("metadata", {})
    uid = meta.get("uid", "")
    name = meta.get("name", "")
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    if not spec.get("manualSelector"):
        spec["manualSelector"] = False
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        tmeta = spec.setdefault("template", {}).setdefault("metadata", {})
        labels = tmeta.setdefault("labels", {})
        generated = {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
        for k, v in generated.items():
            labels.setdefault(k, v)
        if not meta.get("labels"):
            meta["labels"] = dict(generated)
    pod_template(spec, restart="Never")
    obj.setdefault("status", {})


def cronjob(obj: Obj, _: Allocator) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    jt = spec.setdefault("jobTemplate", {})
    jt.setdefault("metadata", {})
    pod_template(jt.setdefault("spec", {}), restart="Never")
    obj.setdefault("status", {})


def service(obj: Obj, alloc: Allocator) -> None:
    spec = obj.setdefault("spec", {})
    stype = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if stype != "ExternalName":
        if "clusterIP" not in spec and "clusterIPs" not in spec:
            ip = alloc.cluster_ip()
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
        elif "clusterIPs" not in spec:
            spec["clusterIPs"] = [spec["clusterIP"]]
        elif "clusterIP" in spec and spec["clusterIPs"] and spec["clusterIPs"][0] != spec["clusterIP"]:
            spec["clusterIPs"] = [spec["clusterIP"], *spec["clusterIPs"][1:]]
        elif "clusterIP" not in spec:
            spec["clusterIP"] = spec["clusterIPs"][0]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            if "port" in p:
                p.setdefault("targetPort", p["port"])
            if stype in ("NodePort", "LoadBalancer"):
                p.setdefault("nodePort", alloc.node_port())
    if stype in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if stype == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def namespace(obj: Obj, _: Allocator) -> None:
    meta = obj.setdefault("metadata", {})
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta.get("name", "")
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def secret(obj: Obj, _: Allocator) -> None:
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
    obj.setdefault("type", "Opaque")


def network_policy(obj: Obj, _: Allocator) -> None:
    spec = obj.setdefault("spec", {})
    if "policyTypes" not in spec:
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def limit_range(obj: Obj, _: Allocator) -> None:
    for item in obj.get("spec", {}).get("limits") or []:
        if (
            isinstance(item, dict)
            and item.get("type") == "Container"
            and isinstance(item.get("default"), dict)
        ):
            request = item.setdefault("defaultRequest", {})
            for k, v in item["default"].items():
                request.setdefault(k, v)


def resource_quota(obj: Obj, _: Allocator) -> None:
    obj.setdefault("status", {})


def pdb(obj: Obj, _: Allocator) -> None:
    obj.setdefault(
        "status", {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}
    )


def priority_class(obj: Obj, _: Allocator) -> None:
    obj.setdefault("preemptionPolicy", "PreemptLowerPriority")


def storage_class(obj: Obj, _: Allocator) -> None:
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


def pvc(obj: Obj, _: Allocator) -> None:
    meta = obj.setdefault("metadata", {})
    fins = meta.setdefault("finalizers", [])
    if "kubernetes.io/pvc-protection" not in fins:
        fins.append("kubernetes.io/pvc-protection")
    obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def ingress(obj: Obj, _: Allocator) -> None:
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def hpa(obj: Obj, _: Allocator) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
            }
        ]
    obj.setdefault("status", {"desiredReplicas": 0, "currentMetrics": None})


def pod(obj: Obj, _: Allocator) -> None:
    pod_spec(obj.setdefault("spec", {}))
    spec = obj["spec"]
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def crd(obj: Obj, _: Allocator) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("conversion", {"strategy": "None"})
    names = spec.setdefault("names", {})
    if "kind" in names:
        names.setdefault("listKind", names["kind"] + "List")
        names.setdefault("singular", str(names["kind"]).lower())
    status = obj.setdefault("status", {})
    status.setdefault("acceptedNames", {"kind": "", "plural": ""})
    status.setdefault("conditions", None)
    stored = [v["name"] for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("storage")]
    status.setdefault("storedVersions", stored)


DEFAULTERS: dict[str, Callable[[Obj, Allocator], None]] = {
    "apps/Deployment": deployment,
    "apps/StatefulSet": statefulset,
    "apps/DaemonSet": daemonset,
    "batch/Job": job,
    "batch/CronJob": cronjob,
    "/Service": service,
    "/Namespace": namespace,
    "/Secret": secret,
    "/LimitRange": limit_range,
    "/ResourceQuota": resource_quota,
    "/PersistentVolumeClaim": pvc,
    "/Pod": pod,
    "networking.k8s.io/NetworkPolicy": network_policy,
    "networking.k8s.io/Ingress": ingress,
    "policy/PodDisruptionBudget": pdb,
    "scheduling.k8s.io/PriorityClass": priority_class,
    "storage.k8s.io/StorageClass": storage_class,
    "autoscaling/HorizontalPodAutoscaler": hpa,
    "apiextensions.k8s.io/CustomResourceDefinition": crd,
}

# Kinds whose metadata.generation counts spec changes (custom resources always do).
GENERATION_KINDS = {
    "apps/Deployment",
    "apps/StatefulSet",
    "apps/DaemonSet",
    "apps/ReplicaSet",
    "batch/Job",
    "batch/CronJob",
    "networking.k8s.io/NetworkPolicy",
    "networking.k8s.io/Ingress",
    "networking.k8s.io/IngressClass",
    "policy/PodDisruptionBudget",
    "scheduling.k8s.io/PriorityClass",
    "apiextensions.k8s.io/CustomResourceDefinition",
    "admissionregistration.k8s.io/ValidatingWebhookConfiguration",
    "admissionregistration.k8s.io/MutatingWebhookConfiguration",
}

# The empty object each built-in kind decodes to: nodes that exist before any field is set, so an
# Update manager creating the object is not credited with them (see ssa.record_update).
_POD_TEMPLATE: Obj = {"metadata": {}, "spec": {"containers": None}}
_WORKLOAD_SKELETON: Obj = {"spec": {"template": _POD_TEMPLATE}, "status": {}}
SKELETONS: dict[str, Obj] = {
    "apps/Deployment": {"spec": {"strategy": {}, "template": _POD_TEMPLATE}, "status": {}},
    "apps/StatefulSet": {"spec": {"updateStrategy": {}, "template": _POD_TEMPLATE}, "status": {}},
    "apps/DaemonSet": {"spec": {"updateStrategy": {}, "template": _POD_TEMPLATE}, "status": {}},
    "apps/ReplicaSet": _WORKLOAD_SKELETON,
    "batch/Job": _WORKLOAD_SKELETON,
    "batch/CronJob": {
        "spec": {"jobTemplate": {"metadata": {}, "spec": {"template": _POD_TEMPLATE}}},
        "status": {},
    },
    "/Service": {"spec": {}, "status": {"loadBalancer": {}}},
    "/Pod": {"spec": {"containers": None}, "status": {}},
    "/Namespace": {"spec": {}, "status": {}},
    "/PersistentVolumeClaim": {"spec": {"resources": {}}, "status": {}},
    "apiextensions.k8s.io/CustomResourceDefinition": {"spec": {"names": {}}, "status": {"acceptedNames": {}}},
}


def drop_empty(obj: Obj) -> None:
    """Empty maps and lists that the built-in types declare ``omitempty`` vanish on a round trip."""
    meta = obj.get("metadata", {})
    for k in ("labels", "annotations", "finalizers", "ownerReferences"):
        if k in meta and not meta[k]:
            del meta[k]
    for k in ("data", "binaryData", "stringData"):
        if k in obj and not obj[k]:
            del obj[k]


def apply_defaults(group: str, kind: str, obj: Obj, alloc: Allocator) -> None:
    drop_empty(obj)
    fn = DEFAULTERS.get(f"{group}/{kind}")
    if fn is not None:
        fn(obj, alloc)


def has_generation(group: str, kind: str, custom: bool) -> bool:
    return custom or f"{group}/{kind}" in GENERATION_KINDS


def skeleton(group: str, kind: str, custom: bool = False) -> Obj:
    if custom:
        return {"metadata": {}}
    base = copy.deepcopy(SKELETONS.get(f"{group}/{kind}", {"spec": {}, "status": {}} if group else {}))
    base["metadata"] = {}
    return base
