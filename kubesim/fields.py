"""Field sets in the FieldsV1 shape, and the schema facts that decide what a field *is*.

Server-side apply tracks ownership per field path. A path is a tuple of FieldsV1 elements:
``f:name`` (a struct or map key), ``k:{"name":"app"}`` (an associative-list item, keyed),
``v:"x"`` (a set-list item) and ``i:0`` (rarely). A field set is a Python ``set`` of the paths a
manager owns as *members*; serialising it builds the nested FieldsV1 dict, writing ``"."`` on a node
that is both a member and a parent, exactly as kube-apiserver does.

What is a list key, what is atomic and what is a set comes from the built-in types' OpenAPI
extensions. We do not ship the schema; :func:`list_kind` and :func:`is_atomic` encode the handful of
rules the recordings and the agent's kinds need, by field name and parent, with every other list
treated as atomic (which is what the schema says for most of them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]
Path = tuple[str, ...]
FieldSet = set[Path]

# Fields that are never tracked: kube-apiserver strips them from every field set.
_STRIPPED_TOP = {"f:apiVersion", "f:kind"}
_STRIPPED_META = {
    "f:name",
    "f:namespace",
    "f:uid",
    "f:resourceVersion",
    "f:generation",
    "f:creationTimestamp",
    "f:managedFields",
    "f:selfLink",
    "f:deletionTimestamp",
    "f:deletionGracePeriodSeconds",
}

# Associative lists by field name: (keys, default values of keys).
_ASSOC: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "resourceClaims": ("name",),
    "readinessGates": ("conditionType",),
}
_KEY_DEFAULTS = {"protocol": "TCP"}
_SETS = {"finalizers"}
# Struct or map fields that are replaced whole (x-kubernetes-map-type / struct-type atomic).
_ATOMIC = {"selector", "roleRef", "podSelector", "namespaceSelector", "involvedObject"}


def list_kind(path: Path) -> tuple[str, ...] | str | None:
    """The keys of the list at ``path``, ``"set"`` for a set list, ``None`` for an atomic list."""
    if not path:
        return None
    name = path[-1][2:] if path[-1].startswith("f:") else ""
    parent = path[-2] if len(path) > 1 else ""
    if name == "ports":
        if parent.startswith("k:"):  # a container's ports
            return ("containerPort", "protocol")
        if path[:2] == ("f:spec", "f:ports") and len(path) == 2:
            return ("port", "protocol")
        return None
    if name == "finalizers" and path[:1] == ("f:metadata",):
        return "set"
    if name == "conditions" and path[:1] != ("f:status",):
        return None
    return _ASSOC.get(name)


def is_atomic(path: Path) -> bool:
    return bool(path) and path[-1].startswith("f:") and path[-1][2:] in _ATOMIC


def key_element(item: Any, keys: tuple[str, ...]) -> str:
    """The ``k:{...}`` element of an associative-list item (keys sorted, defaults filled)."""
    if not isinstance(item, dict):
        return "v:" + _compact(item)
    values = {}
    for k in sorted(keys):
        v = item.get(k, _KEY_DEFAULTS.get(k))
        if v is not None:
            values[k] = v
    return "k:" + _compact(values)


def value_element(item: Any) -> str:
    return "v:" + _compact(item)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _stripped(path: Path) -> bool:
    if path[0] in _STRIPPED_TOP:
        return True
    return len(path) >= 2 and path[0] == "f:metadata" and path[1] in _STRIPPED_META


def children(value: Any, path: Path) -> Iterable[tuple[str, Any]]:
    """The (element, child value) pairs under a map or non-atomic list at ``path``."""
    if isinstance(value, dict):
        if is_atomic(path):
            return []
        return [("f:" + k, v) for k, v in value.items()]
    if isinstance(value, list):
        kind = list_kind(path)
        if kind == "set":
            return [(value_element(v), v) for v in value]
        if isinstance(kind, tuple):
            return [(key_element(v, kind), v) for v in value]
    return []


def is_leaf(value: Any, path: Path) -> bool:
    if isinstance(value, dict):
        return is_atomic(path) or not value
    if isinstance(value, list):
        return list_kind(path) is None
    return True


def apply_set(obj: Obj, *, skip_status: bool) -> FieldSet:
    """The fields an applied configuration sets (SMD's toFieldSet): leaves, list items, atomics."""
    out: FieldSet = set()

    def walk(value: Any, path: Path) -> None:
        if path:
            if _stripped(path) or (skip_status and path[0] == "f:status"):
                return
            if is_leaf(value, path):
                out.add(path)
                return
            if isinstance(value, list) and list_kind(path) == "set":
                for el, _ in children(value, path):
                    out.add((*path, el))
                return
            if isinstance(value, list):
                for el, child in children(value, path):
                    out.add((*path, el))
                    for cel, cv in children(child, (*path, el)):
                        walk(cv, (*path, el, cel))
                return
        for el, child in children(value, path):
            walk(child, (*path, el))

    walk(obj, ())
    return {p for p in out if p}


def changed_set(old: Any, new: Any, *, skip_status: bool) -> tuple[FieldSet, FieldSet]:  # noqa: C901
    """(added or modified, removed) paths between two objects, as an Update manager is credited."""
    added: FieldSet = set()
    removed: FieldSet = set()

    def everything(value: Any, path: Path, into: FieldSet) -> None:
        if _stripped(path) or (skip_status and path[0] == "f:status"):
            return
        into.add(path)
        if not is_leaf(value, path):
            for el, child in children(value, path):
                everything(child, (*path, el), into)

    def walk(a: Any, b: Any, path: Path) -> None:
        if path and (_stripped(path) or (skip_status and path[0] == "f:status")):
            return
        if a is None and path and not is_leaf(b, path):
            # A null that becomes a map or keyed list: the node existed, its children are new.
            for el, child in children(b, path):
                everything(child, (*path, el), added)
            return
        both_maps = isinstance(a, dict) and isinstance(b, dict) and not is_atomic(path)
        both_keyed = isinstance(a, list) and isinstance(b, list) and list_kind(path) is not None
        if path and not both_maps and not both_keyed:
            if a != b:
                added.add(path)
            return
        ca = dict(children(a, path))
        cb = dict(children(b, path))
        for el, vb in cb.items():
            if el not in ca:
                everything(vb, (*path, el), added)
            else:
                walk(ca[el], vb, (*path, el))
        for el, va in ca.items():
            if el not in cb:
                everything(va, (*path, el), removed)

    walk(old, new, ())
    return added, removed


def to_fields_v1(fields: FieldSet) -> Obj:
    tree: Obj = {}
    for path in sorted(fields):
        node = tree
        for el in path:
            node = node.setdefault(el, {})
    for path in fields:
        node = tree
        for el in path:
            node = node[el]
        if node and "." not in node:
            node["."] = {}
    return _sorted(tree)


def _sorted(node: Obj) -> Obj:
    return {k: _sorted(node[k]) for k in sorted(node)}


def from_fields_v1(tree: Obj) -> FieldSet:
    out: FieldSet = set()

    def walk(node: Obj, path: Path) -> None:
        kids = [k for k in node if k != "."]
        if path and ("." in node or not kids):
            out.add(path)
        for k in kids:
            walk(node[k], (*path, k))

    walk(tree, ())
    return out


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    """Follow a field path through an object: (found, value)."""
    node = obj
    for i, el in enumerate(path):
        found = False
        for cel, child in children(node, path[:i]):
            if cel == el:
                node, found = child, True
                break
        if not found:
            return False, None
    return True, node


def remove_path(obj: Any, path: Path) -> None:
    """Delete the field or list item at ``path``, then any map it leaves empty."""
    found, parent = get_path(obj, path[:-1])
    if not found:
        return
    el = path[-1]
    if isinstance(parent, dict) and el.startswith("f:"):
        parent.pop(el[2:], None)
    elif isinstance(parent, list):
        parent[:] = [c for cel, c in children(parent, path[:-1]) if cel != el]
    else:
        return
    if len(path) > 1 and isinstance(parent, dict | list) and not parent:
        remove_path(obj, path[:-1])


def describe(path: Path) -> str:
    """A path as SMD prints it in conflict messages: ``.spec.containers[name="app"].image``."""
    out = ""
    for el in path:
        if el.startswith("f:"):
            out += "." + el[2:]
        elif el.startswith("k:"):
            keys = json.loads(el[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif el.startswith("v:"):
            out += "[=" + el[2:] + "]"
        else:
            out += "[" + el[2:] + "]"
    return out
