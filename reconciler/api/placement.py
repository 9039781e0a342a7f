"""ClusterResourcePlacement and ResourcePlacement (KubeFleet ``PlacementSpec``).

Both kinds share one frozen model, as upstream shares ``PlacementSpec``; ``kind`` tells them
apart. Absent and empty differ wherever KubeFleet makes them differ, so optional sub-objects
stay ``None`` when the YAML leaves them out (e.g. a nil ``policy`` is "PickAll of every
cluster", a nil required affinity is "no constraint"). Defaults are KubeFleet's CRD defaults.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.api.meta import LabelSelector, ObjectMeta, Origin
from reconciler.api.registry import KindInfo

GROUP = "placement.kubernetes-fleet.io"
CRP_KIND = "ClusterResourcePlacement"
RP_KIND = "ResourcePlacement"


class PlacementType(StrEnum):
    PICK_ALL = "PickAll"
    PICK_N = "PickN"
    PICK_FIXED = "PickFixed"


class SelectionScope(StrEnum):
    NAMESPACE_ONLY = "NamespaceOnly"
    NAMESPACE_WITH_RESOURCES = "NamespaceWithResources"
    NAMESPACE_WITH_RESOURCE_SELECTORS = "NamespaceWithResourceSelectors"


class PropertyOperator(StrEnum):
    GT = "Gt"
    GE = "Ge"
    EQ = "Eq"
    NE = "Ne"
    LT = "Lt"
    LE = "Le"


class SortOrder(StrEnum):
    ASCENDING = "Ascending"
    DESCENDING = "Descending"


@dataclass(frozen=True, slots=True)
class ResourceSelector:
    """One ``resourceSelectors`` term: GVK plus name XOR label selector (neither = all of the kind)."""

    group: str
    version: str
    kind: str
    name: str | None = None
    label_selector: LabelSelector | None = None
    # Only meaningful for kind Namespace; KubeFleet's default is NamespaceWithResources.
    selection_scope: SelectionScope = SelectionScope.NAMESPACE_WITH_RESOURCES


@dataclass(frozen=True, slots=True)
class PropertySelectorRequirement:
    name: str
    operator: PropertyOperator
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PropertySorter:
    name: str
    sort_order: SortOrder


@dataclass(frozen=True, slots=True)
class ClusterSelectorTerm:
    label_selector: LabelSelector | None = None
    property_selector: tuple[PropertySelectorRequirement, ...] = ()
    property_sorter: PropertySorter | None = None


@dataclass(frozen=True, slots=True)
class PreferredClusterSelector:
    weight: int
    preference: ClusterSelectorTerm


@dataclass(frozen=True, slots=True)
class ClusterAffinity:
    # None: no required constraint (every cluster passes); a tuple: ORed terms.
    required: tuple[ClusterSelectorTerm, ...] | None = None
    preferred: tuple[PreferredClusterSelector, ...] = ()


class WhenUnsatisfiable(StrEnum):
    DO_NOT_SCHEDULE = "DoNotSchedule"
    SCHEDULE_ANYWAY = "ScheduleAnyway"


@dataclass(frozen=True, slots=True)
class TopologySpreadConstraint:
    topology_key: str
    max_skew: int = 1
    when_unsatisfiable: WhenUnsatisfiable = WhenUnsatisfiable.DO_NOT_SCHEDULE


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"  # Equal | Exists
    value: str = ""
    effect: str = ""  # "" | NoSchedule


@dataclass(frozen=True, slots=True)
class PlacementPolicy:
    placement_type: PlacementType = PlacementType.PICK_ALL
    cluster_names: tuple[str, ...] = ()
    number_of_clusters: int | None = None
    affinity: ClusterAffinity | None = None
    topology_spread_constraints: tuple[TopologySpreadConstraint, ...] = ()
    tolerations: tuple[Toleration, ...] = ()

    def digest(self) -> str:
        """Content hash of the policy: a new hash is a new policy snapshot (KubeFleet §9)."""
        return policy_digest(self)


def policy_digest(policy: PlacementPolicy | None) -> str:
    doc: Any = None if policy is None else _plain(asdict(policy))
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "items"):  # MappingProxyType
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class RolloutStrategyType(StrEnum):
    ROLLING_UPDATE = "RollingUpdate"
    EXTERNAL = "External"


@dataclass(frozen=True, slots=True)
class RollingUpdateConfig:
    max_unavailable: int | str = "25%"
    max_surge: int | str = "25%"
    unavailable_period_seconds: int = 60


class ApplyType(StrEnum):
    CLIENT_SIDE_APPLY = "ClientSideApply"
    SERVER_SIDE_APPLY = "ServerSideApply"
    REPORT_DIFF = "ReportDiff"


class ComparisonOption(StrEnum):
    PARTIAL = "PartialComparison"
    FULL = "FullComparison"


class WhenToApply(StrEnum):
    ALWAYS = "Always"
    IF_NOT_DRIFTED = "IfNotDrifted"


class WhenToTakeOver(StrEnum):
    ALWAYS = "Always"
    IF_NO_DIFF = "IfNoDiff"
    NEVER = "Never"


@dataclass(frozen=True, slots=True)
class ApplyStrategy:
    type: ApplyType = ApplyType.CLIENT_SIDE_APPLY
    comparison_option: ComparisonOption = ComparisonOption.PARTIAL
    when_to_apply: WhenToApply = WhenToApply.ALWAYS
    when_to_take_over: WhenToTakeOver = WhenToTakeOver.ALWAYS
    allow_co_ownership: bool = False
    server_side_apply_force: bool = False

    def to_dict(self) -> dict[str, Any]:
        """KubeFleet's YAML shape (what bundles carry and status shows)."""
        out: dict[str, Any] = {
            "type": str(self.type),
            "comparisonOption": str(self.comparison_option),
            "whenToApply": str(self.when_to_apply),
            "whenToTakeOver": str(self.when_to_take_over),
            "allowCoOwnership": self.allow_co_ownership,
        }
        if self.type == ApplyType.SERVER_SIDE_APPLY:
            out["serverSideApplyConfig"] = {"force": self.server_side_apply_force}
        return out


@dataclass(frozen=True, slots=True)
class RolloutStrategy:
    type: RolloutStrategyType = RolloutStrategyType.ROLLING_UPDATE
    rolling_update: RollingUpdateConfig = field(default_factory=RollingUpdateConfig)
    apply_strategy: ApplyStrategy = field(default_factory=ApplyStrategy)
    delete_propagation_policy: str = "Delete"  # Delete | Abandon
    report_back_type: str = "Disabled"  # Disabled | Mirror
    report_back_destination: str = ""  # OriginalResource | WorkAPI


@dataclass(frozen=True, slots=True)
class Placement:
    """A ClusterResourcePlacement (cluster-scoped) or ResourcePlacement (namespaced)."""

    kind: str
    api_version: str
    meta: ObjectMeta
    origin: Origin
    resource_selectors: tuple[ResourceSelector, ...]
    policy: PlacementPolicy | None = None
    strategy: RolloutStrategy = field(default_factory=RolloutStrategy)
    revision_history_limit: int = 10
    status_reporting_scope: str = "ClusterScopeOnly"

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def namespace(self) -> str:
        return self.meta.namespace

    @property
    def namespaced(self) -> bool:
        return self.kind == RP_KIND

    @property
    def key(self) -> str:
        """``name`` for a CRP, ``namespace/name`` for an RP (how status and bundles refer to it)."""
        return f"{self.meta.namespace}/{self.meta.name}" if self.namespaced else self.meta.name

    @property
    def effective_policy(self) -> PlacementPolicy:
        """A nil policy means PickAll over every cluster (KubeFleet)."""
        return self.policy if self.policy is not None else PlacementPolicy()

    @property
    def placement_type(self) -> PlacementType:
        return self.effective_policy.placement_type

KINDS: list[KindInfo] = []  # filled by the parse section below
