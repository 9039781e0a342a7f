"""MemberCluster (``cluster.kubernetes-fleet.io``): a cluster that has joined the fleet.

Joining is committing the object, leaving is deleting it (v1beta1 has no ``state``). ``status``
is accepted and kept: a MemberCluster may declare properties and resource usage there for
clusters whose agent cannot report them; an agent's report wins for whatever it reports
(reconciler/clusters.py merges them). ``spec.identity`` is how a member reaches a hub
*cluster*; fleetsync has none, so it is accepted and ignored, never required.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.api.meta import ObjectMeta, Origin, empty_map
from reconciler.api.registry import KindInfo

GROUP = "cluster.kubernetes-fleet.io"
KIND = "MemberCluster"
MEMBER_NAME_LABEL = "kubernetes-fleet.io/member-name"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"


@dataclass(frozen=True, slots=True)
class PropertyValue:
    value: str
    observation_time: str | None = None


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    capacity: Mapping[str, str] = field(default_factory=empty_map)
    allocatable: Mapping[str, str] = field(default_factory=empty_map)
    available: Mapping[str, str] = field(default_factory=empty_map)
    observation_time: str | None = None


@dataclass(frozen=True, slots=True)
class MemberCluster:
    api_version: str
    meta: ObjectMeta
    origin: Origin
    heartbeat_period_seconds: int = 60
    taints: tuple[Taint, ...] = ()
    delete_validation_mode: str = "Strict"
    # Declared in `status` by the repo author (or copied from `kubectl get -o yaml`).
    properties: Mapping[str, PropertyValue] = field(default_factory=empty_map)
    resource_usage: ResourceUsage | None = None
    status: Mapping[str, Any] = field(default_factory=empty_map)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def labels(self) -> Mapping[str, str]:
        return self.meta.labels

KINDS: list[KindInfo] = []  # filled by the parse section below
