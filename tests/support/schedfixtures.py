"""Fleet, placement and binding builders for scheduler tests (dataclasses built directly)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from reconciler.api.membercluster import MemberCluster, PropertyValue, ResourceUsage, Taint
from reconciler.api.meta import LabelSelector, ObjectMeta, Origin, Requirement
from reconciler.api.placement import (
    ClusterAffinity,
    ClusterSelectorTerm,
    Placement,
    PlacementPolicy,
    PlacementType,
    PreferredClusterSelector,
    PropertyOperator,
    PropertySelectorRequirement,
    PropertySorter,
    ResourceSelector,
    SortOrder,
    Toleration,
    TopologySpreadConstraint,
    WhenUnsatisfiable,
)
from reconciler.hub.clusters import ClusterObservation, ClusterState, cluster_state
from reconciler.rollout.rolling import BindingState
from reconciler.scheduler import Binding, ClusterScore, Schedule, schedule
from reconciler.scheduler.framework import scheduling_policy_hash

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
ORIGIN = Origin("fleet/placement.yaml", 1)
SELECTORS = (ResourceSelector("", "v1", "Namespace", name="web"),)

__all__ = [
    "NOW",
    "BindingState",
    "ClusterScore",
    "PlacementType",
    "PropertyOperator",
    "SortOrder",
    "Taint",
    "Toleration",
    "WhenUnsatisfiable",
]


def member(
    name: str,
    labels: Mapping[str, str] | None = None,
    *,
    taints: Sequence[Taint] = (),
    properties: Mapping[str, str] | None = None,
    usage: ResourceUsage | None = None,
) -> MemberCluster:
    return MemberCluster(
        api_version="cluster.kubernetes-fleet.io/v1beta1",
        meta=ObjectMeta(name, labels=MappingProxyType(dict(labels or {}))),
        origin=Origin(f"clusters/{name}.yaml", 1),
        taints=tuple(taints),
        properties=MappingProxyType({k: PropertyValue(v) for k, v in (properties or {}).items()}),
        resource_usage=usage,
    )


def healthy(
    *,
    age: timedelta = timedelta(seconds=30),
    properties: Mapping[str, str] | None = None,
    usage: ResourceUsage | None = None,
    namespaces: frozenset[str] | None = None,
) -> ClusterObservation:
    return ClusterObservation(
        heartbeat_time=NOW - age,
        healthy=True,
        health_transition_time=NOW - timedelta(days=1),
        properties=MappingProxyType(dict(properties or {})),
        resource_usage=usage,
        namespaces=namespaces,
    )


def unhealthy(for_: timedelta, properties: Mapping[str, str] | None = None) -> ClusterObservation:
    return ClusterObservation(
        heartbeat_time=NOW,
        healthy=False,
        health_transition_time=NOW - for_,
        properties=MappingProxyType(dict(properties or {})),
    )


def cluster(
    name: str,
    labels: Mapping[str, str] | None = None,
    *,
    taints: Sequence[Taint] = (),
    properties: Mapping[str, str] | None = None,
    observation: ClusterObservation | str | None = "healthy",
) -> ClusterState:
    """A cluster whose agent reports ``properties``; ``observation=None`` = agent never reported."""
    obs = healthy(properties=properties) if observation == "healthy" else observation
    assert not isinstance(obs, str)
    return cluster_state(member(name, labels, taints=taints), obs, NOW)


def numbered(n: int, **labels_by_index: str) -> list[ClusterState]:
    return [cluster(f"cluster-{i}") for i in range(1, n + 1)]


def selector(**labels: str) -> LabelSelector:
    return LabelSelector(MappingProxyType(dict(labels)))


def exists(key: str) -> LabelSelector:
    return LabelSelector(match_expressions=(Requirement(key, "Exists"),))


def prop(name: str, op: PropertyOperator, value: str) -> PropertySelectorRequirement:
    return PropertySelectorRequirement(name, op, (value,))


def term(
    labels: LabelSelector | None = None,
    *props: PropertySelectorRequirement,
    sorter: PropertySorter | None = None,
) -> ClusterSelectorTerm:
    return ClusterSelectorTerm(labels, tuple(props), sorter)


def prefer(weight: int, t: ClusterSelectorTerm) -> PreferredClusterSelector:
    return PreferredClusterSelector(weight, t)


def sorter(name: str, order: SortOrder = SortOrder.DESCENDING) -> PropertySorter:
    return PropertySorter(name, order)


def spread(
    key: str, max_skew: int = 1, when: WhenUnsatisfiable = WhenUnsatisfiable.DO_NOT_SCHEDULE
) -> TopologySpreadConstraint:
    return TopologySpreadConstraint(key, max_skew, when)


def pick_n(
    n: int,
    *,
    required: Sequence[ClusterSelectorTerm] | None = None,
    preferred: Sequence[PreferredClusterSelector] = (),
    spreads: Sequence[TopologySpreadConstraint] = (),
    tolerations: Sequence[Toleration] = (),
) -> PlacementPolicy:
    affinity = None
    if required is not None or preferred:
        affinity = ClusterAffinity(None if required is None else tuple(required), tuple(preferred))
    return PlacementPolicy(
        PlacementType.PICK_N,
        number_of_clusters=n,
        affinity=affinity,
        topology_spread_constraints=tuple(spreads),
        tolerations=tuple(tolerations),
    )


def pick_all(
    *, required: Sequence[ClusterSelectorTerm] | None = None, tolerations: Sequence[Toleration] = ()
) -> PlacementPolicy:
    affinity = None if required is None else ClusterAffinity(tuple(required))
    return PlacementPolicy(PlacementType.PICK_ALL, affinity=affinity, tolerations=tuple(tolerations))


def pick_fixed(*names: str) -> PlacementPolicy:
    return PlacementPolicy(PlacementType.PICK_FIXED, cluster_names=names)


def crp(policy: PlacementPolicy | None, name: str = "web") -> Placement:
    return Placement(
        "ClusterResourcePlacement",
        "placement.kubernetes-fleet.io/v1beta1",
        ObjectMeta(name),
        ORIGIN,
        SELECTORS,
        policy,
    )


def rp(policy: PlacementPolicy | None, namespace: str, name: str = "web") -> Placement:
    return Placement(
        "ResourcePlacement",
        "placement.kubernetes-fleet.io/v1beta1",
        ObjectMeta(name, namespace),
        ORIGIN,
        (ResourceSelector("", "v1", "ConfigMap", name="settings"),),
        policy,
    )


def bound(placement: Placement, *clusters: str, score: ClusterScore | None = None) -> list[Binding]:
    h = scheduling_policy_hash(placement)
    return [Binding(c, BindingState.BOUND, h, score or ClusterScore()) for c in clusters]


def run(placement: Placement, clusters: Sequence[ClusterState], previous: Sequence[Binding] = ()) -> Schedule:
    return schedule(placement, clusters, previous, 0, NOW)


def reasons(s: Schedule) -> dict[str, str]:
    return {d.cluster_name: d.reason for d in s.decisions}
