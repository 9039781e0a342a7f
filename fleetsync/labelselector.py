"""Label selectors as people type them (kubectl's syntax) and as files hold them (a LabelSelector).

A Team's ``clusterSelector`` is written on the command line the way ``kubectl get -l`` takes it
(``env=staging,region in (eu,us),!legacy``) and stored as the LabelSelector document KubeFleet's
placement affinity uses, so a person types one familiar syntax and the hub reads one familiar
format. The hub parses selectors of files (reconciler/api/meta.py, with located errors) but has
no reader of kubectl's text form, so that one direction, and the way back for a table, are
here, pure and bounded; fleetsync/teamfile.py then has the document the flag made judged by the
hub's own loader like any hand-written Team file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.api.fields import check_label_key, check_label_value
from reconciler.errors import UserError

MAX_TEXT = 2_048  # characters of a selector on the command line
MAX_TERMS = 256  # terms or matchExpressions of one selector
_SET_TERM = re.compile(r"^(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")


class SelectorError(UserError):
    """A selector that Kubernetes would refuse; the message names the flag or the field."""


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _terms(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms: list[str] = []
    depth, start = 0, 0
    for i, c in enumerate(text):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth < 0 or depth > 1:
            raise SelectorError(f"--clusters {text!r}: unbalanced parentheses")
        if c == "," and depth == 0:
            terms.append(text[start:i].strip())
            start = i + 1
    if depth:
        raise SelectorError(f"--clusters {text!r}: unbalanced parentheses")
    terms.append(text[start:].strip())
    return terms


def _key(key: str) -> str:
    why = check_label_key(key)
    if why:
        raise SelectorError(f"--clusters: invalid label key {key!r}: {why}")
    return key


def _value(value: str) -> str:
    why = check_label_value(value)
    if why:
        raise SelectorError(f"--clusters: invalid label value {value!r}: {why}")
    return value


def _term(term: str, labels: dict[str, str], exprs: list[dict[str, Any]]) -> None:
    found = _SET_TERM.match(term)
    if found:
        values = [_value(v) for v in _split(found["values"])]
        if not values:
            raise SelectorError(f"--clusters: {term!r} needs at least one value")
        op = "In" if found["op"] == "in" else "NotIn"
        exprs.append({"key": _key(found["key"]), "operator": op, "values": sorted(set(values))})
    elif term.startswith("!"):
        exprs.append({"key": _key(term[1:].strip()), "operator": "DoesNotExist"})
    elif "!=" in term:
        key, _, value = term.partition("!=")
        exprs.append({"key": _key(key.strip()), "operator": "NotIn", "values": [_value(value.strip())]})
    elif "=" in term:
        key, _, value = term.replace("==", "=", 1).partition("=")
        key = _key(key.strip())
        if labels.get(key, value.strip()) != value.strip():
            raise SelectorError(f"--clusters: {key} is required to equal two values")
        labels[key] = _value(value.strip())
    else:
        exprs.append({"key": _key(term), "operator": "Exists"})


def parse_selector(text: str) -> dict[str, Any]:
    """A kubectl label selector (``=``, ``==``, ``!=``, ``in (…)``, ``notin (…)``, ``key``,
    ``!key``, comma-separated, all ANDed) → a LabelSelector document."""
    if len(text) > MAX_TEXT:
        raise SelectorError(f"--clusters is longer than {MAX_TEXT} characters")
    terms = _terms(text)
    if len(terms) > MAX_TERMS or any(not t for t in terms):
        raise SelectorError(f"--clusters {text!r}: an empty term (use 'key=value,key2 in (a,b)')")
    labels: dict[str, str] = {}
    exprs: list[dict[str, Any]] = []
    for term in terms:
        _term(term, labels, exprs)
    out: dict[str, Any] = {}
    if labels:
        out["matchLabels"] = labels
    if exprs:
        out["matchExpressions"] = exprs
    return out


def selector_text(selector: Mapping[str, Any] | None) -> str:
    """The kubectl form of a LabelSelector document (for a table); ``*`` for every cluster."""
    if selector is None:
        return "*"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), ",".join(map(str, e.get("values") or []))
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": f"{key}"}.get(
                str(op), f"!{key}"
            )
        )
    return ",".join(parts) or "*"
