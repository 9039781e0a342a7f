"""SameCluster (KubeFleet ``sameplacementaffinity``).

Filter: a cluster that already holds a Scheduled/Bound binding of the current policy is
"already selected": neither scored nor listed as filtered. Score: a cluster holding a binding
of an *older* policy gets ``ObsoletePlacementAffinityScore = 1``, the last tiebreaker, so a
policy change prefers clusters already running the placement.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from reconciler.scheduler.model import ClusterScore
from reconciler.scheduler.plugin import CallState, CyclePlugin, CycleState

_OBSOLETE = ClusterScore(0, 0, 1)


class SameCluster(CyclePlugin):
    name = "SameCluster"

    def pre_filter(self, call: CallState) -> bool:
        return True

    def partition_keys(self, call: CallState, positions: Sequence[int]) -> list[Hashable]:
        return [None] * len(positions)  # no partitions: its verdicts are per named cluster

    def already_selected(self, call: CallState, cycle: CycleState) -> frozenset[str]:
        return cycle.selected

    def bonus(self, call: CallState, cycle: CycleState) -> Mapping[str, ClusterScore]:
        return dict.fromkeys(cycle.obsolete, _OBSOLETE)
