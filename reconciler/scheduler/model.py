"""The scheduler's data: bindings in, bindings and explained decisions out.

A ``Binding`` is KubeFleet's ClusterResourceBinding reduced to what scheduling needs: the
target cluster, its state (Scheduled → Bound by the rollout, Unscheduled when de-selected),
the hash of the policy it was scheduled under (KubeFleet's policy snapshot name), the score it
was picked with, and the state it had before being unscheduled (KubeFleet's
``previous-binding-state`` annotation), so a re-pick restores it.

``ClusterScore`` orders **lexicographically** — topology spread, then affinity, then the
obsolete-placement tiebreaker — never summed (KubeFleet ``ClusterScore.Less``). Decisions and
the ``Scheduled`` condition use KubeFleet's exact strings and JSON shape (``priorityScore`` is
the topology spread score's key in the API).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, NamedTuple

from reconciler.rollout.rolling import BindingState
from reconciler.status.conditions import Status

FULLY_SCHEDULED_REASON = "SchedulingPolicyFulfilled"
NOT_FULLY_SCHEDULED_REASON = "SchedulingPolicyUnfulfilled"
FULLY_SCHEDULED_MESSAGE = (
    "found all cluster needed as specified by the scheduling policy, found {n} cluster(s)"
)
NOT_FULLY_SCHEDULED_MESSAGE = (
    "could not find all clusters needed as specified by the scheduling policy, found {n} cluster(s) instead"
)
PICKED_MESSAGE = 'Successfully scheduled resources for placement in "{c}": picked by scheduling policy'
PICKED_WITH_SCORE_MESSAGE = (
    'Successfully scheduled resources for placement in "{c}" (affinity score: {a}, '
    "topology spread score: {t}): picked by scheduling policy"
)
NOT_PICKED_BY_SCORE = (
    'Cluster "{c}" does not score high enough (affinity score: {a}, topology spread score: {t})'
)
PICK_FIXED_INELIGIBLE = 'Cluster "{c}" is not eligible for resource placement yet: {r}'
PICK_FIXED_NOT_FOUND = 'Specified cluster "{c}" is not found'
# A filtered cluster's reason is the plugin Status's String(): code name, then the reasons.
CLUSTER_UNSCHEDULABLE = "ClusterUnschedulable"

DECISIONS_LIMIT = 1000  # clustersDecisionArrayLengthLimitInAPI
MAX_UNSELECTED_DECISIONS = 20  # maxUnselectedClusterDecisionCount


class ClusterScore(NamedTuple):
    """A cluster's score; as a tuple it compares lexicographically in field order, as KubeFleet's
    ``ClusterScore.Less`` does (immutable, and cheap enough to build 5,000 times a call)."""

    topology_spread: int = 0
    affinity: int = 0
    obsolete_placement_affinity: int = 0

    def plus(self, other: ClusterScore) -> ClusterScore:
        return ClusterScore(
            self[0] + other[0],
            self[1] + other[1],
            self[2] + other[2],
        )

    def stored(self) -> ClusterScore:
        """What a binding keeps: the API's ClusterScore has no obsolete-placement field."""
        return ClusterScore(self[0], self[1], 0)


ZERO = ClusterScore()


@dataclass(frozen=True, slots=True)
class Pick:
    """When the scheduler picked a cluster: the cycle (KubeFleet requeues after each cycle that
    hit a batch limit, e.g. one pick per cycle under topology spread) and the 1-based order of
    the pick, both counted on from the picks the placement already holds (so a later scale-up
    continues the numbering). fleetsync's addition to a selected ClusterDecision
    (``schedulingCycle``, ``pickOrder``): the decisions list keeps KubeFleet's grouping, which
    does not show the order in which PickN chose."""

    cycle: int
    order: int


@dataclass(frozen=True, slots=True)
class Binding:
    cluster: str
    state: BindingState
    policy_hash: str
    score: ClusterScore | None = None
    previous_state: BindingState | None = None
    # when it was picked; not part of the decision's identity (KubeFleet has no such field)
    pick: Pick | None = field(default=None, compare=False)

    @property
    def selected(self) -> bool:
        return self.state in (BindingState.SCHEDULED, BindingState.BOUND)

    def unscheduled(self) -> Binding:
        """KubeFleet ``markUnscheduledForAndUpdate``: remember the state, then unschedule."""
        return replace(self, state=BindingState.UNSCHEDULED, previous_state=self.state)

    def decision(self) -> ClusterDecision:
        """The decision KubeFleet stored in the binding when it was (re)picked."""
        if self.score is None:
            return ClusterDecision(self.cluster, True, None, PICKED_MESSAGE.format(c=self.cluster))
        return ClusterDecision(
            self.cluster,
            True,
            self.score,
            PICKED_WITH_SCORE_MESSAGE.format(
                c=self.cluster, a=self.score.affinity, t=self.score.topology_spread
            ),
        )

    @staticmethod
    def from_dict(doc: Mapping[str, Any]) -> Binding:
        """Read back ``to_dict`` output (the hub's memory in fleet/status); ValueError when malformed."""
        try:
            score_doc = doc.get("score")
            score = (
                None
                if score_doc is None
                else ClusterScore(int(score_doc["priorityScore"]), int(score_doc["affinityScore"]), 0)
            )
            previous = doc.get("previousState")
            return Binding(
                cluster=str(doc["cluster"]),
                state=BindingState(doc["state"]),
                policy_hash=str(doc["policyHash"]),
                score=score,
                previous_state=None if previous is None else BindingState(previous),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed binding {dict(doc)!r}: {e}") from e

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cluster": self.cluster,
            "state": str(self.state),
            "policyHash": self.policy_hash,
        }
        if self.score is not None:
            out["score"] = {"affinityScore": self.score.affinity, "priorityScore": self.score.topology_spread}
        if self.previous_state is not None:
            out["previousState"] = str(self.previous_state)
        return out


@dataclass(frozen=True, slots=True)
class ClusterDecision:
    cluster_name: str
    selected: bool
    score: ClusterScore | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"clusterName": self.cluster_name, "selected": self.selected}
        if self.score is not None:
            out["clusterScore"] = {
                "affinityScore": self.score.affinity,
                "priorityScore": self.score.topology_spread,
            }
        out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class ScheduledCondition:
    status: Status
    reason: str
    message: str

    @staticmethod
    def from_count(found: int, desired: int) -> ScheduledCondition:
        if found < desired:
            return ScheduledCondition(
                Status.FALSE, NOT_FULLY_SCHEDULED_REASON, NOT_FULLY_SCHEDULED_MESSAGE.format(n=found)
            )
        return ScheduledCondition(
            Status.TRUE, FULLY_SCHEDULED_REASON, FULLY_SCHEDULED_MESSAGE.format(n=found)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "Scheduled",
            "status": str(self.status),
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Schedule:
    """One placement's scheduling result: the new full binding set and why."""

    placement: str  # Placement.key
    policy_hash: str
    policy_index: int
    bindings: tuple[Binding, ...]  # sorted by cluster, Unscheduled ones included
    decisions: tuple[ClusterDecision, ...]
    condition: ScheduledCondition
    cluster_count: int  # clusters observed in the fleet when scheduling
    cycles: int = 1  # KubeFleet scheduling cycles this result took (topology spread: one pick each)
    # selected clusters whose pick is known (this call's, and those remembered with a binding)
    picks: Mapping[str, Pick] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def selected(self) -> tuple[str, ...]:
        return tuple(b.cluster for b in self.bindings if b.selected)

    def binding(self, cluster: str) -> Binding | None:
        for b in self.bindings:
            if b.cluster == cluster:
                return b
        return None

    def decision_docs(self) -> list[dict[str, Any]]:
        """``clusterDecisions`` in KubeFleet's shape, a selected one with fleetsync's
        ``schedulingCycle`` and ``pickOrder`` when this call picked it."""
        out: list[dict[str, Any]] = []
        for d in self.decisions:
            doc = d.to_dict()
            pick = self.picks.get(d.cluster_name) if d.selected else None
            if pick is not None:
                doc["schedulingCycle"] = pick.cycle
                doc["pickOrder"] = pick.order
            out.append(doc)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "placement": self.placement,
            "policyHash": self.policy_hash,
            "policyIndex": self.policy_index,
            "observedClusterCount": self.cluster_count,
            "conditions": [self.condition.to_dict()],
            "clusterDecisions": self.decision_docs(),
            "bindings": [b.to_dict() for b in self.bindings],
        }
