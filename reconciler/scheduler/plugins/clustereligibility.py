"""ClusterEligibility: only clusters the eligibility checker accepts (reconciler/hub/clusters.py)."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.hub.clusters import ClusterState
from reconciler.scheduler.plugin import CallState, Plugin


class ClusterEligibility(Plugin):
    name = "ClusterEligibility"

    def pre_filter(self, call: CallState) -> bool:
        return True

    def filter(self, call: CallState, cluster: ClusterState) -> str | None:
        return None if cluster.eligible else cluster.ineligible_reason

    def filter_many(self, call: CallState, clusters: Sequence[ClusterState]) -> list[str | None]:
        return [None if c.eligible else c.ineligible_reason for c in clusters]
