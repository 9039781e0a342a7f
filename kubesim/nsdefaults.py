"""What kube-controller-manager puts into every namespace: ``kube-root-ca.crt`` and ServiceAccount ``default``.

A real cluster's root-CA publisher writes a ConfigMap ``kube-root-ca.crt`` (the cluster CA, for
pods that talk to the API) into every active namespace, and the service-account controller a
ServiceAccount ``default``; both come back when deleted and the ConfigMap's content is restored
when edited. Tools that list or prune a namespace's objects meet them there, so the simulator
makes them too, shaped as recorded (tests/data/kube-golden/14-watch.json): the ConfigMap owned by
Update manager ``kube-controller-manager``; the ServiceAccount with nothing but its name, so no
managedFields. Nothing is created in a terminating namespace.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubesim import defaults, ssa
from kubesim.store import Key, Store

Obj = dict[str, Any]

ROOT_CA = "kube-root-ca.crt"
DEFAULT_SA = "default"
_CM_KEY = ("", "configmaps")
_SA_KEY = ("", "serviceaccounts")
_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as "
    "the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of "
    "Kubernetes clusters."
)
_MANAGER = "kube-controller-manager"
NO_CA = "-----BEGIN CERTIFICATE-----\nkubesim serves plain HTTP: it has no CA\n-----END CERTIFICATE-----\n"


def root_ca_configmap(namespace: str, ca_pem: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ROOT_CA,
            "namespace": namespace,
            "annotations": {"kubernetes.io/description": _DESCRIPTION},
        },
        "data": {"ca.crt": ca_pem},
    }


def default_service_account(namespace: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": DEFAULT_SA, "namespace": namespace},
    }


def is_default(key: Key) -> bool:
    """Whether ``key`` names one of the per-namespace objects the controllers keep in place."""
    return (key[0], key[1], key[3]) in ((*_CM_KEY, ROOT_CA), (*_SA_KEY, DEFAULT_SA))


class NamespaceDefaults:
    """Creates, re-creates and restores the per-namespace objects (called from the store listener)."""

    def __init__(self, store: Store, now: Callable[[], str], ca_pem: Callable[[], str]):
        self.store = store
        self.now = now
        self.ca_pem = ca_pem

    def _active(self, namespace: str) -> bool:
        ns = self.store.get(("", "namespaces", "", namespace))
        return ns is not None and not ns["metadata"].get("deletionTimestamp")

    def ensure(self, namespace: str) -> None:
        """Both objects in ``namespace`` as the controllers keep them (no-op when they already are)."""
        if not self._active(namespace):
            return
        cm_key: Key = (*_CM_KEY, namespace, ROOT_CA)
        want = root_ca_configmap(namespace, self.ca_pem())
        cur = self.store.get(cm_key)
        if cur is None:
            self._create(cm_key, want, "ConfigMap")
        elif cur.get("data") != want["data"]:
            new = copy.deepcopy(cur)
            new["data"] = want["data"]
            ssa.record_update(cur, new, _MANAGER, "v1", now=self.now())
            self.store.put(cm_key, new)
        sa_key: Key = (*_SA_KEY, namespace, DEFAULT_SA)
        if self.store.get(sa_key) is None:
            self._create(sa_key, default_service_account(namespace), "ServiceAccount")

    def _create(self, key: Key, obj: Obj, kind: str) -> None:
        meta = obj["metadata"]
        meta["uid"] = self.store.new_uid()
        meta["creationTimestamp"] = self.now()
        ssa.record_update(None, obj, _MANAGER, "v1", now=self.now(), skeleton=defaults.skeleton("", kind))
        self.store.put(key, obj)
