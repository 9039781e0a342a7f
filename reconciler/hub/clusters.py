"""Cluster state: a MemberCluster from the repo merged with what its agent last reported.

The scheduler sees a fleet the way KubeFleet's scheduler sees its MemberCluster objects: labels,
taints, properties, resource usage and whether the cluster is eligible for new placements
(``pkg/scheduler/clustereligibilitychecker``). In fleetsync the repo declares the cluster and
the agent's report/heartbeat (docs/formats.md §2, §3) supplies the observed part; the
observation wins for whatever it reports, the repo fills in the rest (a cluster whose agent
cannot measure cost can still declare it).

Eligibility is KubeFleet's checker, in its order, first failure wins, with fleetsync meanings:

1. a MemberCluster that is leaving (annotation ``fleetsync.io/leave`` or a
   ``metadata.deletionTimestamp`` in the repo, reconciler/api/membercluster.py) "has left the
   fleet", KubeFleet's words for a MemberCluster with a deletionTimestamp; the scheduler also
   treats its bindings as dangling (unscheduled), so its placed objects leave its bundle
   (docs/hub.md "Leaving the fleet"). A MemberCluster deleted from the repo is gone: it is simply
   absent from the list (its bindings become dangling too, reconciler/scheduler/framework.py);
2. no observation ever (no report, no heartbeat) = "member agent not online yet";
3. last heartbeat older than the timeout (default 5 min, KubeFleet's, a repo setting);
4. (KubeFleet's ``Joined`` condition has no fleetsync equivalent: a reporting agent has joined);
5. health never reported;
6. unhealthy for longer than the health timeout (5 min); shorter blips are tolerated.

The verdict is data, ``Ineligibility`` (a closed vocabulary of reasons plus when the last
heartbeat was received or the health last transitioned), never a sentence: whoever writes it
makes the text — ``summary`` for the MemberCluster annotation, ``message`` for the scheduler's
reasons — and the hub's quiet-pass check compares reasons without cutting a message apart.
KubeFleet's message says "last received 6.00 minutes ago"; fleetsync's says "last received at"
an RFC 3339 time instead, because the scheduler's reasons land in ``fleet/status`` and an age
would make every poll a new status commit while a cluster stays silent (issue 15).

Property values are parsed into exact quantities **once**, here, so a scheduling call never
parses text: ``quantities`` holds every non-resource property that is a Kubernetes quantity and
every resource property derived from resource usage (``resources.kubernetes-fleet.io/
<total|allocatable|available>-<resource>``). A value that is not a quantity is left out, which
makes any selector on it "not matching" (KubeFleet errors the whole cycle; fleetsync must never
stop scheduling every placement because of one bad report).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

from fleetsync_contract.quantity import QuantityError, parse_quantity
from fleetsync_contract.report import ClusterReport, Heartbeat, format_time, parse_time
from reconciler.api.membercluster import MEMBER_NAME_LABEL, LeaveMode, MemberCluster, ResourceUsage, Taint
from reconciler.api.meta import empty_map

RESOURCE_PROPERTY_PREFIX = "resources.kubernetes-fleet.io/"
NODE_COUNT_PROPERTY = "kubernetes-fleet.io/node-count"
# capacity type in the property name -> ResourceUsage field (KubeFleet propertyprovider names)
CAPACITY_TYPES = {"total": "capacity", "allocatable": "allocatable", "available": "available"}

DEFAULT_HEARTBEAT_TIMEOUT = timedelta(minutes=5)
DEFAULT_HEALTH_TIMEOUT = timedelta(minutes=5)

# Bounds on what one report may carry into the scheduler (a report is untrusted input).
MAX_PROPERTIES = 256
MAX_RESOURCES = 64
MAX_VALUE_CHARS = 64

NOT_CONNECTED = "cluster is not connected to the fleet"


class IneligibleReason(StrEnum):
    """Why KubeFleet's eligibility checker refuses a cluster, in its words (after ``NOT_CONNECTED``,
    except ``LEFT``, which KubeFleet says alone)."""

    LEFT = "cluster has left the fleet"
    NOT_ONLINE = "member agent not online yet"
    NO_RECENT_HEARTBEAT = "no recent heartbeat signals"
    NO_HEALTH = "health condition from member agent is not available"
    UNHEALTHY_TOO_LONG = "unhealthy for a prolonged period of time"


@dataclass(frozen=True, slots=True)
class Ineligibility:
    """A cluster's ineligibility: the reason, and for a stale heartbeat or a long unhealthiness when
    the last heartbeat was received or the health last transitioned (None: unknown)."""

    reason: IneligibleReason
    last: datetime | None = None

    @property
    def summary(self) -> str:
        """The reason alone (the MemberCluster annotation)."""
        if self.reason is IneligibleReason.LEFT:
            return str(self.reason)
        return f"{NOT_CONNECTED}: {self.reason}"

    @property
    def message(self) -> str:
        """KubeFleet's full message with an absolute time instead of an age (the scheduler's
        reason for not picking): it lands in status, so it must not change with the clock."""
        if self.reason is IneligibleReason.NO_RECENT_HEARTBEAT and self.last is not None:
            return f"{self.summary} (last received at {format_time(self.last)})"
        if self.reason is IneligibleReason.UNHEALTHY_TOO_LONG:
            # KubeFleet would measure from Go's zero time: unhealthy since forever.
            when = (
                "last transition unknown"
                if self.last is None
                else f"last transitioned at {format_time(self.last)}"
            )
            return f"{self.summary} ({when})"
        return self.summary


@dataclass(frozen=True, slots=True)
class ClusterObservation:
    """What the hub learned about one cluster from its agent (report.yaml + heartbeat ref)."""

    heartbeat_time: datetime | None = None
    healthy: bool | None = None
    health_transition_time: datetime | None = None
    properties: Mapping[str, str] = field(default_factory=empty_map)
    resource_usage: ResourceUsage | None = None
    # None: the agent does not collect namespaces (NamespaceAffinity does not filter).
    namespaces: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class ClusterState:
    """One cluster as the scheduler sees it, with eligibility decided and quantities parsed."""

    name: str
    labels: Mapping[str, str] = field(default_factory=empty_map)
    taints: tuple[Taint, ...] = ()
    ineligibility: Ineligibility | None = None  # None: eligible
    # Property values as text (for status / display), after merging repo and report.
    properties: Mapping[str, str] = field(default_factory=empty_map)
    resource_usage: ResourceUsage | None = None
    # Every property that has a quantity value, including derived resource properties.
    quantities: Mapping[str, Fraction] = field(default_factory=empty_map)
    namespaces: frozenset[str] | None = None
    heartbeat_time: datetime | None = None
    healthy: bool | None = None
    leave: LeaveMode | None = None  # None: a member; else leaving the fleet, and how

    @property
    def leaving(self) -> bool:
        return self.leave is not None

    def quantity(self, name: str) -> Fraction | None:
        """A property's value per KubeFleet §1.1; None when unavailable or not a quantity."""
        return self.quantities.get(name)

    @property
    def eligible(self) -> bool:
        return self.ineligibility is None

    @property
    def ineligible_reason(self) -> str:
        """The scheduler's text for an ineligible cluster ("" when eligible)."""
        return self.ineligibility.message if self.ineligibility is not None else ""


def _time(text: str) -> datetime | None:
    try:
        return parse_time(text) if text else None
    except ValueError:
        return None


def observation_from_report(
    report: ClusterReport | None, heartbeat: Heartbeat | None = None
) -> ClusterObservation:
    """What the hub observes from a cluster's report branch and heartbeat ref (docs/formats.md §2-§3).

    The last heartbeat is the newer of the heartbeat's time and the report's ``observedTime``;
    health comes from whichever of the two is newer. A time that does not parse counts as absent.
    """
    times: list[tuple[datetime, str]] = []
    if report is not None and (t := _time(report.observed_time)) is not None:
        times.append((t, "report"))
    if heartbeat is not None and (t := _time(heartbeat.time)) is not None:
        times.append((t, "heartbeat"))
    if not times:
        return ClusterObservation()
    newest_time, newest = max(times)
    if newest == "heartbeat" and heartbeat is not None:
        health = heartbeat.health
    else:
        assert report is not None  # the newest time came from the report
        health = report.health
    properties: dict[str, str] = {}
    usage: ResourceUsage | None = None
    if report is not None:
        properties = {name: pv.value for name, pv in report.properties.items()}
        ru = report.resource_usage
        usage = ResourceUsage(
            capacity=MappingProxyType(dict(ru.capacity)),
            allocatable=MappingProxyType(dict(ru.allocatable)),
            available=MappingProxyType(dict(ru.available)),
            observation_time=ru.observation_time or None,
        )
    return ClusterObservation(
        heartbeat_time=newest_time,
        healthy=health.healthy,
        health_transition_time=_time(health.last_transition_time),
        properties=MappingProxyType(properties),
        resource_usage=usage,
    )


def eligibility(
    observation: ClusterObservation | None,
    now: datetime,
    heartbeat_timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT,
    health_timeout: timedelta = DEFAULT_HEALTH_TIMEOUT,
    *,
    leaving: bool = False,
) -> Ineligibility | None:
    """KubeFleet's eligibility checker over fleetsync's observation; None when eligible."""
    if leaving:
        return Ineligibility(IneligibleReason.LEFT)
    if observation is None or observation.heartbeat_time is None:
        return Ineligibility(IneligibleReason.NOT_ONLINE)
    if now - observation.heartbeat_time > heartbeat_timeout:
        return Ineligibility(IneligibleReason.NO_RECENT_HEARTBEAT, observation.heartbeat_time)
    if observation.healthy is None:
        return Ineligibility(IneligibleReason.NO_HEALTH)
    if not observation.healthy:
        if observation.health_transition_time is None:
            return Ineligibility(IneligibleReason.UNHEALTHY_TOO_LONG)
        if now - observation.health_transition_time > health_timeout:
            return Ineligibility(IneligibleReason.UNHEALTHY_TOO_LONG, observation.health_transition_time)
    return None


def _merge_usage(declared: ResourceUsage | None, observed: ResourceUsage | None) -> ResourceUsage | None:
    """Per resource and capacity type, the observed value wins over the declared one."""
    if observed is None:
        return declared
    if declared is None:
        return observed

    def merged(a: Mapping[str, str], b: Mapping[str, str]) -> Mapping[str, str]:
        return MappingProxyType({**a, **b})

    return ResourceUsage(
        capacity=merged(declared.capacity, observed.capacity),
        allocatable=merged(declared.allocatable, observed.allocatable),
        available=merged(declared.available, observed.available),
        observation_time=observed.observation_time or declared.observation_time,
    )


def _as_quantity(text: object) -> Fraction | None:
    if not isinstance(text, str) or len(text) > MAX_VALUE_CHARS:
        return None
    try:
        return parse_quantity(text)
    except QuantityError:
        return None


def derive_quantities(properties: Mapping[str, str], usage: ResourceUsage | None) -> dict[str, Fraction]:
    """Every property value that is a quantity, resource properties derived from usage (§1.1).

    A resource property name's suffix must split on ``-`` into exactly two non-empty parts
    (``total-cpu``), so a resource whose own name contains a dash (``ephemeral-storage``) has
    no property, as in the KubeFleet snapshot the spec was read from.
    """
    out: dict[str, Fraction] = {}
    for name, value in list(properties.items())[:MAX_PROPERTIES]:
        if name.startswith(RESOURCE_PROPERTY_PREFIX):
            continue  # resource properties come from resourceUsage only
        q = _as_quantity(value)
        if q is not None:
            out[name] = q
    if usage is not None:
        for capacity_type, attr in CAPACITY_TYPES.items():
            values: Mapping[str, str] = getattr(usage, attr)
            for resource, value in list(values.items())[:MAX_RESOURCES]:
                if not resource or "-" in resource:
                    continue
                q = _as_quantity(value)
                if q is not None:
                    out[f"{RESOURCE_PROPERTY_PREFIX}{capacity_type}-{resource}"] = q
    return out


def cluster_state(
    member: MemberCluster,
    observation: ClusterObservation | None,
    now: datetime,
    *,
    heartbeat_timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT,
    health_timeout: timedelta = DEFAULT_HEALTH_TIMEOUT,
) -> ClusterState:
    """Merge one MemberCluster with its agent's observation and decide eligibility."""
    labels = dict(member.labels)
    labels.setdefault(MEMBER_NAME_LABEL, member.name)  # KubeFleet adds it to every MemberCluster
    properties = {name: pv.value for name, pv in member.properties.items()}
    usage = member.resource_usage
    namespaces: frozenset[str] | None = None
    if observation is not None:
        properties.update(observation.properties)
        usage = _merge_usage(usage, observation.resource_usage)
        namespaces = observation.namespaces
    return ClusterState(
        name=member.name,
        labels=MappingProxyType(labels),
        taints=member.taints,
        ineligibility=eligibility(
            observation, now, heartbeat_timeout, health_timeout, leaving=member.leave is not None
        ),
        properties=MappingProxyType(properties),
        resource_usage=usage,
        quantities=MappingProxyType(derive_quantities(properties, usage)),
        namespaces=namespaces,
        heartbeat_time=None if observation is None else observation.heartbeat_time,
        healthy=None if observation is None else observation.healthy,
        leave=member.leave,
    )


def cluster_states(
    members: Iterable[MemberCluster],
    observations: Mapping[str, ClusterObservation],
    now: datetime,
    *,
    heartbeat_timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT,
    health_timeout: timedelta = DEFAULT_HEALTH_TIMEOUT,
) -> tuple[ClusterState, ...]:
    """The fleet as the scheduler sees it, sorted by name; reports of unknown clusters are ignored."""
    states = [
        cluster_state(
            m,
            observations.get(m.name),
            now,
            heartbeat_timeout=heartbeat_timeout,
            health_timeout=health_timeout,
        )
        for m in members
    ]
    return tuple(sorted(states, key=lambda s: s.name))
