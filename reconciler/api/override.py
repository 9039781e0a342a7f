"""ClusterResourceOverride and ResourceOverride: model, parser and KubeFleet's webhook rules.

Both kinds share one frozen model (upstream shares ``OverridePolicy``); ``kind`` tells them
apart, and every served version (v1, v1beta1, v1alpha1) has the same shape. Messages start with
the words of KubeFleet's webhook (pkg/utils/validator), so a search finds them, and our hint
follows. The one distinction KubeFleet makes on purpose and users trip over is kept exactly:
a rule's ``clusterSelector`` left out selects *no* cluster, while ``{}`` or an empty
``clusterSelectorTerms`` selects *every* cluster — so ``cluster_terms`` is ``None`` or a tuple.

Rules that need more than one object ("a resource may be selected by only one CRO / one RO")
live in ``check_override_conflicts``, which the repo validator calls with every override.
``placement`` is immutable in KubeFleet (CEL); ``placement_ref_change`` tells a plan whether a
commit changed it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.api.envelope import CLUSTER_SCOPED_KINDS
from reconciler.api.fields import Fields, Item
from reconciler.api.meta import (
    LabelSelector,
    NamespacedName,
    ObjectMeta,
    Origin,
    parse_label_selector,
    parse_metadata,
)
from reconciler.api.registry import KindInfo
from reconciler.api.scope import unmapped_kind
from reconciler.errors import Finding

GROUP = "placement.kubernetes-fleet.io"
CRO_KIND = "ClusterResourceOverride"
RO_KIND = "ResourceOverride"

MAX_SELECTORS = 20
MAX_RULES = 20
MAX_PATCHES = 20


class OverrideType(StrEnum):
    JSON_PATCH = "JSONPatch"
    DELETE = "Delete"


class PatchOp(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


class PlacementScope(StrEnum):
    CLUSTER = "Cluster"
    NAMESPACED = "Namespaced"


@dataclass(frozen=True, slots=True)
class JsonPatch:
    op: PatchOp
    path: str
    value: Any = None  # JSON value; None for remove

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": str(self.op), "path": self.path}
        if self.op != PatchOp.REMOVE:
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class OverrideRule:
    # None: the rule selects no cluster; (): every cluster; otherwise ORed label selectors.
    cluster_terms: tuple[LabelSelector, ...] | None
    override_type: OverrideType = OverrideType.JSON_PATCH
    patches: tuple[JsonPatch, ...] = ()

    def matches(self, cluster_labels: Mapping[str, str]) -> bool:
        if self.cluster_terms is None:
            return False
        if not self.cluster_terms:
            return True
        return any(term.matches(cluster_labels) for term in self.cluster_terms)


@dataclass(frozen=True, slots=True)
class OverrideSelector:
    """A resource an override targets: GVK and name (KubeFleet requires the name)."""

    group: str
    version: str
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class PlacementRef:
    name: str
    scope: PlacementScope = PlacementScope.CLUSTER


@dataclass(frozen=True, slots=True)
class Override(NamespacedName):
    """A ClusterResourceOverride (cluster-scoped) or ResourceOverride (namespaced)."""

    kind: str
    api_version: str
    meta: ObjectMeta
    origin: Origin
    selectors: tuple[OverrideSelector, ...]
    rules: tuple[OverrideRule, ...]
    placement: PlacementRef | None = None

    @property
    def namespaced(self) -> bool:
        return self.kind == RO_KIND

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespaced else f"{self.kind}/{self.name}"

    def applies_to_placement(
        self, placement_kind: str, placement_namespace: str, placement_name: str
    ) -> bool:
        """A placement-scoped override serves only its placement; a global one every placement."""
        ref = self.placement
        if ref is None:
            return True
        if ref.name != placement_name:
            return False
        if ref.scope == PlacementScope.CLUSTER:
            return placement_kind == "ClusterResourcePlacement"
        return placement_kind == "ResourcePlacement" and placement_namespace == self.namespace


# -- parsing -------------------------------------------------------------------------------------
def check_patch_path(path: str) -> str | None:
    """Why a JSON patch path is refused, or None: KubeFleet's webhook words (in its order of
    checks: the first segment, then empty segments after trimming spaces), then our hint."""
    if not path:
        return "path cannot be empty: give a JSON pointer such as /spec/replicas"
    if not path.startswith("/"):
        return f"path must start with /: write /{path}"
    parts = path[1:].split("/")
    first = parts[0]
    if first in ("kind", "apiVersion"):
        return f"cannot override typeMeta fields: /{first} is the same on every cluster"
    if first == "status":
        return "cannot override status fields: the member cluster writes /status"
    if first == "metadata":
        if len(parts) == 1:
            return "cannot override field metadata: patch /metadata/labels or /metadata/annotations"
        if parts[1] not in ("labels", "annotations"):
            return (
                "cannot override metadata fields except annotations and labels: "
                f"/metadata/{parts[1]} is neither"
            )
    for i, part in enumerate(parts, 1):
        if not part.strip():
            blank = "blank" if part else "empty"
            return f"path cannot contain empty string: segment {i} of {path!r} is {blank}"
    return None


def _parse_patch(item: Item) -> JsonPatch | None:
    f = item.fields()
    if f is None:
        return None
    op = f.str("op", required=True, enum=[str(o) for o in PatchOp])
    path = f.str("path", required=True) or ""
    has_value = f.has("value") and f.data.get("value") is not None
    value = f.raw("value")
    f.done()
    why = check_patch_path(path) if f.has("path") else None
    if why:
        f.error("path", f"invalid JSONPatchOverride path {path!r}: {why}")
    if op == PatchOp.REMOVE and has_value:
        f.error("value", "remove operation cannot have value: drop value, or use op add or replace")
    if op is None or why:
        return None
    return JsonPatch(PatchOp(op), path, value if op != PatchOp.REMOVE else None)


def _parse_cluster_selector(f: Fields) -> tuple[LabelSelector, ...] | None:
    sel = f.map("clusterSelector")
    if sel is None:
        return None
    terms: list[LabelSelector] = []
    for term in sel.objects("clusterSelectorTerms"):
        ls = term.map("labelSelector")
        for bad in ("propertySelector", "propertySorter"):
            if term.has(bad):
                term.ignore(bad)
                term.error(
                    bad,
                    f"invalid clusterSelector: only labelSelector is supported: {bad} is not supported "
                    "in an override's clusterSelectorTerm",
                )
        term.done()
        if ls is None:
            term.error(
                None,
                "invalid clusterSelector: labelSelector is required: each clusterSelectorTerm of an "
                "override selects clusters by label",
            )
            continue
        terms.append(parse_label_selector(ls))
    sel.done()
    return tuple(terms)


def _parse_rule(item: Item) -> OverrideRule | None:
    f = item.fields()
    if f is None:
        return None
    terms = _parse_cluster_selector(f)
    otype = f.str("overrideType", str(OverrideType.JSON_PATCH), enum=[str(t) for t in OverrideType])
    patches_items = f.list("jsonPatchOverrides")
    patches: list[JsonPatch] = []
    if otype == OverrideType.DELETE:
        if patches_items:
            f.error(
                "jsonPatchOverrides",
                "invalid JSONPatchOverrides: JSONPatchOverrides cannot be set when the override type is "
                "Delete: a Delete rule removes the object, remove the patches",
            )
    else:
        if not patches_items:
            f.error(
                None if patches_items is None else "jsonPatchOverrides",
                "invalid JSONPatchOverrides: JSONPatchOverrides cannot be empty: a JSONPatch rule needs "
                f"1 to {MAX_PATCHES} patches in jsonPatchOverrides (or overrideType Delete)",
            )
        elif len(patches_items) > MAX_PATCHES:
            f.error(
                "jsonPatchOverrides", f"must have at most {MAX_PATCHES} patches, got {len(patches_items)}"
            )
        for it in patches_items or []:
            p = _parse_patch(it)
            if p is not None:
                patches.append(p)
    f.done()
    return OverrideRule(terms, OverrideType(otype or OverrideType.JSON_PATCH), tuple(patches))


def _parse_selector(item: Item, cro: bool) -> OverrideSelector | None:
    f = item.fields()
    if f is None:
        return None
    group = f.str("group", required=True)
    version = f.str("version", required=True) or ""
    kind = f.str("kind", required=True) or ""
    name = f.str("name") or ""
    if cro and f.has("labelSelector"):
        f.ignore("labelSelector")
        f.error(
            "labelSelector",
            "label selector is not supported for resource selection: select the resource by name",
        )
    if cro and f.has("selectionScope"):
        f.ignore("selectionScope")
        f.error("selectionScope", "selectionScope is not supported in an override's selectors")
    f.done()
    if not name:
        f.error(
            None, "resource name is required for resource selection: an override selects one named resource"
        )
        return None
    if group is None or not version or not kind:
        return None
    unmapped, spelling = unmapped_kind(group, kind)
    if unmapped:
        gv = f"{group}/{version}" if group else version
        hint = f"; did you mean {spelling}?" if spelling else ""
        f.ctx.error(
            (*f.path, "kind"),
            f'no matches for kind "{kind}" in version "{gv}": kinds are case-sensitive, so this selector '
            f"never matches{hint}",
            severity="warning",
        )
    if not cro and (group, kind) in CLUSTER_SCOPED_KINDS:
        f.ctx.error(
            f.path,
            f"{kind} is cluster-scoped: a ResourceOverride only reaches namespaced objects in its own namespace, "
            "so this selector never matches (use a ClusterResourceOverride)",
            severity="warning",
        )
    return OverrideSelector(group, version, kind, name)


def _describe(sel: OverrideSelector) -> str:
    """A selector as messages show it: ``group/version/Kind name`` (core group: ``version/Kind``)."""
    gvk = f"{sel.group}/{sel.version}/{sel.kind}" if sel.group else f"{sel.version}/{sel.kind}"
    return f"{gvk} {sel.name}"


def _parse(f: Fields, api_version: str, origin: Origin, kind: str) -> Override:
    cro = kind == CRO_KIND
    meta = parse_metadata(f.map("metadata", required=True), namespaced=not cro)
    f.ignore("status")
    spec = f.map("spec", required=True)
    selectors: list[OverrideSelector] = []
    rules: list[OverrideRule] = []
    ref: PlacementRef | None = None
    if spec is not None:
        pf = spec.map("placement")
        if pf is not None:
            pname = pf.str("name", required=True) or ""
            scope = pf.str("scope", str(PlacementScope.CLUSTER), enum=[str(s) for s in PlacementScope])
            pf.done()
            if cro and scope == PlacementScope.NAMESPACED:
                pf.error(
                    "scope",
                    "a ClusterResourceOverride can only reference a ClusterResourcePlacement (scope Cluster)",
                )
            ref = PlacementRef(pname, PlacementScope(scope or PlacementScope.CLUSTER))
        key = "clusterResourceSelectors" if cro else "resourceSelectors"
        items = spec.list(key, required=True, min_items=1, max_items=MAX_SELECTORS)
        seen: dict[OverrideSelector, int] = {}
        for it in items or []:
            sel = _parse_selector(it, cro)
            if sel is None:
                continue
            if sel in seen:
                it.error(
                    f"resource selector {_describe(sel)} already exists, and must be unique: "
                    f"the same resource is already selected at {key}[{seen[sel]}]"
                )
                continue
            seen[sel] = it.index
            selectors.append(sel)
        policy = spec.map("policy", required=True)
        if policy is not None:
            for it in policy.list("overrideRules", required=True, min_items=1, max_items=MAX_RULES) or []:
                rule = _parse_rule(it)
                if rule is not None:
                    rules.append(rule)
            policy.done()
        spec.done()
    f.done()
    return Override(kind, api_version, meta, origin, tuple(selectors), tuple(rules), ref)


def parse_cluster_resource_override(f: Fields, api_version: str, origin: Origin) -> Override:
    return _parse(f, api_version, origin, CRO_KIND)


def parse_resource_override(f: Fields, api_version: str, origin: Origin) -> Override:
    return _parse(f, api_version, origin, RO_KIND)


KINDS: list[KindInfo] = [
    KindInfo(GROUP, CRO_KIND, False, parse_cluster_resource_override, "cro"),
    KindInfo(GROUP, RO_KIND, True, parse_resource_override, "ro"),
]


# -- cross-object rules --------------------------------------------------------------------------
def check_override_conflicts(cros: Sequence[Override], ros: Sequence[Override]) -> list[Finding]:
    """A resource may be selected by only one ClusterResourceOverride and only one ResourceOverride.

    KubeFleet's webhook rejects the second one in its words ("the resource has been selected by
    both <this one> and <the other>, which is not supported"); we report it on the later override
    in name order, so the message is stable.
    """
    findings: list[Finding] = []
    for group in (sorted(cros, key=lambda o: o.name), sorted(ros, key=lambda o: (o.namespace, o.name))):
        owner: dict[tuple[str, OverrideSelector], Override] = {}
        for o in group:
            for sel in o.selectors:
                key = (o.namespace, sel)
                first = owner.get(key)
                if first is None:
                    owner[key] = o
                    continue
                target = _describe(sel)
                target += f" in {o.namespace}" if o.namespaced else ""
                findings.append(
                    Finding(
                        o.origin.file,
                        o.origin.line,
                        0,
                        "spec.clusterResourceSelectors" if not o.namespaced else "spec.resourceSelectors",
                        f"invalid resource selector {target}: the resource has been selected by both "
                        f"{o.name} and {first.name}, which is not supported: a resource may be selected by "
                        f"only one {o.kind}",
                        o.label,
                    )
                )
    return findings


def placement_ref_change(old: Override, new: Override) -> str | None:
    """Why a commit's change of ``spec.placement`` would be refused (it is immutable), or None."""
    if old.placement == new.placement:
        return None
    return (
        f"{new.label}: spec.placement is immutable (was {old.placement}, now {new.placement}); "
        "delete the override and create a new one"
    )
