"""NamespaceAffinity (ResourcePlacement only): the RP's namespace must exist on the cluster.

Only clusters whose agent collects namespaces are filtered (KubeFleet: the
``NamespaceCollectionSucceeded`` condition); ``ClusterState.namespaces is None`` means the
agent does not collect them, and the cluster passes.
"""

from __future__ import annotations

from reconciler.hub.clusters import ClusterState
from reconciler.scheduler.plugin import CallState, Plugin

NAMESPACE_MISSING = "target namespace does not exist on cluster"


class NamespaceAffinity(Plugin):
    name = "NamespaceAffinity"

    def pre_filter(self, call: CallState) -> bool:
        return call.placement.namespaced

    def filter(self, call: CallState, cluster: ClusterState) -> str | None:
        if cluster.namespaces is None or call.placement.namespace in cluster.namespaces:
            return None
        return NAMESPACE_MISSING
