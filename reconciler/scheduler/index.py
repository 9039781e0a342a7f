"""The fleet as columns and bitsets, built once per hub pass and shared by every placement.

The hub builds its tuple of ``ClusterState`` once per reconcile and schedules every placement
against it. What a plugin reads of a cluster that does not depend on the placement — the fleet
deduplicated and sorted by name, who is eligible or tainted, which clusters carry which label
value, a property's values in order — is computed once for that tuple (lazily: per label key or
property a placement asks about) and kept with it. A placement's filters then become set
operations on bitsets (one Python ``int``; bit ``i`` is the ``i``-th cluster by name: an AND over
5,000 clusters is a few microseconds), a property expression a binary search over the sorted
values, and only scoring still visits each cluster that passed. ``fleet_index`` remembers the
index of the last tuple it was given (a tuple of frozen states cannot change, and the reference
held keeps its identity from being reused); any other sequence gets a fresh index.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from reconciler.api.meta import LabelSelector
from reconciler.api.placement import PropertyOperator
from reconciler.hub.clusters import ClusterState


def bits_of(positions: Iterable[int], size: int) -> int:
    """The bitset of ``positions`` (each < ``size``)."""
    if size == 0:
        return 0
    digits = bytearray(b"0") * size
    for p in positions:
        digits[p] = 49  # "1"
    digits.reverse()  # bit 0 is the last binary digit
    return int(digits, 2)


def positions_of(bits: int) -> list[int]:
    """The positions set in ``bits``, ascending."""
    digits = bin(bits)[:1:-1]  # bit 0 first, without "0b"
    return [i for i, d in enumerate(digits) if d == "1"]


def iter_positions(bits: int) -> Iterator[int]:
    """``positions_of``, lazily: for a consumer that stops after a few."""
    digits = bin(bits)[:1:-1]
    i = digits.find("1")
    while i >= 0:
        yield i
        i = digits.find("1", i + 1)


@dataclass(frozen=True, slots=True)
class Quantity:
    """One property over the fleet: who reports it as a quantity, and its values in order."""

    bits: int  # clusters reporting it
    order: tuple[int, ...]  # those clusters' positions, by value ascending
    values: tuple[Fraction, ...]  # their values, ascending (aligned with ``order``)
    floats: dict[int, float]  # position -> float(value)
    low: float | None  # min over the fleet (None: nobody reports it); float() rounding is monotone
    high: float | None

    def holding(self, op: PropertyOperator, expected: Fraction, size: int) -> int:
        """The clusters whose value ``op expected`` holds (exact: Fractions compared)."""
        lo, hi = bisect_left(self.values, expected), bisect_right(self.values, expected)
        if op == PropertyOperator.GT:
            picked: Sequence[int] = self.order[hi:]
        elif op == PropertyOperator.GE:
            picked = self.order[lo:]
        elif op == PropertyOperator.EQ:
            picked = self.order[lo:hi]
        elif op == PropertyOperator.NE:
            return self.bits & ~bits_of(self.order[lo:hi], size)
        elif op == PropertyOperator.LT:
            picked = self.order[:lo]
        else:  # Le
            picked = self.order[:hi]
        return bits_of(picked, size)


@dataclass(slots=True, eq=False)
class FleetIndex:
    """A fleet, deduplicated and sorted by name, with lazily built per-key and per-property views."""

    clusters: tuple[ClusterState, ...]
    names: tuple[str, ...] = ()
    all: int = 0  # every cluster
    eligible: int = 0
    tainted: int = 0
    present: frozenset[str] = frozenset()  # clusters not leaving the fleet
    _position: dict[str, int] = field(default_factory=dict)
    _labels: dict[str, tuple[dict[str, int], int, list[str | None]]] = field(default_factory=dict)
    _quantities: dict[str, Quantity] = field(default_factory=dict)

    @classmethod
    def build(cls, clusters: Sequence[ClusterState]) -> FleetIndex:
        # by name; for a name given twice the later one wins, as a dict keeps it
        fleet = tuple(
            sorted({c.name: c for c in sorted(clusters, key=lambda c: c.name)}.values(), key=lambda c: c.name)
        )
        size = len(fleet)
        return cls(
            fleet,
            names=tuple(c.name for c in fleet),
            all=(1 << size) - 1,
            eligible=bits_of((i for i, c in enumerate(fleet) if c.eligible), size),
            tainted=bits_of((i for i, c in enumerate(fleet) if c.taints), size),
            present=frozenset(c.name for c in fleet if not c.leaving),
            _position={c.name: i for i, c in enumerate(fleet)},
        )

    def position(self, name: str) -> int | None:
        return self._position.get(name)

    def _label(self, key: str) -> tuple[dict[str, int], int, list[str | None]]:
        found = self._labels.get(key)
        if found is None:
            column = [c.labels.get(key) for c in self.clusters]
            groups: dict[str, list[int]] = {}
            for i, v in enumerate(column):
                if v is not None:
                    groups.setdefault(v, []).append(i)
            size = len(self.clusters)
            by_value = {v: bits_of(ps, size) for v, ps in groups.items()}
            having = 0
            for bits in by_value.values():
                having |= bits
            found = (by_value, having, column)
            self._labels[key] = found  # a plain dict write: two threads at worst build it twice
        return found

    def column(self, key: str) -> list[str | None]:
        """Each cluster's value of label ``key`` (None: no such label), by position."""
        return self._label(key)[2]

    def values(self, key: str) -> frozenset[str]:
        """Every value label ``key`` has in the fleet."""
        return frozenset(self._label(key)[0])

    def with_label(self, key: str, value: str) -> int:
        return self._label(key)[0].get(value, 0)

    def with_key(self, key: str) -> int:
        return self._label(key)[1]

    def selecting(self, selector: LabelSelector | None) -> int:
        """The clusters ``selector`` matches (Kubernetes semantics, as ``LabelSelector.matches``)."""
        out = self.all
        if selector is None:
            return out
        for k, v in selector.match_labels.items():
            out &= self.with_label(k, v)
        for r in selector.match_expressions:
            anyof = 0
            for v in frozenset(r.values):
                anyof |= self.with_label(r.key, v)
            if r.operator == "In":
                out &= anyof
            elif r.operator == "NotIn":
                out &= ~anyof
            elif r.operator == "Exists":
                out &= self.with_key(r.key)
            else:  # DoesNotExist
                out &= ~self.with_key(r.key)
        return out & self.all

    def quantity(self, name: str) -> Quantity:
        found = self._quantities.get(name)
        if found is None:
            # float(q) is numerator / denominator, correctly rounded, so monotone in q
            reported = [
                (q.numerator / q.denominator, i, q)
                for i, c in enumerate(self.clusters)
                if (q := c.quantities.get(name)) is not None
            ]
            reported.sort(key=lambda r: r[0])
            _exact_ties(reported)
            floats = {i: f for f, i, _ in reported}
            found = Quantity(
                bits=bits_of((i for _, i, _ in reported), len(self.clusters)),
                order=tuple(i for _, i, _ in reported),
                values=tuple(q for _, _, q in reported),
                floats=floats,
                low=min(floats.values()) if floats else None,
                high=max(floats.values()) if floats else None,
            )
            self._quantities[name] = found
        return found


def _exact_ties(reported: list[tuple[float, int, Fraction]]) -> None:
    """Order runs of equal floats by their exact values (two values a float cannot tell apart;
    equal values stay in position order), so ``values`` is sorted exactly."""
    start = 0
    for k in range(1, len(reported) + 1):
        if k == len(reported) or reported[k][0] != reported[start][0]:
            run = reported[start:k]
            if len(run) > 1 and len({(r[2].numerator, r[2].denominator) for r in run}) > 1:
                reported[start:k] = sorted(run, key=lambda r: r[2])
            start = k


_last: tuple[tuple[ClusterState, ...], FleetIndex] | None = None
_lock = threading.Lock()


def fleet_index(clusters: Sequence[ClusterState]) -> FleetIndex:
    """The index of ``clusters``: the one built for the same tuple by the previous call (the hub
    schedules every placement of a pass against one tuple), else a new one."""
    global _last
    last = _last
    if last is not None and last[0] is clusters:
        return last[1]
    index = FleetIndex.build(clusters)
    if isinstance(clusters, tuple):
        with _lock:
            _last = (clusters, index)
    return index
