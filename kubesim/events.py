"""Events (core/v1) the simulated workload controllers record, shaped as recorded from v1.36.

``kubectl describe`` and ``kubectl get events`` show what the controllers did; a real
kube-controller-manager records ``ScalingReplicaSet`` on a Deployment, and ``SuccessfulCreate`` for
each pod a StatefulSet, DaemonSet or Job creates, plus ``Completed`` for a finished Job
(tests/data/kube-golden/09-workload-status-progression.json). kubesim runs no ReplicaSets or pods,
so the names in the messages are made up the way the controllers make them (a hash of the pod
template, a random pod suffix); only the events are real objects.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from typing import Any

from kubesim.store import Store

Obj = dict[str, Any]

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' generated name suffixes
_COMPONENTS = {
    "Deployment": "deployment-controller",
    "StatefulSet": "statefulset-controller",
    "DaemonSet": "daemonset-controller",
    "Job": "job-controller",
}


# As recorded: null and empty values are not owned, and ``source`` is a struct (no ".").
_FIELDS: Obj = {
    "f:count": {},
    "f:firstTimestamp": {},
    "f:involvedObject": {},
    "f:lastTimestamp": {},
    "f:message": {},
    "f:reason": {},
    "f:reportingComponent": {},
    "f:source": {"f:component": {}},
    "f:type": {},
}


def template_hash(obj: Obj) -> str:
    """A stable stand-in for the pod-template-hash (not kube's: that hashes a Go struct dump)."""
    digest = hashlib.sha256(
        json.dumps((obj.get("spec") or {}).get("template"), sort_keys=True).encode()
    ).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


def suffix(n: int = 5) -> str:
    return "".join(random.choices(_SAFE, k=n))


class Recorder:
    """Writes Events into the store as manager ``kube-controller-manager``."""

    def __init__(self, store: Store, now: Callable[[], str]):
        self.store = store
        self.now = now
        # Names end in a UnixNano in hex in kube, so they sort by time; a rising counter does the same.
        self._nano = random.getrandbits(56) | 1 << 60

    def record(self, kind: str, obj: Obj, reason: str, message: str) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        ns = self.store.get(("", "namespaces", "", namespace))
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return  # a terminating namespace takes no new content
        now = self.now()
        self._nano += random.randint(1, 1 << 20)
        name = f"{meta['name']}.{self._nano:x}"
        component = _COMPONENTS.get(kind, "kube-controller-manager")
        event: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": self.store.new_uid(),
                "creationTimestamp": now,
            },
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", ""),
                "kind": kind,
                "name": meta["name"],
                "namespace": namespace,
                "resourceVersion": meta.get("resourceVersion", ""),
                "uid": meta.get("uid", ""),
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": "Normal",
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": "",
        }
        event["metadata"]["managedFields"] = [
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "v1",
                "time": now,
                "fieldsType": "FieldsV1",
                "fieldsV1": _FIELDS,
            }
        ]
        self.store.put(("", "events", namespace, name), event)

    def workload(self, kind: str, cur: Obj, old_status: Obj, new_status: Obj) -> None:
        """The events of one status transition the workload controller just wrote."""
        name = cur["metadata"]["name"]
        if kind == "Deployment":
            before, after = int(old_status.get("replicas", 0) or 0), int(new_status.get("replicas", 0) or 0)
            if after != before:
                verb = "up" if after > before else "down"
                self.record(
                    kind,
                    cur,
                    "ScalingReplicaSet",
                    f"Scaled {verb} replica set {name}-{template_hash(cur)} from {before} to {after}",
                )
        elif kind == "StatefulSet":
            for i in range(_statefulset_pods(old_status), _statefulset_pods(new_status)):
                self.record(
                    kind, cur, "SuccessfulCreate", f"Create Pod {name}-{i} in StatefulSet {name} successful"
                )
        elif kind == "DaemonSet":
            for _ in range(
                int(old_status.get("currentNumberScheduled", 0) or 0),
                int(new_status.get("currentNumberScheduled", 0) or 0),
            ):
                self.record(kind, cur, "SuccessfulCreate", f"Created pod: {name}-{suffix()}")
        elif kind == "Job":
            if "startTime" not in old_status:
                for _ in range(int(new_status.get("active", 0) or new_status.get("succeeded", 0) or 0)):
                    self.record(kind, cur, "SuccessfulCreate", f"Created pod: {name}-{suffix()}")
            if new_status.get("completionTime") and not old_status.get("completionTime"):
                self.record(kind, cur, "Completed", "Job completed")


def _statefulset_pods(st: Obj) -> int:
    """Pods an OrderedReady StatefulSet has created: without ready pods only pod 0 (it waits for it)."""
    n = int(st.get("replicas", 0) or 0)
    return n if st.get("readyReplicas") else min(n, 1)
