"""Custom resources against their CRD's structural schema: pruning, defaulting, validation.

kube-apiserver drops fields the schema does not declare (unless
``x-kubernetes-preserve-unknown-fields``), fills ``default`` values, and rejects values that break
``type``, ``enum``, ``minimum``/``maximum``, ``required``, ``minLength``/``maxLength``, ``pattern``
or ``minItems``/``maxItems`` with a 422 whose causes name the field. Only these keywords are
implemented (no CEL rules, no ``oneOf``/``anyOf``/``allOf``, no ``format``): see docs/kubesim.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

Obj = dict[str, Any]
_ROOT_ALWAYS = {"apiVersion", "kind", "metadata"}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def prune(schema: Obj | None, obj: Any, path: str = "") -> list[str]:
    """Remove undeclared fields in place; returns their paths (``spec.x``)."""
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    out: list[str] = []
    if isinstance(obj, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None and extra is None:
            return []
        for key in list(obj):
            if not path and key in _ROOT_ALWAYS:
                continue
            if props is not None and key in props:
                out += prune(props[key], obj[key], _join(path, key))
            elif isinstance(extra, dict):
                out += prune(extra, obj[key], _join(path, key))
            elif extra is True:
                continue
            else:
                out.append(_join(path, key))
                del obj[key]
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(obj):
            out += prune(schema["items"], item, f"{path}[{i}]")
    return out


def undeclared(schema: Obj | None, obj: Any) -> list[str]:
    """The undeclared fields of ``obj`` (not modified)."""
    return prune(schema, json.loads(json.dumps(obj)))


def default(schema: Obj | None, obj: Any) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in obj and isinstance(sub, dict) and "default" in sub:
                obj[key] = json.loads(json.dumps(sub["default"]))
            if key in obj:
                default(sub, obj[key])
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            default(schema["items"], item)


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _fmt(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def validate(schema: Obj | None, obj: Any, path: str = "") -> list[Obj]:  # noqa: C901
    if not isinstance(schema, dict):
        return []
    causes: list[Obj] = []
    typ = schema.get("type")
    if obj is None:
        if schema.get("nullable"):
            return []
        if typ:
            causes.append(
                {
                    "reason": "FieldValueTypeInvalid",
                    "message": f'Invalid value: "null": {path} in body must be of type {typ}: "null"',
                    "field": path,
                }
            )
        return causes
    if typ in _TYPES and (
        not isinstance(obj, _TYPES[typ]) or (typ in ("integer", "number") and isinstance(obj, bool))
    ):
        actual = {
            str: "string",
            bool: "boolean",
            int: "integer",
            float: "number",
            list: "array",
            dict: "object",
        }.get(type(obj), "unknown")
        causes.append(
            {
                "reason": "FieldValueTypeInvalid",
                "message": f'Invalid value: "{actual}": {path} in body must be of type {typ}: "{actual}"',
                "field": path,
            }
        )
        return causes
    if isinstance(obj, dict):
        props = schema.get("properties") or {}
        for key in reversed(list(props)):
            if key in obj:
                causes += validate(props[key], obj[key], _join(path, key))
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in sorted(obj):
                if key not in props:
                    causes += validate(extra, obj[key], _join(path, key))
        for key in schema.get("required") or []:
            if key not in obj:
                causes.append(
                    {"reason": "FieldValueRequired", "message": "Required value", "field": _join(path, key)}
                )
    if isinstance(obj, list):
        if "minItems" in schema and len(obj) < schema["minItems"]:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": path,
                    "message": f"Invalid value: {len(obj)}: {path} in body should have at least {schema['minItems']} items",
                }
            )
        if "maxItems" in schema and len(obj) > schema["maxItems"]:
            causes.append(
                {
                    "reason": "TooMany",
                    "field": path,
                    "message": f"Too many: {len(obj)}: must have at most {schema['maxItems']} items",
                }
            )
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(obj):
                causes += validate(schema["items"], item, f"{path}[{i}]")
    if "enum" in schema and obj not in schema["enum"]:
        supported = ", ".join(_fmt(v) for v in schema["enum"])
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "field": path,
                "message": f"Unsupported value: {_fmt(obj)}: supported values: {supported}",
            }
        )
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        if "minimum" in schema and obj < schema["minimum"]:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": path,
                    "message": f"Invalid value: {_fmt(obj)}: {path} in body should be greater than or equal to {schema['minimum']}",
                }
            )
        if "maximum" in schema and obj > schema["maximum"]:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": path,
                    "message": f"Invalid value: {_fmt(obj)}: {path} in body should be less than or equal to {schema['maximum']}",
                }
            )
    if isinstance(obj, str):
        if "maxLength" in schema and len(obj) > schema["maxLength"]:
            causes.append(
                {
                    "reason": "FieldValueTooLong",
                    "field": path,
                    "message": f"Too long: may not be more than {schema['maxLength']} bytes",
                }
            )
        if "minLength" in schema and len(obj) < schema["minLength"]:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": path,
                    "message": f"Invalid value: {_fmt(obj)}: {path} in body should be at least {schema['minLength']} chars long",
                }
            )
        if "pattern" in schema and not re.search(schema["pattern"], obj):
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": path,
                    "message": f"Invalid value: {_fmt(obj)}: {path} in body should match '{schema['pattern']}'",
                }
            )
    return causes
