"""What kube-controller-manager (and kubelets) would do, reduced to what the agent observes.

Workload controllers write Deployment / StatefulSet / DaemonSet / Job status as the
``kube-controller-manager`` field manager on the status subresource. ``instant`` makes them
available in the same request that changed them; ``delay:N`` after N seconds (a timer per object);
``never`` writes the status a cluster without kubelets converges to (observed, but unavailable), so
availability timeouts can be tested — and, as in a real cluster, a Deployment whose rollout has not
completed ``spec.progressDeadlineSeconds`` of real time later gets ``Progressing=False
ProgressDeadlineExceeded`` (a timer ``run_pending`` leaves alone, since it stands for a few seconds
passing); a LoadBalancer Service gets an ingress IP (instant or after the
delay; never under ``never``, like a cluster without a cloud controller). A spec change to an available Deployment or StatefulSet first
shows a rolling update in progress (old pods available, none updated) under ``delay`` and ``never``. The namespace controller empties a terminating namespace and
removes it, and the CRD controller accepts names and establishes a CRD (after a configurable delay),
which is when the custom resource appears in discovery. Every active namespace gets its
``kube-root-ca.crt`` and ``default`` ServiceAccount (kubesim.nsdefaults), and the workload
controllers record Events for what they did (kubesim.events), in every mode.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kubesim import events, nsdefaults, ssa
from kubesim.discovery import Discovery, resources_from_crd
from kubesim.store import Key, Store

Obj = dict[str, Any]
_MANAGER = "kube-controller-manager"


def parse_mode(mode: str) -> float | None:
    """Seconds until workloads become available: 0 (instant), N (delay:N) or None (never)."""
    if mode == "instant":
        return 0.0
    if mode == "never":
        return None
    if mode.startswith("delay:"):
        value = float(mode.split(":", 1)[1])
        if value < 0:
            raise ValueError("delay must be >= 0")
        return value
    raise ValueError(f"controllers must be instant, never or delay:SECONDS, not {mode!r}")


def _cond(ctype: str, st: str, reason: str, message: str, now: str, update: bool = True) -> Obj:
    out: Obj = {"type": ctype, "status": st, "lastTransitionTime": now, "reason": reason, "message": message}
    if update:
        out["lastUpdateTime"] = now
    return out


def workload_status(kind: str, obj: Obj, available: bool, nodes: int, now: str) -> Obj | None:  # noqa: C901
    spec = obj.get("spec", {})
    gen = obj.get("metadata", {}).get("generation", 1)
    name = obj.get("metadata", {}).get("name", "")
    n = int(spec.get("replicas", 1)) if kind != "DaemonSet" else nodes
    old = obj.get("status") or {}
    if kind == "Deployment":
        st: Obj = {"observedGeneration": gen, "replicas": n, "updatedReplicas": n, "terminatingReplicas": 0}
        if available:
            if n:
                st.update(readyReplicas=n, availableReplicas=n)
            conds = [
                _cond(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    now,
                ),
                _cond(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{name}" has successfully progressed.',
                    now,
                ),
            ]
        elif old.get("availableReplicas"):
            # A rolling update of an available Deployment: the old pods keep serving, none is updated yet.
            kept = min(int(old["availableReplicas"]), n)
            st.update(updatedReplicas=0, readyReplicas=kept, availableReplicas=kept)
            if n - kept:
                st["unavailableReplicas"] = n - kept
            conds = [
                _cond(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    now,
                ),
                _cond(
                    "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.', now
                ),
            ]
        else:
            if n:
                st["unavailableReplicas"] = n
            conds = [
                _cond(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                    now,
                ),
                _cond(
                    "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.', now
                ),
            ]
        st["conditions"] = _keep_times(old.get("conditions"), conds)
        return st
    if kind == "StatefulSet":
        ready = n if available else 0
        st = {
            "observedGeneration": gen,
            "replicas": n,
            "currentReplicas": n,
            "updatedReplicas": n,
            "availableReplicas": ready,
            "currentRevision": f"{name}-rev{gen}",
            "updateRevision": f"{name}-rev{gen}",
            "collisionCount": 0,
        }
        if not available and old.get("availableReplicas"):
            # Rolling: the pods of the previous revision still run and serve.
            ready = min(int(old["availableReplicas"]), n)
            st.update(
                availableReplicas=ready, updatedReplicas=0, currentRevision=old.get("currentRevision", "")
            )
        if ready:
            st["readyReplicas"] = ready
        return st
    if kind == "DaemonSet":
        ready = n if available else 0
        st = {
            "observedGeneration": gen,
            "desiredNumberScheduled": n,
            "currentNumberScheduled": n,
            "numberMisscheduled": 0,
            "numberReady": ready,
        }
        if n:
            st["updatedNumberScheduled"] = n
        if ready:
            st["numberAvailable"] = ready
        elif n:
            st["numberUnavailable"] = n
        return st
    if kind == "Job":
        start = old.get("startTime", now)
        if available:
            done = int(spec.get("completions", 1) or 1)
            return {
                "startTime": start,
                "completionTime": now,
                "succeeded": done,
                "active": 0,
                "ready": 0,
                "terminating": 0,
                "uncountedTerminatedPods": {},
                "conditions": _keep_times(
                    old.get("conditions"),
                    [
                        _cond(
                            "SuccessCriteriaMet",
                            "True",
                            "CompletionsReached",
                            "Reached expected number of succeeded pods",
                            now,
                            False,
                        ),
                        _cond(
                            "Complete",
                            "True",
                            "CompletionsReached",
                            "Reached expected number of succeeded pods",
                            now,
                            False,
                        ),
                    ],
                ),
            }
        return {
            "startTime": start,
            "active": int(spec.get("parallelism", 1)),
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
    return None


def deadline_status(obj: Obj, generation: int, now: str) -> Obj | None:
    """The Deployment controller giving up: ``Progressing=False ProgressDeadlineExceeded`` when the
    rollout of ``generation`` has not completed (None: it has, or the spec moved on since)."""
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    n = int(spec.get("replicas", 1))
    if obj.get("metadata", {}).get("generation") != generation or st.get("observedGeneration") != generation:
        return None
    if st.get("updatedReplicas", 0) == n and st.get("availableReplicas", 0) == n:
        return None
    name = obj.get("metadata", {}).get("name", "")
    gave_up = _cond(
        "Progressing",
        "False",
        "ProgressDeadlineExceeded",
        f'ReplicaSet "{name}" has timed out progressing.',
        now,
    )
    conds = [c for c in st.get("conditions") or [] if c.get("type") != "Progressing"] + [gave_up]
    return {**st, "conditions": _keep_times(st.get("conditions"), conds)}


def _keep_times(old: Any, new: list[Obj]) -> list[Obj]:
    prev = {c.get("type"): c for c in old or [] if isinstance(c, dict)}
    for c in new:
        p = prev.get(c["type"])
        if p and p.get("status") == c["status"]:
            c["lastTransitionTime"] = p.get("lastTransitionTime", c["lastTransitionTime"])
            if p.get("reason") == c["reason"] and "lastUpdateTime" in c:
                c["lastUpdateTime"] = p.get("lastUpdateTime", c["lastUpdateTime"])
    return new


_WORKLOADS = {
    ("apps", "deployments"): "Deployment",
    ("apps", "statefulsets"): "StatefulSet",
    ("apps", "daemonsets"): "DaemonSet",
    ("batch", "jobs"): "Job",
}


class Controllers:
    """Reacts to store writes (a store listener); timers for delays, never blocking a request."""

    def __init__(
        self,
        store: Store,
        discovery: Discovery,
        now: Callable[[], str],
        mode: str,
        crd_establish_delay: float,
        namespace_delete_delay: float,
        status_delay: float = 0.0,
        ca_pem: Callable[[], str] = lambda: nsdefaults.NO_CA,
    ):
        self.store = store
        self.ns_defaults = nsdefaults.NamespaceDefaults(store, now, ca_pem)
        self.events = events.Recorder(store, now)
        self.discovery = discovery
        self.now = now
        self.delay = parse_mode(mode)
        self.crd_delay = crd_establish_delay
        self.ns_delay = namespace_delete_delay
        self.status_delay = status_delay
        self._timers: list[tuple[threading.Timer, Callable[[], None]]] = []
        self._deadlines: list[threading.Timer] = []  # real time only: run_pending() leaves them
        self._stopped = False
        self._lb_count = 0
        store.listeners.append(self.on_change)

    def stop(self) -> None:
        self._stopped = True
        for t, _ in self._timers:
            t.cancel()
        for t in self._deadlines:
            t.cancel()

    def run_pending(self) -> None:
        """Run every scheduled controller action now (tests use it instead of waiting)."""
        while True:
            with self.store.lock:
                pending = [(t, fn) for t, fn in self._timers if t.is_alive()]
                self._timers = []
                for t, _ in pending:
                    t.cancel()
                for _, fn in pending:
                    fn()
                if not self._timers:
                    return

    def _later(self, seconds: float, fn: Callable[[], None]) -> None:
        if seconds <= 0:
            fn()
            return
        t = threading.Timer(seconds, self._guarded(fn))
        t.daemon = True
        with self.store.lock:
            self._timers = [x for x in self._timers if x[0].is_alive()]
            self._timers.append((t, fn))
        t.start()

    def _guarded(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if not self._stopped:
                with self.store.lock:
                    fn()

        return run

    def nodes(self) -> int:
        return sum(1 for _, n in self.store.items("", "nodes") if not n.get("spec", {}).get("unschedulable"))

    def on_change(self, key: Key, obj: Obj | None) -> None:
        group, plural, _, name = key
        if nsdefaults.is_default(key):
            self.ns_defaults.ensure(key[2])  # re-created when deleted, restored when edited
        if obj is None:
            if (group, plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self._crd_gone(name)
            return
        if (group, plural) in _WORKLOADS:
            self._workload(key, obj)
        elif (group, plural) == ("", "services") and (obj.get("spec") or {}).get("type") == "LoadBalancer":
            if self.delay is not None and not ((obj.get("status") or {}).get("loadBalancer") or {}).get(
                "ingress"
            ):
                self._later(self.status_delay + self.delay, lambda: self._load_balancer(key))
        elif (group, plural) == ("", "namespaces") and obj["metadata"].get("deletionTimestamp"):
            self._later(self.ns_delay, lambda: self._finish_namespace(name))
        elif (group, plural) == ("", "namespaces"):
            self.ns_defaults.ensure(name)
        elif (group, plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
            if obj["metadata"].get("deletionTimestamp"):
                self._later(self.crd_delay, lambda: self._remove_crd(key))
                return
            conds = (obj.get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conds):
                self._later(self.crd_delay, lambda: self._establish(key))
            else:
                self.discovery.set_custom(name, resources_from_crd(obj))

    def _workload(self, key: Key, obj: Obj) -> None:
        kind = _WORKLOADS[(key[0], key[1])]
        if obj["metadata"].get("deletionTimestamp"):
            return
        st = obj.get("status") or {}
        seen = (
            "startTime" in st
            if kind == "Job"
            else st.get("observedGeneration") == obj["metadata"].get("generation")
        )
        if seen:
            return
        first = self.status_delay
        if self.delay == 0:
            self._later(first, lambda: self._write_status(key, kind, available=True))
            return
        self._later(first, lambda: self._write_status(key, kind, available=False))
        if self.delay is not None:
            self._later(first + self.delay, lambda: self._write_status(key, kind, available=True))

    def _write_status(self, key: Key, kind: str, available: bool) -> None:
        cur = self.store.get(key)
        if cur is None:
            return
        old_status = cur.get("status") or {}
        status = workload_status(kind, cur, available, self.nodes(), self.now())
        if status is None or status == old_status:
            return
        new = dict(cur)
        new["status"] = status
        if kind == "Deployment":
            ann = dict(new["metadata"].get("annotations") or {})
            ann.setdefault("deployment.kubernetes.io/revision", "1")
            new["metadata"] = {**new["metadata"], "annotations": ann}
        ssa.record_update(cur, new, _MANAGER, key[0] + "/v1", now=self.now(), subresource="status")
        self.store.put(key, new)
        self.events.workload(kind, cur, old_status, status)
        if kind == "Deployment" and not available:
            self._progress_deadline(key, new)

    def _progress_deadline(self, key: Key, obj: Obj) -> None:
        """After ``spec.progressDeadlineSeconds`` (default 600) of real time, a rollout that has
        not completed is marked ``ProgressDeadlineExceeded``, as kube-controller-manager does."""
        seconds = (obj.get("spec") or {}).get("progressDeadlineSeconds", 600)
        generation = obj["metadata"].get("generation", 1)
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            return

        def give_up() -> None:
            cur = self.store.get(key)
            status = deadline_status(cur, generation, self.now()) if cur is not None else None
            if cur is None or status is None or status == cur.get("status"):
                return
            new = {**cur, "status": status}
            ssa.record_update(cur, new, _MANAGER, "apps/v1", now=self.now(), subresource="status")
            self.store.put(key, new)

        t = threading.Timer(seconds, self._guarded(give_up))
        t.daemon = True
        with self.store.lock:
            self._deadlines = [x for x in self._deadlines if x.is_alive()]
            self._deadlines.append(t)
        t.start()

    def _load_balancer(self, key: Key) -> None:
        """A cloud controller assigning an ingress IP (not under ``never``, as with no cloud at all)."""
        cur = self.store.get(key)
        if cur is None or ((cur.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            return
        self._lb_count += 1
        new = dict(cur)
        new["status"] = {
            "loadBalancer": {
                "ingress": [
                    {"ip": f"172.18.{self._lb_count // 250}.{self._lb_count % 250 + 1}", "ipMode": "VIP"}
                ]
            }
        }
        ssa.record_update(cur, new, "cloud-controller-manager", "v1", now=self.now(), subresource="status")
        self.store.put(key, new)

    def _finish_namespace(self, name: str) -> None:
        for key in self.store.all_keys():
            if key[2] == name and key[1] != "namespaces":
                self.store.remove(key)
        self.store.remove(("", "namespaces", "", name))

    def _establish(self, key: Key) -> None:
        cur = self.store.get(key)
        if cur is None or cur["metadata"].get("deletionTimestamp"):
            return
        names = dict(cur.get("spec", {}).get("names", {}))
        now = self.now()
        new = dict(cur)
        status = dict(cur.get("status") or {})
        status["acceptedNames"] = names
        status["conditions"] = [
            {
                "type": "NamesAccepted",
                "status": "True",
                "lastTransitionTime": now,
                "reason": "NoConflicts",
                "message": "no conflicts found",
            },
            {
                "type": "Established",
                "status": "True",
                "lastTransitionTime": now,
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ]
        new["status"] = status
        ssa.record_update(
            cur, new, "kube-apiserver", "apiextensions.k8s.io/v1", now=now, subresource="status"
        )
        self.discovery.set_custom(key[3], resources_from_crd(new))
        self.store.put(key, new)

    def _remove_crd(self, key: Key) -> None:
        if self.store.get(key) is not None:
            self.store.remove(key)  # the listener then drops the custom resources (_crd_gone)

    def _crd_gone(self, name: str) -> None:
        plural, _, group = name.partition(".")
        self.discovery.set_custom(name, [])
        for key in self.store.all_keys():
            if key[0] == group and key[1] == plural:
                self.store.remove(key)
