"""ClusterAffinity: required terms filter, preferred terms score (KubeFleet ``clusteraffinity``).

Filter: a cluster passes when it matches ANY required term; a term matches when its label
selector (if any) matches AND every property expression holds. A property the cluster does
not report, or whose value is not a quantity, makes the expression (so the term) not match —
``Ne`` included.

Score (PickN only): each preferred term with a non-zero weight adds its weight when its label
selector matches (or is absent); with a property sorter the weight is interpolated between the
minimum and maximum of the property over **every cluster in the fleet that reports it**, the
ineligible ones included, rounded half away from zero (Go ``math.Round``). A cluster without
the property, or a fleet where min == max, gets 0 for that term.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from fleetsync_contract.quantity import QuantityError, parse_quantity
from reconciler.api.meta import LabelSelector
from reconciler.api.placement import ClusterSelectorTerm, PropertyOperator, SortOrder
from reconciler.hub.clusters import ClusterState
from reconciler.scheduler.index import FleetIndex
from reconciler.scheduler.model import ZERO, ClusterScore
from reconciler.scheduler.plugin import CallState, Filtered, Plugin

NAME = "ClusterAffinity"
REQUIRED_NOT_MATCHED = "none of the nonempty required cluster affinity term (total number: {n}) is matched"

# (property name, operator, expected value or None when the expression can never hold)
_Expr = tuple[str, PropertyOperator, Fraction | None]
Matcher = Callable[[Mapping[str, str]], bool]


def compile_selector(selector: LabelSelector | None) -> Matcher | None:
    """A label selector as one closure (Kubernetes semantics, as ``LabelSelector.matches``).

    The scheduler evaluates selectors on every cluster of the fleet; flattening them once per
    call keeps that loop to dictionary lookups.
    """
    if selector is None:
        return None
    pairs = tuple(selector.match_labels.items())
    reqs = tuple((r.key, r.operator, frozenset(r.values)) for r in selector.match_expressions)
    if len(pairs) == 1 and not reqs:  # the common `matchLabels: {env: prod}`
        ((key, value),) = pairs
        return lambda labels: labels.get(key) == value

    def matches(labels: Mapping[str, str]) -> bool:
        for k, v in pairs:
            if labels.get(k) != v:
                return False
        return all(_requirement_holds(labels, key, op, values) for key, op, values in reqs)

    return matches


def _requirement_holds(labels: Mapping[str, str], key: str, op: str, values: frozenset[str]) -> bool:
    """One matchExpressions requirement (In, NotIn, Exists, DoesNotExist) on a cluster's labels."""
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return not (key in labels and labels[key] in values)
    if op == "Exists":
        return key in labels
    return key not in labels  # DoesNotExist


@dataclass(frozen=True, slots=True)
class _Term:
    selector: Matcher | None
    exprs: tuple[_Expr, ...]
    labels: LabelSelector | None = None  # the selector ``selector`` was compiled from


@dataclass(frozen=True, slots=True)
class _Preference:
    selector: Matcher | None
    weight: int
    sorter: str | None
    descending: bool
    low: float | None  # min over the fleet (None: no cluster reports the property)
    high: float | None
    labels: LabelSelector | None = None  # the selector ``selector`` was compiled from
    floats: Mapping[int, float] = field(default_factory=dict)  # index position -> the sorter property


def go_round(x: float) -> int:
    """Go ``math.Round``: half away from zero, exact for every float."""
    t = math.trunc(x)
    if abs(x - t) >= 0.5:
        t += 1 if x > 0 else -1
    return int(t)


def _compile(term: ClusterSelectorTerm) -> _Term:
    exprs: list[_Expr] = []
    for req in term.property_selector:
        expected: Fraction | None = None
        if len(req.values) == 1:
            try:
                expected = parse_quantity(req.values[0])
            except QuantityError:
                expected = None
        exprs.append((req.name, req.operator, expected))
    return _Term(compile_selector(term.label_selector), tuple(exprs), term.label_selector)


def _holds(q: Fraction, op: PropertyOperator, v: Fraction) -> bool:
    # exact, on integers: q ? v  <=>  q.num * v.den ? v.num * q.den  (denominators are positive)
    a = q.numerator * v.denominator
    b = v.numerator * q.denominator
    if op == PropertyOperator.GT:
        return a > b
    if op == PropertyOperator.GE:
        return a >= b
    if op == PropertyOperator.EQ:
        return a == b
    if op == PropertyOperator.NE:
        return a != b
    if op == PropertyOperator.LT:
        return a < b
    return a <= b  # Le


def term_matches(term: _Term, cluster: ClusterState) -> bool:
    if term.selector is not None and not term.selector(cluster.labels):
        return False
    quantities = cluster.quantities
    for name, op, expected in term.exprs:
        q = quantities.get(name)
        if q is None or expected is None or not _holds(q, op, expected):
            return False
    return True


class ClusterAffinity(Plugin):
    name = NAME

    def pre_filter(self, call: CallState) -> bool:
        affinity = call.policy.affinity
        if affinity is None or not affinity.required:
            return False
        terms = tuple(_compile(t) for t in affinity.required)
        call.data[f"{NAME}/required"] = (terms, REQUIRED_NOT_MATCHED.format(n=len(terms)))
        return True

    def filter(self, call: CallState, cluster: ClusterState) -> str | None:
        terms, reason = call.data[f"{NAME}/required"]
        for term in terms:
            if term_matches(term, cluster):
                return None
        return str(reason)

    def filter_bits(self, call: CallState) -> Filtered:
        terms: tuple[_Term, ...]
        terms, reason = call.data[f"{NAME}/required"]
        index = call.index
        size = len(index.clusters)
        passed = 0
        for t in terms:  # ORed terms; within one, the selector and every expression ANDed
            bits = index.selecting(t.labels)
            for name, op, expected in t.exprs:
                if not bits:
                    break
                bits &= 0 if expected is None else index.quantity(name).holding(op, expected, size)
            passed |= bits
        return passed, lambda _p: str(reason)

    def pre_score(self, call: CallState) -> bool:
        affinity = call.policy.affinity
        if affinity is None:
            return False
        prefs: list[_Preference] = []
        for p in affinity.preferred:
            if p.weight == 0:
                continue
            sorter = p.preference.property_sorter
            q = call.index.quantity(sorter.name) if sorter is not None else None
            prefs.append(
                _Preference(
                    compile_selector(p.preference.label_selector),
                    p.weight,
                    None if sorter is None else sorter.name,
                    sorter is not None and sorter.sort_order == SortOrder.DESCENDING,
                    None if q is None else q.low,
                    None if q is None else q.high,
                    p.preference.label_selector,
                    {} if q is None else q.floats,
                )
            )
        call.data[f"{NAME}/preferred"] = tuple(prefs)
        return bool(prefs)

    def score(self, call: CallState, cluster: ClusterState) -> ClusterScore:
        prefs: tuple[_Preference, ...] = call.data[f"{NAME}/preferred"]
        total = 0
        for p in prefs:
            if p.selector is not None and not p.selector(cluster.labels):
                continue
            if p.sorter is None:
                total += p.weight
                continue
            q = cluster.quantities.get(p.sorter)
            if q is None or p.low is None or p.high is None or p.low == p.high:
                continue
            ratio = (float(q) - p.low) / (p.high - p.low)
            total += go_round((ratio if p.descending else 1 - ratio) * p.weight)
        return ClusterScore(0, total, 0) if total else ZERO

    def score_many(self, call: CallState, positions: Sequence[int]) -> list[ClusterScore]:
        prefs: tuple[_Preference, ...] = call.data[f"{NAME}/preferred"]
        totals = [0] * len(positions)
        for p in prefs:
            _add_preference(p, call.index, positions, totals)
        scores: dict[int, ClusterScore] = {0: ZERO}  # one score object per distinct total
        return [scores.get(t) or scores.setdefault(t, ClusterScore(0, t, 0)) for t in totals]


def _add_preference(p: _Preference, index: FleetIndex, positions: Sequence[int], totals: list[int]) -> None:
    """Add one preferred term's points to ``totals`` (aligned with ``positions``), as ``score`` does."""
    digits = "" if p.labels is None else bin(index.selecting(p.labels))[:1:-1]  # bit p = digits[p]
    n = len(digits)
    if p.sorter is None:
        for k, pos in enumerate(positions):
            if p.labels is None or (pos < n and digits[pos] == "1"):
                totals[k] += p.weight
        return
    low, high = p.low, p.high
    if low is None or high is None or low == high:
        return
    points: dict[float, int] = {}  # per distinct value: a fleet has few
    for k, pos in enumerate(positions):
        if p.labels is not None and not (pos < n and digits[pos] == "1"):
            continue
        f = p.floats.get(pos)
        if f is None:
            continue
        got = points.get(f)
        if got is None:
            ratio = (f - low) / (high - low)
            got = points[f] = go_round((ratio if p.descending else 1 - ratio) * p.weight)
        totals[k] += got
