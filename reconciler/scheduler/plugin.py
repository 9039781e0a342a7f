"""The plugin interface: KubeFleet's extension points, split by what a result depends on.

KubeFleet runs PostBatch → PreFilter → Filter → PreScore → Score once per scheduling cycle and,
under topology spread, one cycle per picked cluster. fleetsync runs all of those cycles inside
one call, so the interface says how a plugin's answer can change from cycle to cycle:

- ``Plugin`` (static): its filter and score depend only on the placement and the cluster —
  never on bindings — so the framework evaluates it once per call for every cluster
  (ClusterAffinity, ClusterEligibility, TaintToleration, NamespaceAffinity).
- ``CyclePlugin``: depends on the bindings of the cycle, in one of two shapes that stay cheap
  over many cycles: per *partition* of clusters (``partition_key``, e.g. the topology domains a
  cluster is in: TopologySpreadConstraints) and per *named* cluster, for the few clusters that
  hold a binding (``already_selected`` / ``bonus``: SameCluster).

A cycle then costs O(partitions + bindings) instead of O(clusters), which is what makes the
one-cluster-per-cycle rule of topology spread affordable at 5,000 clusters.

The batch forms (``filter_bits``, ``score_many``, ``partition_keys``) read the fleet through
``CallState.index`` (reconciler/scheduler/index.py: built once per hub pass, shared by every
placement), so a filter is a few bitset operations rather than a loop over the fleet. The
per-cluster forms (``filter``, ``score``) stay the plain statement of each rule: the property
test in tests/reconciler/scheduler/test_determinism.py holds the batch path to them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.api.placement import Placement, PlacementPolicy, PlacementType
from reconciler.hub.clusters import ClusterState
from reconciler.scheduler.index import FleetIndex, bits_of
from reconciler.scheduler.model import ZERO, ClusterScore

# (the clusters that pass, by position; the reason for a position that does not)
Filtered = tuple[int, Callable[[int], str]]


@dataclass(slots=True)
class CallState:
    """Per-call state shared by plugins (KubeFleet's CycleState minus the bindings)."""

    placement: Placement
    policy: PlacementPolicy
    clusters: Sequence[ClusterState]  # every cluster in the fleet, ineligible ones included
    data: dict[str, Any] = field(default_factory=dict)  # plugin name -> its prepared state
    fleet: FleetIndex | None = None  # ``clusters`` indexed (built on first use when not given)

    @property
    def index(self) -> FleetIndex:
        if self.fleet is None:
            self.fleet = FleetIndex.build(self.clusters)
        return self.fleet

    @property
    def pick_n(self) -> bool:
        return self.policy.placement_type == PlacementType.PICK_N


@dataclass(frozen=True, slots=True)
class CycleState:
    """What changes between cycles: the bindings the cycle starts from."""

    selected: frozenset[str]  # clusters with a Scheduled/Bound binding of the current policy
    obsolete: frozenset[str]  # clusters with a Scheduled/Bound binding of an older policy
    desired_batch: int  # clusters still wanted (PickN: N - selected)


# A cycle plugin's verdict on one partition: (filter reason or None, score contribution).
Verdict = tuple[str | None, ClusterScore]
PASS: Verdict = (None, ZERO)


class Plugin:
    """A static plugin. Override the extension points it uses; the defaults are no-ops."""

    name = "Plugin"

    def pre_filter(self, call: CallState) -> bool:
        """Return False to skip this plugin's Filter for the whole call (KubeFleet Skip)."""
        return False

    def filter(self, call: CallState, cluster: ClusterState) -> str | None:
        """Why the cluster cannot be picked, or None when it passes."""
        return None

    def pre_score(self, call: CallState) -> bool:
        """Return False to skip this plugin's Score for the whole call."""
        return False

    def score(self, call: CallState, cluster: ClusterState) -> ClusterScore:
        return ZERO

    # Batch forms: the framework calls these for the whole fleet at once (``call.index``). The
    # defaults loop over ``filter``/``score``; a plugin on the hot path overrides them.
    def filter_bits(self, call: CallState) -> Filtered:
        """Which clusters (by index position) pass, and why one that does not fails."""
        index = call.index
        reasons: dict[int, str] = {}
        for i, c in enumerate(index.clusters):
            reason = self.filter(call, c)
            if reason is not None:
                reasons[i] = reason
        return index.all & ~bits_of(reasons, len(index.clusters)), reasons.__getitem__

    def score_many(self, call: CallState, positions: Sequence[int]) -> list[ClusterScore]:
        """The score of each cluster at ``positions`` (of ``call.index``)."""
        clusters = call.index.clusters
        return [self.score(call, clusters[p]) for p in positions]


class CyclePlugin:
    """A plugin whose verdicts depend on the bindings of each cycle."""

    name = "CyclePlugin"

    def post_batch(self, call: CallState, cycle: CycleState) -> int | None:
        """A batch size limit for this cycle, or None (KubeFleet PostBatch; Skip = None)."""
        return None

    def pre_filter(self, call: CallState) -> bool:
        """False: the plugin takes no part in this call."""
        return False

    def partition_key(self, call: CallState, cluster: ClusterState) -> Hashable:
        """Clusters with equal keys get equal verdicts from ``evaluate`` (computed once per call)."""
        return None

    def partition_keys(self, call: CallState, positions: Sequence[int]) -> list[Hashable]:
        """``partition_key`` of each cluster at ``positions`` (of ``call.index``)."""
        clusters = call.index.clusters
        return [self.partition_key(call, clusters[p]) for p in positions]

    def evaluate(self, call: CallState, cycle: CycleState) -> Callable[[Hashable], Verdict]:
        """The per-partition verdict for this cycle."""
        return lambda _key: PASS

    def already_selected(self, call: CallState, cycle: CycleState) -> frozenset[str]:
        """Clusters neither scored nor reported as filtered (KubeFleet ClusterAlreadySelected)."""
        return frozenset()

    def bonus(self, call: CallState, cycle: CycleState) -> Mapping[str, ClusterScore]:
        """Per-cluster score additions for the few clusters named."""
        return {}
