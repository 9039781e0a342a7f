"""Label and field selectors, parsed and matched as kube-apiserver does for list and watch.

Label selectors support equality (``=``, ``==``, ``!=``), set-based (``in``, ``notin``), existence
(``key``) and non-existence (``!key``). Field selectors support ``metadata.name`` and
``metadata.namespace`` for every kind, plus the few per-kind fields the agent and kubectl use;
anything else is a 400, as on a real server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubesim.status import ApiError, bad_request

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


def _split(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def label_selector(text: str) -> Matcher:
    tests: list[Matcher] = []
    for term in _split(text):
        tests.append(_label_term(term, text))
    return lambda obj: all(t(obj.get("metadata", {}).get("labels") or {}) for t in tests)


def _label_term(term: str, whole: str) -> Callable[[dict[str, str]], bool]:
    m = re.fullmatch(rf"({_KEY})\s+(in|notin)\s+\(([^)]*)\)", term)
    if m:
        key, op = m.group(1), m.group(3)
        values = {v.strip() for v in m.group(4).split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    m = re.fullmatch(rf"({_KEY})\s*(==|=|!=)\s*({_VALUE})", term)
    if m:
        key, op, value = m.group(1), m.group(3), m.group(4)
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    m = re.fullmatch(rf"!\s*({_KEY})", term)
    if m:
        key = m.group(1)
        return lambda labels: key not in labels
    m = re.fullmatch(rf"({_KEY})", term)
    if m:
        key = m.group(1)
        return lambda labels: key in labels
    raise _bad_label(whole, term)


def _bad_label(whole: str, term: str) -> ApiError:
    if re.fullmatch(rf"({_KEY})\s+(in|notin)\s+[^(].*", term):
        return bad_request(f"unable to parse requirement: found '{term.split()[-1]}', expected: '('")
    return bad_request(f"unable to parse requirement: invalid label selector: {whole!r}")


def _field_value(obj: Obj, path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part, "")
    return "" if node is None else node


_EXTRA_FIELDS = {
    "Pod": {
        "status.phase",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.podIP",
        "status.nominatedNodeName",
        "spec.hostNetwork",
    },
    "Event": {
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "Secret": {"type"},
    "Namespace": {"status.phase"},
    "Node": {"spec.unschedulable"},
    "Job": {"status.successful"},
    "ReplicaSet": {"status.replicas"},
}


# Selector labels that name another field than their path (an Event's ``source`` is its component).
_FIELD_ALIASES = {("Event", "source"): "source.component"}


def _field_test(path: str, value: str, negate: bool) -> Matcher:
    def test(obj: Obj) -> bool:
        return (str(_field_value(obj, path)) == value) != negate

    return test


def field_selector(text: str, kind: str) -> Matcher:
    tests: list[Matcher] = []
    allowed = {"metadata.name", "metadata.namespace"} | _EXTRA_FIELDS.get(kind, set())
    for term in _split(text):
        m = re.fullmatch(r"([A-Za-z.]+)\s*(==|=|!=)\s*(.*)", term)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = m.group(1), m.group(2), m.group(3)
        if path not in allowed:
            raise bad_request(f"field label not supported: {path}")
        tests.append(_field_test(_FIELD_ALIASES.get((kind, path), path), value, negate=op == "!="))
    return lambda obj: all(t(obj) for t in tests)
