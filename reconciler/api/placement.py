"""ClusterResourcePlacement and ResourcePlacement (KubeFleet ``PlacementSpec``).

Both kinds share one frozen model, as upstream shares ``PlacementSpec``; ``kind`` tells them
apart. Absent and empty differ wherever KubeFleet makes them differ, so optional sub-objects
stay ``None`` when the YAML leaves them out (e.g. a nil ``policy`` is "PickAll of every
cluster", a nil required affinity is "no constraint"). Defaults are KubeFleet's CRD defaults.

The scheduling policy (model and parser) lives in reconciler/api/policy.py and is re-exported
here; this module parses resource selectors and the rollout strategy, and enforces the rules
that span both (selection scope, statusReportingScope, report-back destinations). Every served
apiVersion (v1beta1, and v1, which lacks deleteStrategy/reportBackStrategy) becomes one model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.api.fields import Fields, check_dns_subdomain
from reconciler.api.meta import (
    LabelSelector,
    NamespacedName,
    ObjectMeta,
    Origin,
    parse_label_selector,
    parse_namespaced_metadata,
)
from reconciler.api.policy import ClusterAffinity as ClusterAffinity
from reconciler.api.policy import ClusterSelectorTerm as ClusterSelectorTerm
from reconciler.api.policy import PlacementPolicy as PlacementPolicy
from reconciler.api.policy import PlacementType as PlacementType
from reconciler.api.policy import PreferredClusterSelector as PreferredClusterSelector
from reconciler.api.policy import PropertyOperator as PropertyOperator
from reconciler.api.policy import PropertySelectorRequirement as PropertySelectorRequirement
from reconciler.api.policy import PropertySorter as PropertySorter
from reconciler.api.policy import SortOrder as SortOrder
from reconciler.api.policy import Toleration as Toleration
from reconciler.api.policy import TopologySpreadConstraint as TopologySpreadConstraint
from reconciler.api.policy import WhenUnsatisfiable as WhenUnsatisfiable
from reconciler.api.policy import parse_policy
from reconciler.api.policy import policy_digest as policy_digest
from reconciler.api.registry import KindInfo
from reconciler.api.scope import is_namespaced, unmapped_kind

GROUP = "placement.kubernetes-fleet.io"
CRP_KIND = "ClusterResourcePlacement"
RP_KIND = "ResourcePlacement"


class SelectionScope(StrEnum):
    NAMESPACE_ONLY = "NamespaceOnly"
    NAMESPACE_WITH_RESOURCES = "NamespaceWithResources"
    NAMESPACE_WITH_RESOURCE_SELECTORS = "NamespaceWithResourceSelectors"


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
class Placement(NamespacedName):
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
    def namespaced(self) -> bool:
        return self.kind == RP_KIND

    @property
    def key(self) -> str:
        """The placement key of docs/formats.md: ``ClusterResourcePlacement/<name>`` or
        ``ResourcePlacement/<namespace>/<name>`` (how status, bundles and reports refer to it)."""
        if self.namespaced:
            return f"{RP_KIND}/{self.meta.namespace}/{self.meta.name}"
        return f"{CRP_KIND}/{self.meta.name}"

    @property
    def effective_policy(self) -> PlacementPolicy:
        """A nil policy means PickAll over every cluster (KubeFleet)."""
        return self.policy if self.policy is not None else PlacementPolicy()

    @property
    def placement_type(self) -> PlacementType:
        return self.effective_policy.placement_type


# -- parsing ------------------------------------------------------------------------------------

# Fields of PlacementSpec.strategy that placement.kubernetes-fleet.io/v1 does not serve.
_V1BETA1_ONLY_STRATEGY = ("deleteStrategy", "reportBackStrategy")
_INT_OR_PERCENT = re.compile(r"^((100|[0-9]{1,2})%|[0-9]+)$")
_SCOPES = [s.value for s in SelectionScope]


def parse_placement(f: Fields, api_version: str, origin: Origin) -> Placement:
    """A ClusterResourcePlacement or ResourcePlacement (told apart by the object's ``kind``)."""
    kind = RP_KIND if f.data.get("kind") == RP_KIND else CRP_KIND
    namespaced = kind == RP_KIND
    version = api_version.rpartition("/")[2]
    # The placement webhook caps names at 63 characters (a DNS-1035 label's length).
    meta = parse_namespaced_metadata(
        f,
        kind,
        namespaced=namespaced,
        max_name=63,
        namespace_hint="it selects resources in that namespace",
        name_check=_check_name,
    )
    spec = f.map("spec", required=True)
    f.ignore("status")  # server output (`kubectl get -o yaml`); fleetsync computes status itself
    f.done()
    if spec is None:
        return Placement(kind, api_version, meta, origin, ())
    selectors = _resource_selectors(spec, kind)
    pf = spec.map("policy")
    policy = parse_policy(pf) if pf is not None else None
    strategy = _strategy(spec, version, policy)
    limit = spec.int("revisionHistoryLimit", 10, minimum=1, maximum=1000) or 10
    scope = spec.str(
        "statusReportingScope", "ClusterScopeOnly", enum=("ClusterScopeOnly", "NamespaceAccessible")
    )
    if scope == "NamespaceAccessible":
        if namespaced:
            spec.error(
                "statusReportingScope",
                "statusReportingScope applies to ClusterResourcePlacements only; "
                "a ResourcePlacement's status is already readable in its namespace",
            )
        elif sum(1 for s in selectors if _is_namespace(s)) != 1:
            spec.error(
                "statusReportingScope",
                "statusReportingScope NamespaceAccessible needs exactly one "
                "resourceSelector of kind Namespace (the namespace the status is mirrored into)",
            )
    spec.done()
    return Placement(
        kind, api_version, meta, origin, selectors, policy, strategy, limit, scope or "ClusterScopeOnly"
    )


def _check_name(name: str) -> str | None:
    """Kubernetes' name rule, then the placement webhook's length cap in its words."""
    why = check_dns_subdomain(name)
    if why is None and len(name) > 63:
        why = f"the name field cannot have length exceeding 63: it has {len(name)} characters"
    return why


def _is_namespace(s: ResourceSelector) -> bool:
    return s.group == "" and s.kind == "Namespace"


def _resource_selectors(spec: Fields, kind: str) -> tuple[ResourceSelector, ...]:
    parsed: list[tuple[Fields, ResourceSelector]] = []
    for s in spec.objects("resourceSelectors", required=True, min_items=1, max_items=100):
        group = s.str("group", required=True)
        version = s.str("version", required=True)
        k = s.str("kind", required=True)
        name = s.str("name") or None
        ls = s.map("labelSelector")
        selector = parse_label_selector(ls) if ls is not None else None
        scope = s.str("selectionScope", enum=_SCOPES)
        s.done()
        if name is not None and ls is not None:
            s.error(
                None,
                "the labelSelector and name fields are mutually exclusive in selector "
                f"{group}/{version}/{k} {name}: select one object by name, or objects by label "
                "(neither selects every object of the kind)",
            )
        rs = ResourceSelector(
            group or "",
            version or "",
            k or "",
            name,
            selector,
            SelectionScope(scope or SelectionScope.NAMESPACE_WITH_RESOURCES),
        )
        if group is None or version is None or k is None:
            continue
        if not _kind_is_mapped(s, rs):
            continue
        if not _is_namespace(rs) and scope not in (None, SelectionScope.NAMESPACE_WITH_RESOURCES):
            s.error(
                "selectionScope",
                f'selectionScope {scope} applies only to selectors of kind Namespace (group ""): remove it',
            )
        parsed.append((s, rs))
    _check_namespace_scopes(parsed, kind)
    return tuple(rs for _, rs in parsed)


def _gvk(rs: ResourceSelector) -> str:
    """A selector's kind as KubeFleet's messages print it (Go's ``GroupVersionKind.String``)."""
    return f"{rs.group}/{rs.version}, Kind={rs.kind}"


def _kind_is_mapped(s: Fields, rs: ResourceSelector) -> bool:
    """KubeFleet's webhook refuses a selector whose kind has no REST mapping on the hub."""
    unmapped, spelling = unmapped_kind(rs.group, rs.kind)
    if not unmapped:
        return True
    gv = f"{rs.group}/{rs.version}" if rs.group else rs.version
    hint = f"kinds are case-sensitive, did you mean {spelling}?" if spelling else "kinds are case-sensitive"
    s.error(
        "kind",
        f'failed to get GVR of the selector: no matches for kind "{rs.kind}" in version "{gv}": {hint}',
    )
    return False


def _check_namespace_scopes(parsed: list[tuple[Fields, ResourceSelector]], kind: str) -> None:
    """Scope rules: CRP selects cluster-scoped kinds, RP namespaced ones; NamespaceWithResourceSelectors."""
    ns = [(s, rs) for s, rs in parsed if _is_namespace(rs)]
    scoped = [
        (s, rs) for s, rs in ns if rs.selection_scope == SelectionScope.NAMESPACE_WITH_RESOURCE_SELECTORS
    ]
    mode = bool(scoped)
    for s, rs in parsed:
        if _is_namespace(rs):
            if kind == RP_KIND:
                s.error(
                    "kind",
                    "a ResourcePlacement cannot select Namespaces: it places resources inside its own "
                    "namespace; use a ClusterResourcePlacement to place a Namespace",
                )
            continue
        namespaced = is_namespaced(rs.group, rs.kind)
        gk = f"{rs.kind} ({rs.group or 'core'} group)"
        if kind == CRP_KIND and namespaced is True and not mode:
            s.error(
                "kind",
                "the resource is not found in schema (please retry) or it is not a cluster scoped resource: "
                f"{_gvk(rs)}: {gk} is namespaced; a ClusterResourcePlacement selects cluster-scoped kinds "
                "and Namespaces (which bring their contents); select its Namespace, add a Namespace selector "
                "with selectionScope NamespaceWithResourceSelectors, or use a ResourcePlacement",
            )
        if kind == RP_KIND and namespaced is False:
            s.error(
                "kind",
                "the resource is not found in schema (please retry) or it is a cluster scoped resource: "
                f"{_gvk(rs)}: {gk} is cluster-scoped; a ResourcePlacement selects namespaced resources in "
                "its own namespace; use a ClusterResourcePlacement",
            )
    for s, _rs in scoped[1:]:
        s.error(
            "selectionScope",
            "only one Namespace selector may use selectionScope NamespaceWithResourceSelectors",
        )
    for s, rs in scoped[:1]:
        if rs.name is None or rs.label_selector is not None:
            s.error(
                None,
                "a Namespace selector with selectionScope NamespaceWithResourceSelectors must select "
                "its namespace by name (not by labelSelector)",
            )
    if mode:
        for s, rs in ns:
            if rs.selection_scope != SelectionScope.NAMESPACE_WITH_RESOURCE_SELECTORS:
                s.error(
                    None,
                    "with selectionScope NamespaceWithResourceSelectors no other Namespace selector is "
                    "allowed: the other selectors pick resources inside that one namespace",
                )


def _strategy(spec: Fields, version: str, policy: PlacementPolicy | None) -> RolloutStrategy:
    st = spec.map("strategy")
    if st is None:
        return RolloutStrategy()
    stype = RolloutStrategyType(
        st.str("type", "RollingUpdate", enum=[t.value for t in RolloutStrategyType]) or "RollingUpdate"
    )
    rolling = RollingUpdateConfig()
    ru = st.map("rollingUpdate")
    if ru is not None:
        if stype == RolloutStrategyType.EXTERNAL:
            st.error(
                "rollingUpdate",
                # KubeFleet's words, its typo included, so that a search finds them.
                "rollingUpdateConifg is not valid for ExternalRollout strategy type: rollingUpdate is only "
                "valid with strategy type RollingUpdate; an External rollout is driven by staged update "
                "runs, remove it",
            )
        rolling = _rolling_update(ru)
    af = st.map("applyStrategy")
    apply = _apply_strategy(af) if af is not None else ApplyStrategy()
    propagation, rb_type, rb_dest = "Delete", "Disabled", ""
    if version == "v1":
        for key in _V1BETA1_ONLY_STRATEGY:
            if st.has(key):
                st.ignore(key)
                st.error(
                    key,
                    f"{key} is not served by placement.kubernetes-fleet.io/v1: use apiVersion "
                    "placement.kubernetes-fleet.io/v1beta1 for it",
                )
    else:
        ds = st.map("deleteStrategy")
        if ds is not None:
            propagation = ds.str("propagationPolicy", "Delete", enum=("Delete", "Abandon")) or "Delete"
            ds.done()
        rb = st.map("reportBackStrategy")
        if rb is not None:
            rb_type, rb_dest = _report_back(rb, policy)
    st.done()
    return RolloutStrategy(stype, rolling, apply, propagation, rb_type, rb_dest)


def _rolling_update(ru: Fields) -> RollingUpdateConfig:
    hint = "a non-negative integer or a percentage from 0% to 100%"
    values: list[int | str] = []
    for key in ("maxUnavailable", "maxSurge"):
        v = ru.int_or_str(key, "25%", pattern=_INT_OR_PERCENT, pattern_hint=hint, minimum=0)
        if isinstance(v, str) and not v.endswith("%"):
            ru.error(
                key,
                f"{v!r} is a string but not a percentage: write the integer without quotes ({v}) "
                "or a percentage such as 25%",
            )
            v = "25%"
        values.append(v if v is not None else "25%")
    period = ru.int("unavailablePeriodSeconds", 60, minimum=0)
    ru.done()
    if values[0] in (0, "0%") and values[1] in (0, "0%"):
        ru.ctx.error(
            ru.at("maxSurge"),
            "maxSurge and maxUnavailable are both 0: the rollout can never replace a cluster's resources",
            "warning",
        )
    return RollingUpdateConfig(values[0], values[1], 60 if period is None else period)


def _apply_strategy(f: Fields) -> ApplyStrategy:
    atype = f.str("type", "ClientSideApply", enum=[t.value for t in ApplyType]) or "ClientSideApply"
    comparison = f.str("comparisonOption", "PartialComparison", enum=[c.value for c in ComparisonOption])
    when_apply = f.str("whenToApply", "Always", enum=[w.value for w in WhenToApply])
    take_over = f.str("whenToTakeOver", "Always", enum=[w.value for w in WhenToTakeOver])
    co_own = f.bool("allowCoOwnership")
    force = False
    ssa = f.map("serverSideApplyConfig")
    if ssa is not None:
        force = ssa.bool("force")
        ssa.done()
        if atype != ApplyType.SERVER_SIDE_APPLY:
            f.error(
                "serverSideApplyConfig",
                "serverSideApplyConfig is only valid for ServerSideApply strategy type: the type is "
                f"{atype}; remove it or set type: ServerSideApply",
            )
    f.done()
    return ApplyStrategy(
        ApplyType(atype),
        ComparisonOption(comparison or "PartialComparison"),
        WhenToApply(when_apply or "Always"),
        WhenToTakeOver(take_over or "Always"),
        co_own,
        force,
    )


def _report_back(rb: Fields, policy: PlacementPolicy | None) -> tuple[str, str]:
    rtype = rb.str("type", "Disabled", enum=("Disabled", "Mirror")) or "Disabled"
    dest = rb.str("destination", "", enum=("OriginalResource", "WorkAPI")) or ""
    rb.done()
    if rtype == "Mirror" and not dest:
        rb.error(None, "reportBackStrategy type Mirror needs a destination: OriginalResource or WorkAPI")
    if rtype == "Mirror" and dest == "OriginalResource" and not _targets_one_cluster(policy):
        rb.ctx.error(
            rb.at("destination"),
            "status is mirrored to the OriginalResource only when the policy "
            "targets exactly one cluster (PickFixed with one clusterName, or PickN with "
            "numberOfClusters 1); otherwise nothing is reported back",
            "warning",
        )
    return rtype, dest


def _targets_one_cluster(policy: PlacementPolicy | None) -> bool:
    if policy is None:
        return False
    if policy.placement_type == PlacementType.PICK_FIXED:
        return len(policy.cluster_names) == 1
    return policy.placement_type == PlacementType.PICK_N and policy.number_of_clusters == 1


KINDS: list[KindInfo] = [
    KindInfo(GROUP, CRP_KIND, False, parse_placement, "crp"),
    KindInfo(GROUP, RP_KIND, True, parse_placement, "rp"),
]
