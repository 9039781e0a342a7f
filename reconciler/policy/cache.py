"""Memoised policy gate results, so judging a fleet costs what differs, not clusters times objects.

celpy walks the expression tree in pure Python (a few ms per object per policy), and most of a
fleet's clusters get the very same objects. A result depends only on the policy's expressions,
the parameter object, the object, its previous render, the namespace object (when an expression
reads ``namespaceObject``) and the cluster variable (when one reads ``cluster``), so it is kept
under the content digests of those in a bounded LRU: an object shared by 1,000 clusters is judged
once, and a hub that keeps the cache across passes (reconciler/hub/gate.py keeps one per hub)
judges again only what changed. Which bindings match an object is memoised the same way.
Digests and CEL conversions are memoised per mapping until ``new_pass``: the key is the mapping
itself, compared by identity (``_Same``), so the memo holds every mapping it has seen and a key
can never be mistaken for another object's; rendered objects are never mutated in place.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.policy.cel import to_cel
from reconciler.policy.model import Binding, Expr, Policy

DEFAULT_MAX_RESULTS = 200_000  # (policy, object) results; a few hundred bytes each
MAX_MEMO_OBJECTS = 100_000  # per-pass digests and conversions; past it the memo starts over

Key = tuple[Any, ...]


class _Same:
    """A memo key that is one object, compared by identity (a manifest is an unhashable dict and
    equal content is exactly what the memo avoids comparing): the key holds the object, so it
    lives as long as the entry and no other object can ever match it."""

    __slots__ = ("_hash", "obj")

    def __init__(self, obj: object) -> None:
        self.obj = obj
        self._hash = id(obj)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr, ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def policy_fingerprint(policy: Policy) -> tuple[Any, ...]:
    """Everything about a policy that decides its result for an object it matches."""

    def text(e: Expr | None) -> str | None:
        return e.text if e is not None else None

    return (
        policy.name,
        policy.failure_policy,
        [(n, text(e)) for n, e in policy.variables],
        [(n, text(e)) for n, e in policy.match_conditions],
        [(text(v.expression), v.message, text(v.message_expression), v.reason) for v in policy.validations],
    )


def _bounded_put(table: OrderedDict[Key, Any], key: Key, value: Any, limit: int) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)


class PolicyCache:
    """Results by content (LRU, ``max_results``), plus per-pass memos of digests and CEL values."""

    __slots__ = ("_cel", "_digests", "_matched", "_results", "_sets", "max_results")

    def __init__(self, max_results: int = DEFAULT_MAX_RESULTS) -> None:
        self.max_results = max_results
        self._results: OrderedDict[Key, list[tuple[str, str]]] = OrderedDict()
        self._matched: OrderedDict[Key, tuple[int, ...]] = OrderedDict()
        self._digests: dict[_Same, str] = {}
        self._cel: dict[_Same, Any] = {}
        self._sets: dict[_Same, tuple[str, tuple[str, ...]]] = {}

    def new_pass(self) -> None:
        """Forget the per-mapping memos; the content-keyed results stay."""
        self._digests.clear()
        self._cel.clear()
        self._sets.clear()

    def __len__(self) -> int:
        return len(self._results)

    def results(self, key: Key) -> list[tuple[str, str]] | None:
        hit = self._results.get(key)
        if hit is not None:
            self._results.move_to_end(key)
        return hit

    def keep(self, key: Key, results: list[tuple[str, str]]) -> None:
        _bounded_put(self._results, key, results, self.max_results)

    def matched(self, key: Key) -> tuple[int, ...] | None:
        hit = self._matched.get(key)
        if hit is not None:
            self._matched.move_to_end(key)
        return hit

    def keep_matched(self, key: Key, which: tuple[int, ...]) -> None:
        _bounded_put(self._matched, key, which, self.max_results)

    def digest(self, value: Any) -> str:
        """The content digest of a manifest or any JSON-like value ("" for None)."""
        if value is None:
            return ""
        key = _Same(value)
        hit = self._digests.get(key)
        if hit is None:
            if len(self._digests) >= MAX_MEMO_OBJECTS:
                self._digests.clear()
            hit = self._digests[key] = _digest(value)
        return hit

    def cel(self, obj: Mapping[str, Any] | None) -> Any:
        """``to_cel(obj)``, converted once per mapping and shared by every policy."""
        if obj is None:
            return None
        key = _Same(obj)
        if key not in self._cel:
            if len(self._cel) >= MAX_MEMO_OBJECTS:
                self._cel.clear()
            self._cel[key] = to_cel(obj)
        return self._cel[key]

    def fingerprints(
        self, holder: Any, bindings: Sequence[Binding], policies: Mapping[str, Policy]
    ) -> tuple[str, tuple[str, ...]]:
        """(digest of what decides matching for the whole set, digest of each binding's policy).

        Matching is plain frozen data, so its ``repr`` is exact; computed once per ``holder``
        (the PolicySet) per pass.
        """
        key = _Same(holder)
        hit = self._sets.get(key)
        if hit is None:
            per_policy = {name: _digest(policy_fingerprint(p)) for name, p in policies.items()}
            matching = [
                (
                    b.policy,
                    repr(b.match),
                    repr(b.param_ref),
                    repr(policies[b.policy].match) if b.policy in policies else None,
                )
                for b in bindings
            ]
            hit = self._sets[key] = (_digest(matching), tuple(per_policy.get(b.policy, "") for b in bindings))
        return hit
