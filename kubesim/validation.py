"""Validation the agent can trip over: immutable fields, required fields, unknown fields.

This is not the full validation of kube-apiserver, only the rules the recordings show and the
agent must handle (a 422 it has to report rather than retry): Deployment/StatefulSet/DaemonSet/Job
selectors are immutable and must match the template labels, pod templates need containers, a
Service's clusterIP may not change. Unknown fields are found by kubesim.knownfields (built-in kinds)
and kubesim.crschema (custom resources).
"""

from __future__ import annotations

import json
from typing import Any

from kubesim import crschema, knownfields
from kubesim.discovery import Resource
from kubesim.status import ApiError, invalid, status

Obj = dict[str, Any]

_STRING_MAPS = {"/ConfigMap": ("data",), "/Secret": ("data", "stringData")}


def _unknown(res: Resource, obj: Obj) -> list[tuple[str, str]]:
    if res.custom:
        meta = [
            (f"metadata.{k}", f".metadata.{k}")
            for k in (obj.get("metadata") or {})
            if k not in knownfields.META
        ]
        return meta + [(p, "." + p) for p in crschema.undeclared(res.schema, obj)]
    return knownfields.unknown(res.group, res.kind, obj)


def unknown_fields(res: Resource, obj: Obj) -> list[str]:
    return [p for p, _ in _unknown(res, obj)]


def check_apply_fields(res: Resource, cfg: Obj, namespace: str, name: str) -> None:
    """SSA builds a typed object from the body; unknown or mistyped fields make that fail with 500."""
    where = f"{namespace}/{name}" if res.namespaced else name
    gv = f"{res.group}/{res.version}" if res.group else f"/{res.version}"
    prefix = f"failed to create typed patch object ({where}; {gv}, Kind={res.kind}): "
    problems = [f"{p}: field not declared in schema" for _, p in _unknown(res, cfg)]
    for field in _STRING_MAPS.get(f"{res.group}/{res.kind}", ()):
        for k, v in sorted((cfg.get(field) or {}).items()):
            if not isinstance(v, str):
                problems.append(
                    f".{field}.{k}: expected string, got &value.valueUnstructured{{Value:{_go(v)}}}"
                )
    meta = cfg.get("metadata") or {}
    for field in ("labels", "annotations"):
        for k, v in sorted((meta.get(field) or {}).items()):
            if not isinstance(v, str):
                problems.append(
                    f".metadata.{field}.{k}: expected string, got &value.valueUnstructured{{Value:{_go(v)}}}"
                )
    if problems:
        raise ApiError(500, status(500, None, prefix + problems[0]))


def _go(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _template_checks(res: Resource, new: Obj, causes: list[Obj]) -> None:
    spec = new.get("spec") or {}
    if res.kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        prefix = "spec.jobTemplate.spec.template"
    else:
        prefix = "spec.template"
    template = spec.get("template") or {}
    if not (template.get("spec") or {}).get("containers"):
        causes.append(
            {
                "reason": "FieldValueRequired",
                "message": "Required value",
                "field": f"{prefix}.spec.containers",
            }
        )
    selector = spec.get("selector")
    labels = (template.get("metadata") or {}).get("labels") or {}
    if res.kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet") and isinstance(selector, dict):
        wanted = selector.get("matchLabels") or {}
        if any(labels.get(k) != v for k, v in wanted.items()):
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {_compact(labels)}: `selector` does not match template `labels`",
                    "field": "spec.template.metadata.labels",
                }
            )


def validate(res: Resource, old: Obj | None, new: Obj) -> None:
    causes: list[Obj] = []
    name = new.get("metadata", {}).get("name", "")
    if res.custom:
        causes = crschema.validate(
            res.schema, {k: v for k, v in new.items() if k not in ("apiVersion", "kind", "metadata")}
        )
    if res.kind in (
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
    ) and res.group in ("apps", "batch"):
        _template_checks(res, new, causes)
        if old is not None and res.kind != "CronJob":
            before = (old.get("spec") or {}).get("selector")
            after = (new.get("spec") or {}).get("selector")
            if before != after:
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": f"Invalid value: {_compact(after)}: field is immutable",
                        "field": "spec.selector",
                    }
                )
    if res.kind == "Service" and not res.group and old is not None:
        before_ips = (old.get("spec") or {}).get("clusterIPs")
        after_ips = (new.get("spec") or {}).get("clusterIPs")
        if before_ips and after_ips != before_ips:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {json.dumps(after_ips)}: may not change once set",
                    "field": "spec.clusterIPs[0]",
                }
            )
    if causes:
        raise invalid(res.kind, res.group, name, causes)
