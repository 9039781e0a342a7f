"""Evictions and disruption budgets of ClusterResourcePlacements (KubeFleet §11).

An eviction asks to remove one placement's resources from one cluster, once; a disruption
budget (named like its placement) says how many clusters may be down for voluntary
disruptions. Both are parsed here with KubeFleet's schema rules; whether an eviction is valid
against the placement it names (exists, not PickFixed, has a binding there) is decided when it
is executed, as KubeFleet's controller does, not here. Both served versions (v1alpha1 and
v1beta1; KubeFleet has no v1 of these kinds, reconciler/api/served.py) share one shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.api.fields import Fields
from reconciler.api.meta import Named, ObjectMeta, Origin, parse_metadata
from reconciler.api.registry import KindInfo

GROUP = "placement.kubernetes-fleet.io"
EVICTION_KIND = "ClusterResourcePlacementEviction"
BUDGET_KIND = "ClusterResourcePlacementDisruptionBudget"

_PERCENT = re.compile(r"^(100|[0-9]{1,2})%$")


@dataclass(frozen=True, slots=True)
class Eviction(Named):
    api_version: str
    meta: ObjectMeta
    origin: Origin
    placement_name: str
    cluster_name: str

    @property
    def placement_key(self) -> str:
        return f"ClusterResourcePlacement/{self.placement_name}"


@dataclass(frozen=True, slots=True)
class DisruptionBudget(Named):
    """Exactly one of ``max_unavailable`` / ``min_available`` is set (an int >= 0 or "N%")."""

    api_version: str
    meta: ObjectMeta
    origin: Origin
    max_unavailable: int | str | None = None
    min_available: int | str | None = None

    @property
    def placement_key(self) -> str:
        """A budget applies to the ClusterResourcePlacement of the same name."""
        return f"ClusterResourcePlacement/{self.meta.name}"


def parse_eviction(f: Fields, api_version: str, origin: Origin) -> Eviction:
    meta = parse_metadata(f.map("metadata", required=True), namespaced=False)
    spec = f.map("spec", required=True)
    f.ignore("status")  # server output; fleetsync records execution in fleet/status
    f.done()
    placement = cluster = ""
    if spec is not None:
        placement = spec.str("placementName", "", required=True, max_len=255) or ""
        cluster = spec.str("clusterName", "", required=True, max_len=255) or ""
        spec.done()
    return Eviction(api_version, meta, origin, placement, cluster)


def parse_disruption_budget(f: Fields, api_version: str, origin: Origin) -> DisruptionBudget:
    meta = parse_metadata(f.map("metadata", required=True), namespaced=False)
    spec = f.map("spec", required=True)
    f.ignore("status")
    f.done()
    if spec is None:
        return DisruptionBudget(api_version, meta, origin)
    hint = "an integer >= 0 or a percentage from 0% to 100%"
    values: list[int | str | None] = []
    for key in ("maxUnavailable", "minAvailable"):
        v = spec.int_or_str(key, pattern=_PERCENT, pattern_hint=hint, minimum=0)
        values.append(v)
    spec.done()
    max_unavailable, min_available = values
    if spec.has("maxUnavailable") and spec.has("minAvailable"):
        spec.error(None, "set exactly one of maxUnavailable and minAvailable, not both")
    elif not spec.has("maxUnavailable") and not spec.has("minAvailable"):
        spec.error(None, "set exactly one of maxUnavailable and minAvailable (e.g. minAvailable: 1)")
    return DisruptionBudget(api_version, meta, origin, max_unavailable, min_available)


KINDS: list[KindInfo] = [
    KindInfo(GROUP, EVICTION_KIND, False, parse_eviction, "crpe"),
    KindInfo(GROUP, BUDGET_KIND, False, parse_disruption_budget, "crpdb"),
]
