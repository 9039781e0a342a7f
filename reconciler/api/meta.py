"""Shared pieces of every fleet object: metadata (and its name/namespace accessors), label selectors,
where an object came from.

``LabelSelector`` keeps Kubernetes' semantics (``matchLabels`` and ``matchExpressions`` ANDed,
an empty selector matches everything). Whether a *missing* selector means "nothing" or
"everything" differs by KubeFleet field, so callers keep ``None`` and decide; the selector
itself never guesses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from reconciler.api.fields import Fields, check_dns_subdomain, check_label_key, check_label_value

EMPTY: Mapping[str, str] = MappingProxyType({})


def empty_map() -> Mapping[Any, Any]:
    """A shared, read-only empty mapping (a dataclass default)."""
    return EMPTY


OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an object was written: shown in every error and plan about it."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    name: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=empty_map)
    annotations: Mapping[str, str] = field(default_factory=empty_map)


class Named:
    """``name`` of a fleet object, read from its ``meta``: a mixin for the frozen model dataclasses.

    ``__slots__ = ()`` keeps the dataclasses that inherit it slotted (a base class without
    ``__slots__`` would give every instance a ``__dict__``); it adds accessors, never fields, so
    equality, hashing, ``replace`` and ``dataclasses.fields`` see only the dataclass's own.
    """

    __slots__ = ()
    meta: ObjectMeta  # declared by the dataclass

    @property
    def name(self) -> str:
        return self.meta.name


class NamespacedName(Named):
    """``name`` and ``namespace`` (``""`` for a cluster-scoped object) read from ``meta``."""

    __slots__ = ()

    @property
    def namespace(self) -> str:
        return self.meta.namespace


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


@dataclass(frozen=True, slots=True)
class LabelSelector:
    match_labels: Mapping[str, str] = field(default_factory=empty_map)
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        for k, v in self.match_labels.items():
            if labels.get(k) != v:
                return False
        return all(r.matches(labels) for r in self.match_expressions)

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.match_labels:
            out["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            out["matchExpressions"] = [
                {"key": r.key, "operator": r.operator, **({"values": list(r.values)} if r.values else {})}
                for r in self.match_expressions
            ]
        return out


def parse_label_selector(f: Fields) -> LabelSelector:
    labels = f.str_map("matchLabels")
    for k, v in labels.items():
        why = check_label_key(k)
        if why:
            f.ctx.error((*f.at("matchLabels"), k), f"invalid label key {k!r}: {why}")
        why = check_label_value(v)
        if why:
            f.ctx.error((*f.at("matchLabels"), k), f"invalid label value {v!r}: {why}")
    reqs: list[Requirement] = []
    for e in f.objects("matchExpressions"):
        key = e.str("key", required=True) or ""
        op = e.str("operator", required=True, enum=OPERATORS)
        values: tuple[str, ...] = tuple(e.str_list("values"))
        e.done()
        if key:
            why = check_label_key(key)
            if why:
                e.error("key", f"invalid label key {key!r}: {why}")
        if op in ("In", "NotIn") and not values:
            e.error("values", f"values must be non-empty when operator is {op}")
        if op in ("Exists", "DoesNotExist") and values:
            e.error("values", f"values must be empty when operator is {op}")
        if op is not None:
            reqs.append(Requirement(key, op, values))
    f.done()
    return LabelSelector(MappingProxyType(dict(labels)), tuple(reqs))


def parse_metadata(
    f: Fields | None,
    *,
    namespaced: bool,
    max_name: int = 253,
    name_check: Callable[[str], str | None] | None = None,
) -> ObjectMeta:
    """metadata of a fleet object; server-set fields are accepted and ignored (server output)."""
    if f is None:
        return ObjectMeta(name="")
    name = f.str("name", required=True) or ""
    if name:
        why = (name_check or check_dns_subdomain)(name)
        if why is None and len(name) > max_name:
            why = f"must be no more than {max_name} characters"
        if why:
            f.error("name", f"invalid name {name!r}: {why}")
    namespace = ""
    if namespaced:
        namespace = f.str("namespace", "") or ""
        if namespace:
            why = check_dns_subdomain(namespace, 63)
            if why:
                f.error("namespace", f"invalid namespace {namespace!r}: {why}")
    else:
        ns = f.str("namespace")
        if ns:
            f.error("namespace", "this kind is cluster-scoped: metadata.namespace must not be set")
    labels = f.str_map("labels")
    for k, v in labels.items():
        why = check_label_key(k) or check_label_value(v)
        if why:
            f.ctx.error((*f.at("labels"), k), f"invalid label {k}={v!r}: {why}")
    annotations = f.str_map("annotations")
    # Accepted so that `kubectl get -o yaml` output and generated YAML load; never used.
    f.ignore(
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "finalizers",
        "ownerReferences",
        "selfLink",
        "generateName",
    )
    f.done()
    return ObjectMeta(name, namespace, MappingProxyType(dict(labels)), MappingProxyType(dict(annotations)))


def parse_namespaced_metadata(
    f: Fields,
    kind: str,
    *,
    namespaced: bool,
    namespace_hint: str,
    max_name: int = 253,
    name_check: Callable[[str], str | None] | None = None,
) -> ObjectMeta:
    """The required ``metadata`` of an object ``f``, where a namespaced ``kind`` must name its namespace.

    fleetsync has no request namespace to default it from; ``namespace_hint`` tells the user
    which namespace to set (e.g. "that of its ResourcePlacement").
    """
    md = f.map("metadata", required=True)
    meta = parse_metadata(md, namespaced=namespaced, max_name=max_name, name_check=name_check)
    if md is not None and namespaced and not meta.namespace:
        md.error(None, f"a {kind} is namespaced: set metadata.namespace ({namespace_hint})")
    return meta
