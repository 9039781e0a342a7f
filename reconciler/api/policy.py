"""A placement's scheduling policy (KubeFleet ``PlacementPolicy``): model and parser.

The policy is the part of a placement the scheduler reads, so it lives apart from the
placement's selectors and rollout strategy and is hashed on its own (a new hash is a new policy
snapshot). The parser enforces, as located findings, everything KubeFleet's CRD schema, CEL
rules and admission webhook enforce on a policy: which fields each ``placementType`` allows,
cluster-name rules, affinity terms (property selectors only in required terms, property
sorters only in preferred terms, quantities, contradictory expressions), topology spread and
tolerations. Absent and empty stay distinct (``affinity: None`` is "no constraint").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from enum import StrEnum
from fractions import Fraction
from typing import Any

from fleetsync_contract.quantity import QuantityError, parse_quantity
from reconciler.api.fields import Fields, check_dns_subdomain, check_label_key, check_label_value, each
from reconciler.api.meta import LabelSelector, parse_label_selector


class PlacementType(StrEnum):
    PICK_ALL = "PickAll"
    PICK_N = "PickN"
    PICK_FIXED = "PickFixed"


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
    """The policy snapshot identity: a content hash of the policy without ``numberOfClusters``.

    KubeFleet keeps N out of the policy snapshot (it is an annotation on the snapshot), so
    changing N scales the same snapshot up or down instead of making every binding obsolete.
    """
    if policy is not None and policy.number_of_clusters is not None:
        policy = replace(policy, number_of_clusters=None)
    doc: Any = None if policy is None else _plain(policy)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    # Walk dataclasses by hand: ``dataclasses.asdict`` deep-copies, and cannot copy the
    # read-only label maps of parsed selectors.
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


# -- parsing ------------------------------------------------------------------------------------

RESOURCE_PROPERTY_PREFIX = "resources.kubernetes-fleet.io/"
CAPACITY_TYPES = ("total", "allocatable", "available")


REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def parse_policy(f: Fields) -> PlacementPolicy:
    """``spec.policy``: each placement type allows only its own fields (CEL + webhook)."""
    known = f.data.get("placementType") in (None, *PlacementType)
    ptype = PlacementType(
        f.str("placementType", "PickAll", enum=[t.value for t in PlacementType]) or "PickAll"
    )
    names = _cluster_names(f)
    number = f.int("numberOfClusters", minimum=0)
    affinity = None
    aff = f.map("affinity")
    if aff is not None:
        ca = aff.map("clusterAffinity")
        affinity = _cluster_affinity(ca) if ca is not None else None
        aff.done()
    spread = tuple(each(f.list("topologySpreadConstraints"), lambda i: _spread(i.fields())))
    tolerations = _tolerations(f)
    f.done()
    policy = PlacementPolicy(ptype, names, number, affinity, spread, tolerations)
    if known:  # with an unknown placementType only the enum error is worth reading
        _check_type_fields(f, policy)
    return policy


def _check_type_fields(f: Fields, policy: PlacementPolicy) -> None:
    """Which fields each placement type allows (KubeFleet's CEL rules and webhook)."""
    ptype = policy.placement_type
    if ptype == PlacementType.PICK_FIXED and not policy.cluster_names:
        f.error(
            None if not f.has("clusterNames") else "clusterNames",
            "cluster names cannot be empty for policy type PickFixed: list at least one MemberCluster "
            "in clusterNames",
        )
    if ptype != PlacementType.PICK_FIXED and policy.cluster_names:
        f.error(
            "clusterNames",
            f"cluster names needs to be empty for policy type {ptype}, only valid for PickFixed policy type: "
            "remove clusterNames",
        )
    if ptype == PlacementType.PICK_N and not f.has("numberOfClusters"):
        f.error(
            None,
            "number of cluster cannot be nil for policy type PickN: set numberOfClusters (how many "
            "clusters to pick)",
        )
    if ptype != PlacementType.PICK_N and f.data.get("numberOfClusters") is not None:
        f.error(
            "numberOfClusters",
            f"number of clusters must be nil for policy type {ptype}, only valid for PickN placement policy "
            "type: remove numberOfClusters",
        )
    if ptype == PlacementType.PICK_FIXED and f.data.get("affinity") is not None:
        f.error(
            "affinity",
            "affinity must be nil for policy type PickFixed, only valid for PickAll/PickN placement policy "
            "types: the clusters are the ones listed in clusterNames",
        )
    if ptype == PlacementType.PICK_ALL and policy.affinity is not None and policy.affinity.preferred:
        f.ctx.error(
            (*f.at("affinity"), "clusterAffinity", PREFERRED),
            "PreferredDuringSchedulingIgnoredDuringExecution will be ignored for placement policy type "
            f"PickAll: every matching cluster is picked; use {REQUIRED}, or placementType PickN",
        )
    if policy.topology_spread_constraints and ptype != PlacementType.PICK_N:
        f.error(
            "topologySpreadConstraints",
            f"topology spread constraints needs to be empty for policy type {ptype}, only valid for PickN "
            "policy type",
        )
    if ptype == PlacementType.PICK_FIXED and f.data.get("tolerations") is not None:
        f.error(
            "tolerations",
            "tolerations needs to be empty for policy type PickFixed, only valid for PickAll/PickN: "
            "taints do not apply to named clusters",
        )


def _cluster_names(f: Fields) -> tuple[str, ...]:
    names = f.str_list("clusterNames", max_items=100)
    ptype = f.data.get("placementType") or "PickAll"
    seen: set[str] = set()
    for i, name in enumerate(names):
        why = check_dns_subdomain(name)
        if why:
            f.ctx.error(
                (*f.at("clusterNames"), i), f"PickFixed cluster name {name} is not a valid member name: {why}"
            )
        elif len(name) > 63:
            f.ctx.error(
                (*f.at("clusterNames"), i),
                f"PickFixed cluster name {name} cannot have length exceeding 63: a MemberCluster name has at "
                "most 63 characters",
            )
        if name in seen:
            f.ctx.error(
                (*f.at("clusterNames"), i),
                f"cluster names must be unique for policy type {ptype}: {name!r} is listed twice",
            )
        seen.add(name)
    return tuple(names)


def _cluster_affinity(f: Fields) -> ClusterAffinity:
    required: tuple[ClusterSelectorTerm, ...] | None = None
    req = f.map(REQUIRED)
    if req is not None:
        terms = []
        for t in req.objects("clusterSelectorTerms", required=True, max_items=10):
            terms.append(_term(t, preferred=False))
        req.done()
        required = tuple(terms)
    preferred = []
    for p in f.objects(PREFERRED):
        weight = p.int("weight", 0, required=True, minimum=-100, maximum=100)
        pref = p.map("preference", required=True)
        term = _term(pref, preferred=True) if pref is not None else ClusterSelectorTerm()
        p.done()
        preferred.append(PreferredClusterSelector(weight or 0, term))
    f.done()
    return ClusterAffinity(required, tuple(preferred))


def _term(f: Fields, *, preferred: bool) -> ClusterSelectorTerm:
    ls = f.map("labelSelector")
    selector = parse_label_selector(ls) if ls is not None else None
    reqs: tuple[PropertySelectorRequirement, ...] = ()
    ps = f.map("propertySelector")
    if ps is not None:
        if preferred:
            f.error(
                "propertySelector",
                "PropertySelector is not allowed for PreferredDuringSchedulingIgnoredDuringExecution "
                "affinity: in a preferred term use propertySorter",
            )
        reqs = _property_selector(ps)
    sorter = None
    so = f.map("propertySorter")
    if so is not None:
        if not preferred:
            f.error(
                "propertySorter",
                "PropertySorter is not allowed for RequiredDuringSchedulingIgnoredDuringExecution "
                "affinity: in a required term use propertySelector",
            )
        name = so.str("name", required=True) or ""
        if name:
            check_property_name(so, "name", name)
        order = so.str("sortOrder", required=True, enum=[o.value for o in SortOrder])
        so.done()
        if order is not None:
            sorter = PropertySorter(name, SortOrder(order))
    if f.has("metricSorter"):  # an early name in old Azure/fleet docs, never a served field
        f.ignore("metricSorter")
        f.error(
            "metricSorter",
            'unknown field "metricSorter": the field is called propertySorter '
            "({name, sortOrder}) and is allowed in preferred terms",
        )
    f.done()
    return ClusterSelectorTerm(selector, reqs, sorter)


def _property_selector(f: Fields) -> tuple[PropertySelectorRequirement, ...]:
    out: list[PropertySelectorRequirement] = []
    located: list[tuple[Fields, PropertySelectorRequirement, Fraction]] = []
    for e in f.objects("matchExpressions", required=True):
        name = e.str("name", required=True) or ""
        if name:
            check_property_name(e, "name", name)
        op = e.str("operator", required=True, enum=[o.value for o in PropertyOperator])
        values = e.str_list("values")
        if len(values) != 1:
            e.error(
                "values" if e.has("values") else None,
                f"invalid requirement on property {name}: operator {op or '?'} requires exactly one value, "
                f"got {len(values)}: give one quantity in values, such as 3, 250m or 16Gi",
            )
        quantity: Fraction | None = None
        for i, v in enumerate(values):
            try:
                quantity = parse_quantity(v)
            except QuantityError as err:
                e.ctx.error((*e.at("values"), i), str(err))
        e.done()
        if op is not None:
            req = PropertySelectorRequirement(name, PropertyOperator(op), tuple(values))
            out.append(req)
            if quantity is not None and len(values) == 1:
                located.append((e, req, quantity))
    f.done()
    _check_contradictions(f, located)
    return tuple(out)


def check_property_name(f: Fields, key: str, name: str) -> None:
    """KubeFleet's property-name rule (reported at ``key`` of ``f``): segments are qualified names
    after an optional DNS-subdomain prefix; resource properties are ``<prefix>/<capacity>-<resource>``."""
    if name.startswith(RESOURCE_PROPERTY_PREFIX):
        rest = name[len(RESOURCE_PROPERTY_PREFIX) :]
        capacity, sep, resource = rest.partition("-")
        if not sep or not resource:
            f.error(
                key,
                f"invalid resource property name {name}, expected format is "
                "[PREFIX]/[CAPACITY_TYPE]-[RESOURCE_NAME]: e.g. resources.kubernetes-fleet.io/available-cpu",
            )
            return
        if capacity not in CAPACITY_TYPES:
            f.error(
                key,
                f"invalid capacity type in resource property name {name}, supported values are "
                f"[{' '.join(sorted(CAPACITY_TYPES))}]: {capacity!r} is not one of them",
            )
            return
        why = check_label_key(name)
        if why:
            f.error(key, f"invalid property name {name!r}: {why}")
        return
    first, *rest_segments = name.split("/")
    problems = []
    if rest_segments:
        if check_dns_subdomain(first) and check_label_key(first):
            problems.append(
                f"property name first segment {first} is not valid: it is neither a valid DNS subdomain "
                "nor a valid qualified name"
            )
        for seg in rest_segments:
            why = check_label_key(seg)
            if why:
                problems.append(f"property name segment {seg} is not valid: {why}")
    else:
        why = check_label_key(name)
        if why:
            problems.append(f"property name {name} is not valid: {why}")
    if problems:
        f.error(key, f"invalid property name {name}: {problems[0]}")


def _check_contradictions(
    f: Fields, reqs: list[tuple[Fields, PropertySelectorRequirement, Fraction]]
) -> None:
    """The webhook refuses expressions on one property that no value can satisfy."""
    by_name: dict[str, list[tuple[Fields, PropertySelectorRequirement, Fraction]]] = {}
    for item in reqs:
        by_name.setdefault(item[1].name, []).append(item)
    for name, items in by_name.items():
        if len(items) < 2:
            continue
        why = _contradiction([(r.operator, q) for _, r, q in items])
        if why:
            items[-1][0].error(
                None,
                f"inconsistent requirements on property {name}: {why}: no cluster can match these expressions",
            )


def _contradiction(exprs: list[tuple[PropertyOperator, Fraction]]) -> str | None:
    eq: Fraction | None = None
    ne: list[Fraction] = []
    lower: tuple[Fraction, bool] | None = None  # (value, strict)
    upper: tuple[Fraction, bool] | None = None
    for op, q in exprs:
        if op == PropertyOperator.EQ:
            if eq is not None and eq != q:
                return f"conflicting Eq values {_fmt(eq)} and {_fmt(q)}"
            eq = q
        elif op == PropertyOperator.NE:
            ne.append(q)
        elif op in (PropertyOperator.GT, PropertyOperator.GE):
            b = (q, op == PropertyOperator.GT)
            if lower is None or b[0] > lower[0] or (b[0] == lower[0] and b[1]):
                lower = b
        else:
            b = (q, op == PropertyOperator.LT)
            if upper is None or b[0] < upper[0] or (b[0] == upper[0] and b[1]):
                upper = b
    if eq is not None and eq in ne:
        return f"conflicting Eq and Ne on same value {_fmt(eq)}"
    if (
        lower is not None
        and upper is not None
        and (lower[0] > upper[0] or (lower[0] == upper[0] and (lower[1] or upper[1])))
    ):
        return f"lower bound ({_fmt(lower[0])}) and upper bound ({_fmt(upper[0])}) exclude all values"
    if eq is not None and lower is not None and (eq < lower[0] or (eq == lower[0] and lower[1])):
        return f"eq value {_fmt(eq)} violates lower bound {_fmt(lower[0])}"
    if eq is not None and upper is not None and (eq > upper[0] or (eq == upper[0] and upper[1])):
        return f"eq value {_fmt(eq)} violates upper bound {_fmt(upper[0])}"
    return None


def _fmt(q: Fraction) -> str:
    return str(q.numerator) if q.denominator == 1 else str(float(q))


def _spread(f: Fields | None) -> TopologySpreadConstraint | None:
    if f is None:
        return None
    skew = f.int("maxSkew", 1, minimum=1) or 1
    key = f.str("topologyKey", required=True) or ""
    if key:
        why = check_label_key(key)
        if why:
            f.error("topologyKey", f"topologyKey {key!r} is not a valid cluster label key: {why}")
    # No enum in the CRD: KubeFleet's webhook refuses other values, in its words.
    when = f.str("whenUnsatisfiable", "DoNotSchedule") or "DoNotSchedule"
    if when not in {w.value for w in WhenUnsatisfiable}:
        f.error(
            "whenUnsatisfiable",
            f"unknown unsatisfiable type {when}: supported values: 'DoNotSchedule', 'ScheduleAnyway'",
        )
        when = "DoNotSchedule"
    f.done()
    return TopologySpreadConstraint(key, skew, WhenUnsatisfiable(when))


def _tolerations(f: Fields) -> tuple[Toleration, ...]:
    out: list[Toleration] = []
    seen: set[Toleration] = set()
    for t in f.objects("tolerations", max_items=100):
        key = t.str("key", "") or ""
        op = t.str("operator", "Equal", enum=("Equal", "Exists")) or "Equal"
        value = t.str("value", "") or ""
        effect = t.str("effect", "", enum=("", "NoSchedule")) or ""
        t.done()
        if key:
            why = check_label_key(key)
            if why:
                t.error("key", f"invalid toleration key {_show(key, op, value, effect)}: {why}")
        if op == "Exists" and value:
            t.error(
                "value",
                f"invalid toleration {_show(key, op, value, effect)}: toleration value needs to be empty, "
                "when operator is Exists: Exists matches any value",
            )
        if not key and op != "Exists":
            t.error(
                None,
                f"invalid toleration {_show(key, op, value, effect)}: toleration key cannot be empty, when "
                "operator is Equal: a toleration without a key must use operator Exists (it then tolerates "
                "every taint)",
            )
        if op == "Equal" and value:
            why = check_label_value(value)
            if why:
                t.error("value", f"invalid toleration value {_show(key, op, value, effect)}: {why}")
        tol = Toleration(key, op, value, effect)
        if tol in seen:
            t.error(
                None, f"toleration {_show(key, op, value, effect)} already exists, tolerations must be unique"
            )
        seen.add(tol)
        out.append(tol)
    return tuple(out)


def _show(key: str, op: str, value: str, effect: str) -> str:
    """A toleration as KubeFleet's messages print it (Go's ``%+v`` of the struct)."""
    return f"{{Key:{key} Operator:{op} Value:{value} Effect:{effect}}}"
