"""Drift and diff: what differs between the hub's manifest and the live object, as KubeFleet says it.

KubeFleet's work applier (``drift_detection_takeover.go``) strips both sides of fields that are
irrelevant to comparison, diffs their JSON with wI2L/jsondiff's default (no LCS, no
factorisation) and turns each JSON-patch operation into a ``PatchDetail``: a field only on the
member gives ``valueInMember``, only in the hub ``valueInHub``, a changed value both. This module
reproduces that byte for byte, because the hub folds the details into placement status and users
compare them with KubeFleet's:

- values are rendered with Go's ``%v``. The member side comes out of a JSON decode into
  ``interface{}`` (numbers are float64: ``1e+06``), the hub side out of an unstructured object
  (integers stay integers: ``1000000``);
- array differences are by index; surplus hub elements are removed at the first surplus index,
  surplus member elements are added at ``/-`` — KubeFleet's paths, quirks included;
- at most 100 details per object; details of a core Secret under ``/data`` or ``/stringData``
  are redacted.

PartialComparison diffs a server-side dry-run apply of the manifest against the live object (only
fields the manifest sets can differ); a dry run refused as Invalid (an immutable field) falls back
to a full comparison, flagged as degraded. The dry run is injected, so this module stays pure;
``overlay`` stands in for it where there is no server (``fleetsync diff --live``).

Why not a general diff library (deepdiff was a dependency once): the details are a wire format
users hold next to KubeFleet's, and a general differ answers a different question. deepdiff
names every surplus member element by its index where KubeFleet's jsondiff appends at ``/-``,
calls ``1000000`` against ``1e6`` a type change where KubeFleet compares two JSON numbers, and
groups its findings by kind of change rather than by a walk of the object, which decides the
order of details and so which 100 survive the cap. Translating its output back would be this
module again, plus a dependency.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.errors import Invalid
from fleetsync_contract.report import MAX_DETAILS, REDACTED, PatchDetail

Obj = dict[str, Any]
DryRun = Callable[[Obj], Obj]

PARTIAL = "PartialComparison"
FULL = "FullComparison"

# KubeFleet's reserved prefixes, plus our ownership marks (the analogue of the AppliedWork
# ownerReference, which KubeFleet also discards; see takeover.py).
_RESERVED = ("kubernetes.io/", "k8s.io/", "kubernetes-fleet.io/", "fleetsync.io/")
_META_DROP = (
    "name",
    "namespace",
    "generateName",
    "finalizers",
    "managedFields",
    "ownerReferences",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
    "selfLink",
    "uid",
    "creationTimestamp",
)


def discard_irrelevant(obj: Mapping[str, Any]) -> Obj:
    """A copy without the fields KubeFleet ignores in every comparison (kubefleet-api.md §6)."""
    out: Obj = copy.deepcopy(dict(obj))
    meta = out.get("metadata")
    meta = dict(meta) if isinstance(meta, dict) else {}
    for key in _META_DROP:
        meta.pop(key, None)
    for key in ("labels", "annotations"):
        values = meta.get(key)
        if isinstance(values, dict):
            meta[key] = {k: v for k, v in values.items() if not any(r in k for r in _RESERVED)}
        else:
            meta[key] = {}
    out["metadata"] = meta
    out.pop("status", None)
    _drop(out, ("spec", "template", "metadata", "creationTimestamp"))
    _drop(out, ("spec", "jobTemplate", "spec", "template", "metadata", "creationTimestamp"))
    return out


def _drop(obj: Obj, path: tuple[str, ...]) -> None:
    cur: Any = obj
    for key in path[:-1]:
        cur = cur.get(key) if isinstance(cur, dict) else None
        if cur is None:
            return
    if isinstance(cur, dict):
        cur.pop(path[-1], None)


# -- Go %v ----------------------------------------------------------------------------------------
def go_value(value: Any, *, json_numbers: bool = False) -> str:
    """``fmt.Sprint(value)`` of decoded JSON. ``json_numbers``: integers were decoded as float64."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _go_float(float(value)) if json_numbers else str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        inner = " ".join(f"{k}:{go_value(value[k], json_numbers=json_numbers)}" for k in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_value(v, json_numbers=json_numbers) for v in value) + "]"
    return str(value)


def _go_float(f: float) -> str:
    """``strconv.FormatFloat(f, 'g', -1, 64)``: shortest digits, %e form when exp < -4 or >= 6."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    sign, digits, exponent = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exponent, int)
    ds = "".join(str(d) for d in digits)
    nd = len(ds)
    dp = nd + exponent  # position of the decimal point relative to the digit string
    exp = dp - 1
    eprec = 6  # Go uses precision 6 for this decision when printing the shortest digits
    minus = "-" if sign else ""
    if exp < -4 or exp >= eprec:
        mant = ds[0] + ("." + ds[1:] if nd > 1 else "")
        return f"{minus}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{minus}0.{'0' * -dp}{ds}"
    if dp >= nd:
        return f"{minus}{ds}{'0' * (dp - nd)}"
    return f"{minus}{ds[:dp]}.{ds[dp:]}"


# -- wI2L/jsondiff (default options) -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Op:
    type: str  # add | remove | replace
    path: str
    value: Any = None  # the member's value (add / replace)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    return type(v).__name__


def _diff(ptr: str, src: Any, tgt: Any, ops: list[_Op]) -> None:
    if _kind(src) != _kind(tgt):
        ops.append(_Op("replace", ptr, tgt))
        return
    if src == tgt:
        return
    if isinstance(src, dict):
        for k in sorted(set(src) | set(tgt)):
            p = f"{ptr}/{_escape(k)}"
            if k in src and k in tgt:
                _diff(p, src[k], tgt[k], ops)
            elif k in src:
                ops.append(_Op("remove", p))
            else:
                ops.append(_Op("add", p, tgt[k]))
    elif isinstance(src, list):
        sl, tl = len(src), len(tgt)
        ml = min(sl, tl)
        if tl < sl:
            ops.extend(_Op("remove", f"{ptr}/{ml}") for _ in range(ml, sl))
        for i in range(ml):
            _diff(f"{ptr}/{i}", src[i], tgt[i], ops)
        if tl > sl:
            ops.extend(_Op("add", f"{ptr}/-", tgt[i]) for i in range(ml, tl))
    else:
        ops.append(_Op("replace", ptr, tgt))


def _eval(doc: Any, pointer: str) -> Any:
    cur = doc
    for raw in pointer.split("/")[1:]:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, list):
            cur = cur[int(key)] if key.isdigit() and int(key) < len(cur) else None
        elif isinstance(cur, dict):
            cur = cur.get(key)
        else:
            return None
    return cur


def _nonempty(text: str) -> str | None:
    return text or None  # Go's omitempty: an empty rendering is absent


def patch_details(hub: Mapping[str, Any], member: Mapping[str, Any]) -> tuple[PatchDetail, ...]:
    """KubeFleet's ``preparePatchDetails(hub, member)``: at most 100, Secret data redacted."""
    src = discard_irrelevant(hub)
    tgt = discard_irrelevant(member)
    ops: list[_Op] = []
    _diff("", src, tgt, ops)
    details: list[PatchDetail] = []
    for op in ops[:MAX_DETAILS]:
        if op.type == "add":
            details.append(PatchDetail(op.path, None, _nonempty(go_value(op.value, json_numbers=True))))
        elif op.type == "remove":
            details.append(PatchDetail(op.path, _nonempty(go_value(_eval(src, op.path))), None))
        else:
            details.append(
                PatchDetail(
                    op.path,
                    _nonempty(go_value(_eval(src, op.path))),
                    _nonempty(go_value(op.value, json_numbers=True)),
                )
            )
    if hub.get("apiVersion") == "v1" and hub.get("kind") == "Secret":
        details = [redact(d) for d in details]
    return tuple(details)


def redact(d: PatchDetail) -> PatchDetail:
    if not (d.path.startswith("/data") or d.path.startswith("/stringData")):
        return d
    return PatchDetail(
        d.path,
        REDACTED if d.value_in_hub else d.value_in_hub,
        REDACTED if d.value_in_member else d.value_in_member,
    )


@dataclass(frozen=True, slots=True)
class Comparison:
    details: tuple[PatchDetail, ...]
    degraded: bool = False  # PartialComparison fell back to a full comparison


def compare(manifest: Obj, live: Obj, option: str, dry_run: DryRun) -> Comparison:
    """Differences between ``manifest`` and ``live`` per ``comparisonOption``.

    ``dry_run(manifest)`` is a server-side dry-run apply; raising ``Invalid`` degrades to a full
    comparison, any other error propagates (the caller classifies it)."""
    hub, degraded = hub_side(manifest, option, dry_run)
    return Comparison(patch_details(hub, live), degraded)


def hub_side(manifest: Obj, option: str, dry_run: DryRun) -> tuple[Obj, bool]:
    """The object ``compare`` holds the live object against, and whether it degraded: the manifest
    itself (FullComparison, or a dry run refused as Invalid), else the dry run's answer.
    ``fleetsync diff`` renders this side, so its text diff and its details never disagree."""
    if option == FULL:
        return manifest, False
    try:
        return dry_run(manifest), False
    except Invalid:
        return manifest, True


def overlay(live: Any, body: Any) -> Any:
    """``body`` merged into ``live`` without a server: a stand-in for a dry-run apply where there is
    no cluster (``fleetsync diff --live FILE``). Maps merge by key, lists of equal length element by
    element (a container keeps its defaulted fields), anything else takes ``body``'s value; a
    Secret's ``stringData`` is folded into ``data`` first, as the server stores it. Unlike the
    server it knows no list-map keys, defaults nor webhooks: differences it shows in a list whose
    length changed cover the whole list."""
    if isinstance(body, Mapping):
        body = as_stored(body)
        if not isinstance(live, Mapping):
            return copy.deepcopy(dict(body))
        out = copy.deepcopy(dict(live))
        for k, v in body.items():
            out[k] = overlay(live.get(k), v)
        return out
    if isinstance(body, list) and isinstance(live, list) and len(body) == len(live):
        return [overlay(a, b) for a, b in zip(live, body, strict=True)]
    return copy.deepcopy(body)


# -- the no-op test --------------------------------------------------------------------------------
def satisfies(live: Any, want: Any) -> bool:
    """Whether ``live`` already holds every value of the apply body ``want`` (maps by key, lists
    exactly), so that applying it would change nothing. A Secret's write-only ``stringData`` is
    compared as the base64 ``data`` the server stores it as."""
    return _holds(live, as_stored(want))


def as_stored(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """``body`` as the server keeps it: a core Secret's ``stringData`` folded into ``data``."""
    string_data = body.get("stringData")
    if body.get("apiVersion") != "v1" or body.get("kind") != "Secret" or not isinstance(string_data, Mapping):
        return body
    data = body.get("data") or {}
    if not isinstance(data, Mapping) or not all(isinstance(v, str) for v in string_data.values()):
        return body  # malformed: let the server say so
    out = {k: v for k, v in body.items() if k != "stringData"}
    out["data"] = {**data, **{k: base64.b64encode(v.encode()).decode() for k, v in string_data.items()}}
    return out


def _holds(live: Any, want: Any) -> bool:
    if isinstance(want, Mapping):
        return isinstance(live, Mapping) and all(k in live and _holds(live[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(live, list) and len(live) == len(want) and all(map(_holds, live, want))
    return type(live) is type(want) and bool(live == want)
