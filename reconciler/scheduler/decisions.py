"""The ``clusterDecisions`` list, with KubeFleet's limits and its exact fill order.

KubeFleet (``newSchedulingDecisionsFromBindings``) lists the selected clusters first, from the
bindings (at most 1,000 entries), then up to 20 clusters that were scored but not picked, then
filtered clusters sharing what is left of the same 20. Two details are kept on purpose:
a filtered entry skipped because its cluster is already listed still uses up one of the 20, and
when more than 1,000 clusters are selected the not-picked entries are still added (KubeFleet
only stops when the remaining slots are exactly zero).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reconciler.scheduler.model import (
    CLUSTER_UNSCHEDULABLE,
    DECISIONS_LIMIT,
    MAX_UNSELECTED_DECISIONS,
    NOT_PICKED_BY_SCORE,
    Binding,
    ClusterDecision,
    ClusterScore,
)


class DecisionBuilder:
    def __init__(self, limit: int = DECISIONS_LIMIT, max_unselected: int = MAX_UNSELECTED_DECISIONS) -> None:
        self._out: list[ClusterDecision] = []
        self._seen: set[str] = set()
        self._slots = limit
        self._unselected = max_unselected

    def add_selected(self, *sets: Sequence[Binding]) -> None:
        for bindings in sets:
            for b in bindings[: max(self._slots, 0)]:
                self._out.append(b.decision())
                self._seen.add(b.cluster)
            self._slots -= len(bindings)
            if self._slots <= 0:
                break

    def add_not_picked(self, ranked: Iterable[tuple[ClusterScore, str]]) -> None:
        for t, name in ranked:
            if self._slots == 0 or self._unselected == 0:
                break
            if name in self._seen:
                continue
            score = t.stored()
            self._out.append(
                ClusterDecision(
                    name,
                    False,
                    score,
                    NOT_PICKED_BY_SCORE.format(c=name, a=score.affinity, t=score.topology_spread),
                )
            )
            self._slots -= 1
            self._unselected -= 1

    def add_filtered(self, filtered: Iterable[tuple[str, str]]) -> None:
        """(cluster, plugin reason) by name; the reason is shown as KubeFleet's Status string."""
        it = iter(filtered)
        i = 0
        while i < self._unselected and i < self._slots:
            item = next(it, None)
            if item is None:
                break
            i += 1
            if item[0] in self._seen:
                continue
            self._out.append(ClusterDecision(item[0], False, None, f"{CLUSTER_UNSCHEDULABLE}, {item[1]}"))

    def add_raw(self, decisions: Iterable[ClusterDecision]) -> None:
        self._out.extend(decisions)

    def decisions(self) -> tuple[ClusterDecision, ...]:
        return tuple(self._out)
