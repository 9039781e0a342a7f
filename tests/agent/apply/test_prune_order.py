"""Carrying out a prune with parallel deletions: waves still go in reverse (workloads, then the
config they use, then namespaces), and a failed deletion stays in the inventory."""

from __future__ import annotations

import threading
from typing import Any, cast

from agent.apply.inventory import Inventory, InventoryEntry, PrunePolicy
from agent.apply.kube import KindRef
from agent.apply.manager import Kube
from agent.apply.prune import prune
from agent.apply.takeover import stamped
from agent.errors import Forbidden

P = "ClusterResourcePlacement/web"


class DeletingCluster:
    """Every object exists and carries our marks; deletions are recorded in the order they arrive."""

    def __init__(self, fail: str = ""):
        self.deleted: list[str] = []
        self.fail = fail
        self._lock = threading.Lock()

    def kind(self, api_version: str, kind: str) -> KindRef:
        return KindRef(api_version, kind, kind.lower() + "s", kind != "Namespace")

    def get(self, ref: KindRef, name: str, namespace: str = "") -> dict[str, Any]:
        manifest: dict[str, Any] = {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "metadata": {"name": name, "uid": f"u-{name}"},
        }
        if namespace:
            manifest["metadata"]["namespace"] = namespace
        out = stamped(manifest, "c1", P, "sha256:b")
        out["metadata"]["uid"] = f"u-{name}"
        return out

    def delete(self, ref: KindRef, name: str, namespace: str = "", uid: str | None = None) -> bool:
        if name == self.fail:
            raise Forbidden("denied by a webhook", status=403, reason="Forbidden")
        with self._lock:
            self.deleted.append(ref.kind)
        return True


def entry(api_version: str, kind: str, name: str, namespace: str = "app") -> InventoryEntry:
    return InventoryEntry(api_version, kind, "" if kind == "Namespace" else namespace, name, P, f"u-{name}")


ENTRIES = (
    entry("v1", "Namespace", "app"),
    *(entry("v1", "ConfigMap", f"cm{i}") for i in range(4)),
    *(entry("apps/v1", "Deployment", f"web{i}") for i in range(4)),
    *(entry("rbac.authorization.k8s.io/v1", "Role", f"role{i}") for i in range(2)),
)


def run(cluster: DeletingCluster) -> Any:
    return prune(
        cast(Kube, cluster),
        Inventory(ENTRIES),
        set(),
        {e.identity for e in ENTRIES},
        cluster="c1",
        policy=PrunePolicy(allow_protected=frozenset({("", "Namespace")})),
        source_fresh=True,
        workers=8,
    )


def test_parallel_deletions_go_wave_by_wave_in_reverse_order() -> None:
    cluster = DeletingCluster()
    done = run(cluster)
    assert len(done.deleted) == len(ENTRIES)
    # Workloads before roles before config before the namespace, whatever the thread interleaving.
    assert cluster.deleted == ["Deployment"] * 4 + ["Role"] * 2 + ["ConfigMap"] * 4 + ["Namespace"]


def test_a_deletion_that_fails_is_kept_for_the_next_pass_and_the_rest_go_on() -> None:
    cluster = DeletingCluster(fail="cm2")
    done = run(cluster)
    assert "/ConfigMap/app/cm2" in done.kept and "/ConfigMap/app/cm2" not in done.deleted
    assert len(done.deleted) == len(ENTRIES) - 1
