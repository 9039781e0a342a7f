"""ClusterEligibility: only clusters the eligibility checker accepts (reconciler/hub/clusters.py)."""

from __future__ import annotations

from reconciler.hub.clusters import ClusterState
from reconciler.scheduler.plugin import CallState, Filtered, Plugin


class ClusterEligibility(Plugin):
    name = "ClusterEligibility"

    def pre_filter(self, call: CallState) -> bool:
        return True

    def filter(self, call: CallState, cluster: ClusterState) -> str | None:
        return None if cluster.eligible else cluster.ineligible_reason

    def filter_bits(self, call: CallState) -> Filtered:
        index = call.index  # eligibility is decided once per fleet
        return index.eligible, lambda p: index.clusters[p].ineligible_reason
