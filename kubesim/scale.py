"""The scale subresource: ``autoscaling/v1`` Scale reads and writes (PUT and the three non-apply patches).

``kubectl scale``, HPAs and KubeFleet-style tooling change a workload's replicas through
``/scale``. A write there changes only ``spec.replicas`` of the parent object, honours a
``metadata.resourceVersion`` precondition like an update, bumps the generation, and credits the
writer with ``f:spec.f:replicas`` in an Update entry marked ``subresource: scale`` (taking the field
away from an applier, which then conflicts on its next apply without force). The answer is the new
Scale, whose ``status.selector`` is the parent's label selector in its string form.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from kubesim import patch, ssa
from kubesim.status import ApiError, bad_request, conflict, invalid, not_found, status

if TYPE_CHECKING:
    from kubesim.api import Call, Objects

Obj = dict[str, Any]
Result = tuple[int, Obj, list[str]]


def format_selector(selector: Any) -> str:
    """A LabelSelector as kube-apiserver prints it (requirements sorted by key)."""
    if not isinstance(selector, dict):
        return ""
    terms: list[tuple[str, str]] = []
    for k, v in (selector.get("matchLabels") or {}).items():
        terms.append((str(k), f"{k}={v}"))
    for e in selector.get("matchExpressions") or []:
        key, op, values = (
            str(e.get("key", "")),
            e.get("operator"),
            sorted(str(v) for v in e.get("values") or []),
        )
        if op == "In":
            terms.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            terms.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            terms.append((key, key))
        elif op == "DoesNotExist":
            terms.append((key, f"!{key}"))
    return ",".join(text for _, text in sorted(terms))


def scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    replicas = spec.get("replicas", 0)
    out_status: Obj = {"replicas": st.get("replicas", 0)}
    selector = spec.get("selector")
    text = format_selector(selector) if isinstance(selector, dict) else ""
    if (
        not text
        and isinstance(selector, dict)
        and selector
        and "matchLabels" not in selector
        and "matchExpressions" not in selector
    ):
        text = ",".join(
            f"{k}={v}" for k, v in sorted(selector.items())
        )  # a plain map (ReplicationController)
    if text:
        out_status["selector"] = text
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": replicas} if replicas else {},
        "status": out_status,
    }


def _desired(c: Call, current: Obj) -> Obj:
    ctype = c.content_type.split(";")[0].strip()
    try:
        body = json.loads(c.body or b"null")
    except ValueError as e:
        raise bad_request(f"error decoding scale: {e}") from e
    if c.query.get("force"):
        raise invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            [
                {
                    "reason": "FieldValueForbidden",
                    "message": "Forbidden: may not be specified for non-apply patch",
                    "field": "force",
                }
            ],
        )
    try:
        if ctype == "application/merge-patch+json":
            out = patch.merge_patch(current, body)
        elif ctype == "application/json-patch+json":
            out = patch.json_patch(current, body)
        elif ctype == "application/strategic-merge-patch+json":
            out = patch.strategic_merge_patch(current, body)
        else:
            out = body
    except patch.PatchError as e:
        raise ApiError(
            422, status(422, "Invalid", "the server rejected our request due to an error in our request", {})
        ) from e
    if not isinstance(out, dict):
        raise bad_request("the scale is not an object")
    return out


def write(objs: Objects, c: Call, is_patch: bool) -> Result:
    """PUT or PATCH ``/scale``: set the parent's ``spec.replicas``."""
    ctype = c.content_type.split(";")[0].strip()
    if is_patch and ctype not in (
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
    ):
        raise ApiError(415, status(415, "UnsupportedMediaType", "415: Unsupported Media Type", {}))
    key = objs.key(c.res, c.namespace, c.name)
    with objs.store.lock:
        old = objs.store.get(key)
        if old is None:
            raise not_found(c.res.plural, c.name, c.res.group)
        desired = _desired(c, scale_of(old)) if is_patch else _desired(c, {})
        rv = (desired.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(
                c.res.plural,
                c.name,
                c.res.group,
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        replicas = (desired.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid(
                "Scale",
                "autoscaling",
                c.name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
                        "field": "spec.replicas",
                    }
                ],
            )
        new = copy.deepcopy(old)
        new.setdefault("spec", {})["replicas"] = replicas
        new = objs._finish(c, old, new)
        ssa.record_update(old, new, c.manager, c.res.api_version, now=objs.now(), subresource="scale")
        return 200, scale_of(objs._store(c, key, old, new)), []
