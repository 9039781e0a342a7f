"""TopologySpreadConstraints (PickN only; KubeFleet ``topologyspreadconstraints``).

PostBatch limits every cycle to ONE pick whenever constraints exist; the framework repeats
cycles inside one call, as KubeFleet's requeues do.

Per constraint, the domains are the distinct values of ``topologyKey`` over every cluster in
the fleet (ineligible ones included) and a domain's count is the number of its clusters that
hold a Scheduled/Bound binding of the current policy. Placing in domain d changes the skew
(largest - smallest count) by:

- +1 when all domains have equal counts;
- -1 when d has the smallest count and no other domain shares it;
- +1 when d has the largest count;
- 0 otherwise (a domain strictly between, or one of several sharing the smallest count).

``skew + change > maxSkew`` violates the constraint: DoNotSchedule filters the cluster out
(the last violated DoNotSchedule constraint gives the reason, as KubeFleet overwrites it),
ScheduleAnyway costs 1000 points. Otherwise the score moves by ``-change``. A cluster without
the key is outside that constraint's spread (score +0, never violates).

"Smallest, second smallest, largest" are taken from the sorted counts (second smallest ==
smallest when two domains share the minimum). KubeFleet computes them in one pass over a Go
map, whose random order can make the second smallest equal the smallest even when the minimum
is unique; fleetsync uses the order-free reading the upstream comments describe, so the same
fleet always gets the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from reconciler.api.placement import TopologySpreadConstraint, WhenUnsatisfiable
from reconciler.hub.clusters import ClusterState
from reconciler.scheduler.model import ClusterScore
from reconciler.scheduler.plugin import PASS, CallState, CyclePlugin, CycleState, Verdict

NAME = "TopologySpreadConstraints"
VIOLATION = "violated doNotSchedule topology spread constraint {key} (max skew {skew})"
SCHEDULE_ANYWAY_PENALTY = 1000


@dataclass(frozen=True, slots=True)
class _Prepared:
    constraints: tuple[TopologySpreadConstraint, ...]
    # per constraint: the domains (every value of the key in the fleet)
    domains: tuple[frozenset[str], ...]
    columns: tuple[list[str | None], ...]  # per constraint: each cluster's value, by index position


def will_violate(counts: dict[str, int], domain: str, max_skew: int) -> tuple[bool, int]:
    """(violated, skew change) of one more binding in ``domain``."""
    ordered = sorted(counts.values())
    smallest, largest = ordered[0], ordered[-1]
    second = ordered[1] if len(ordered) > 1 else smallest
    count = counts[domain]
    skew = largest - smallest
    if largest == smallest:
        return skew + 1 > max_skew, 1
    if count == smallest and smallest != second:
        return skew - 1 > max_skew, -1
    if count == largest:
        return skew + 1 > max_skew, 1
    return skew > max_skew, 0


class TopologySpreadConstraints(CyclePlugin):
    name = NAME

    def post_batch(self, call: CallState, cycle: CycleState) -> int | None:
        return 1 if call.policy.topology_spread_constraints else None

    def pre_filter(self, call: CallState) -> bool:
        constraints = call.policy.topology_spread_constraints
        if not call.pick_n or not constraints:
            return False
        index = call.index  # label columns are built once per fleet
        keys = [k.topology_key for k in constraints]
        call.data[NAME] = _Prepared(
            constraints, tuple(index.values(k) for k in keys), tuple(index.column(k) for k in keys)
        )
        return True

    def partition_key(self, call: CallState, cluster: ClusterState) -> Hashable:
        prepared: _Prepared = call.data[NAME]
        return tuple(cluster.labels.get(c.topology_key) for c in prepared.constraints)

    def partition_keys(self, call: CallState, positions: Sequence[int]) -> list[Hashable]:
        columns = call.data[NAME].columns
        return list(zip(*([column[p] for p in positions] for column in columns), strict=True))

    def evaluate(self, call: CallState, cycle: CycleState) -> Callable[[Hashable], Verdict]:
        prepared: _Prepared = call.data[NAME]
        counts: list[dict[str, int]] = [dict.fromkeys(d, 0) for d in prepared.domains]
        index = call.index
        for name in cycle.selected:
            p = index.position(name)
            if p is None:
                continue
            for i, column in enumerate(prepared.columns):
                v = column[p]
                if v is not None:
                    counts[i][v] += 1
        memo: dict[Hashable, Verdict] = {}
        order = sorted(
            range(len(prepared.constraints)),
            key=lambda i: prepared.constraints[i].when_unsatisfiable != WhenUnsatisfiable.DO_NOT_SCHEDULE,
        )

        def verdict(key: Hashable) -> Verdict:
            if key in memo:
                return memo[key]
            values: tuple[str | None, ...] = key  # type: ignore[assignment]
            reason: str | None = None
            score = 0
            for i in order:  # DoNotSchedule constraints first, then ScheduleAnyway (KubeFleet order)
                v = values[i]
                if v is None:
                    continue
                c = prepared.constraints[i]
                violated, change = will_violate(counts[i], v, c.max_skew)
                if violated and c.when_unsatisfiable == WhenUnsatisfiable.DO_NOT_SCHEDULE:
                    reason = VIOLATION.format(key=json.dumps(c.topology_key), skew=c.max_skew)
                elif violated:
                    score -= SCHEDULE_ANYWAY_PENALTY
                else:
                    score -= change
            memo[key] = result = (reason, ClusterScore(score, 0, 0)) if (reason or score) else PASS
            return result

        return verdict
