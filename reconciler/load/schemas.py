"""Plain Kubernetes objects against Kubernetes' OpenAPI schemas and the repo's own CRDs.

Fleet kinds have hand-written parsers (reconciler/api/); every other object would otherwise
reach the members unchecked, and a typo (``apps/v2``, ``spec.replica``) would fail on every
cluster instead of at review. We do not write rules by hand: built-in kinds are checked against
the strict JSON schemas that the maintained ``kubernetes-validate`` package ships offline for
each Kubernetes release (the version is the ``kubernetesVersion`` setting, one place), and a
custom resource against the ``openAPIV3Schema`` of the served version of a CRD found in the same
commit, made strict as ``kubectl --validate=strict`` is (undeclared fields are errors unless
``x-kubernetes-preserve-unknown-fields``). A kind with no schema either way is a warning: the
member's API server may know it. Messages name the field and the rule, never the value (a
Secret's value must not reach a report). Compiled validators are cached per (Kubernetes
version, group, version, kind) for the life of the process, and results per object content,
so a hub that reconciles commit after commit re-checks only objects whose content changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, cast

import jsonschema
import referencing
from referencing.jsonschema import DRAFT202012

from reconciler.api import registry
from reconciler.api.fields import type_name
from reconciler.api.resource import Resource
from reconciler.errors import SCOPE_OBJECT, Finding
from reconciler.load.yamldoc import Document, dotted

DEFAULT_KUBERNETES_VERSION = "1.36"
_PACKAGE = "kubernetes_validate"
_DEFS_ID = "https://kubernetes.io/api/_definitions.json"
_CRD_GROUP = "apiextensions.k8s.io"
_MAX_RESULTS = 20_000  # cached per-object results (a repo of thousands of objects stays hot)
_MAX_MESSAGES = 50  # schema findings reported per object

Path = tuple[str | int, ...]
Problem = tuple[Path, str, str]  # field path, message, severity


@cache
def shipped_versions() -> tuple[str, ...]:
    """The Kubernetes versions (``major.minor``) whose schemas kubernetes-validate ships offline."""
    root = resources.files(_PACKAGE).joinpath("kubernetes-json-schema")
    out = []
    for entry in root.iterdir():
        name = entry.name
        if name.startswith("v") and name.endswith("-local-strict"):
            out.append(".".join(name[1:].split("-")[0].split(".")[:2]))
    return tuple(sorted(set(out), key=lambda v: tuple(int(p) for p in v.split("."))))


@dataclass(frozen=True, slots=True)
class _Builtin:
    registry: referencing.Registry[Any]
    gvks: Mapping[tuple[str, str, str], str]  # (group, version, kind) -> definition name
    versions: Mapping[tuple[str, str], tuple[str, ...]]  # (group, kind) -> served versions
    groups: frozenset[str]


@cache
def _builtin(k8s: str) -> _Builtin:
    path = resources.files(_PACKAGE).joinpath(
        f"kubernetes-json-schema/v{k8s}.0-local-strict/_definitions.json"
    )
    defs = json.loads(path.read_text())
    defs["$id"] = _DEFS_ID
    reg: referencing.Registry[Any] = referencing.Registry().with_resource(
        _DEFS_ID, referencing.Resource.from_contents(defs, default_specification=DRAFT202012)
    )
    gvks: dict[tuple[str, str, str], str] = {}
    versions: dict[tuple[str, str], list[str]] = {}
    for name, schema in defs["$defs"].items():
        props = schema.get("properties") or {}
        if "kind" not in props or "metadata" not in props:
            continue  # not a top-level object (DeleteOptions, WatchEvent, ...)
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            key = (gvk["group"], gvk["version"], gvk["kind"])
            if key not in gvks:
                gvks[key] = name
                versions.setdefault((gvk["group"], gvk["kind"]), []).append(gvk["version"])
    return _Builtin(
        reg,
        gvks,
        {k: tuple(sorted(v)) for k, v in versions.items()},
        frozenset(g for g, _ in versions),
    )


@cache
def _builtin_validator(
    k8s: str, group: str, version: str, kind: str
) -> jsonschema.protocols.Validator | None:
    b = _builtin(k8s)
    name = b.gvks.get((group, version, kind))
    if name is None:
        return None
    schema = {"$ref": f"{_DEFS_ID}#/$defs/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=b.registry)


def _strict(schema: Any, root: bool = False) -> Any:
    """A CRD's structural schema (OpenAPI v3) → draft-4 JSON schema, strict about unknown fields."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _strict(v) for k, v in value.items()} if isinstance(value, dict) else value
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _strict(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_strict(v) for v in value] if isinstance(value, list) else value
        elif not key.startswith("x-kubernetes-") and key not in ("nullable", "format", "default"):
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    embedded = root or schema.get("x-kubernetes-embedded-resource")
    if embedded:
        props = dict(out.get("properties") or {})
        for key in ("apiVersion", "kind"):
            props.setdefault(key, {"type": "string"})
        meta = props.get("metadata")
        # the API server checks metadata itself; a CRD may only narrow name and generateName
        props["metadata"] = {
            k: v for k, v in (meta or {"type": "object"}).items() if k != "additionalProperties"
        }
        out["properties"] = props
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


@dataclass(frozen=True, slots=True)
class _CrdVersion:
    crd: str  # the CRD's name
    version: str
    validator: jsonschema.protocols.Validator | None  # None: served without a schema
    key: str  # the schema's digest, part of the result cache key


@lru_cache(maxsize=512)  # bounded: a long-running hub sees CRDs change
def _crd_validator(text: str) -> jsonschema.protocols.Validator:
    return jsonschema.Draft4Validator(_strict(json.loads(text), root=True))


def _crd_index(objects: Mapping[str, Resource]) -> dict[tuple[str, str], dict[str, _CrdVersion]]:
    """(group, kind) → served version → its schema, for every CRD of the commit."""
    out: dict[tuple[str, str], dict[str, _CrdVersion]] = {}
    for r in objects.values():
        if r.group != _CRD_GROUP or r.kind != "CustomResourceDefinition":
            continue
        spec = r.body.get("spec")
        if not isinstance(spec, dict) or not isinstance(spec.get("names"), dict):
            continue
        group, kind = spec.get("group"), spec["names"].get("kind")
        if not isinstance(group, str) or not isinstance(kind, str):
            continue
        served = out.setdefault((group, kind), {})
        for v in spec.get("versions") or []:
            if not isinstance(v, dict) or not v.get("served", True) or not isinstance(v.get("name"), str):
                continue
            schema = (
                (v.get("schema") or {}).get("openAPIV3Schema") if isinstance(v.get("schema"), dict) else None
            )
            if not isinstance(schema, dict):
                served[v["name"]] = _CrdVersion(r.name, v["name"], None, "")
                continue
            text = json.dumps(schema, sort_keys=True)
            try:
                validator = _crd_validator(text)
            except jsonschema.SchemaError:
                validator = None  # the CRD itself is checked against Kubernetes' own schema
            digest = hashlib.sha256(text.encode()).hexdigest()
            served[v["name"]] = _CrdVersion(r.name, v["name"], validator, digest)
    return out


def _messages(error: jsonschema.ValidationError) -> Iterator[tuple[Path, str]]:
    """One jsonschema error → (field path, message) pairs that never quote the instance."""
    path: Path = tuple(error.absolute_path)
    instance, rule, value = error.instance, str(error.validator), cast(Any, error.validator_value)
    if rule == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties") or ())
        patterns = [re.compile(p) for p in schema.get("patternProperties") or ()]
        extra = (k for k in instance if k not in known and not any(p.search(k) for p in patterns))
        for key in sorted(extra):
            field = (*path, key)
            yield field, f'unknown field "{dotted(field)}"'
    elif rule == "required" and isinstance(instance, dict):
        for key in value:
            if key not in instance:
                yield path, f"required field {key!r} is missing"
    elif rule == "type":
        wanted = " or ".join(t for t in ([value] if isinstance(value, str) else value) if t != "null")
        yield path, f"must be of type {wanted}, got {type_name(instance)}"
    elif rule in ("oneOf", "anyOf") and all(isinstance(s, dict) and set(s) == {"type"} for s in value):
        types = [t for s in value for t in ([s["type"]] if isinstance(s["type"], str) else s["type"])]
        wanted = " or ".join(dict.fromkeys(t for t in types if t != "null"))
        yield path, f"must be of type {wanted}, got {type_name(instance)}"
    elif rule == "enum":
        yield path, "must be one of: " + ", ".join(json.dumps(v) for v in value)
    else:
        yield path, f"fails the schema rule {rule}: {json.dumps(value)[:120]}"


def _problems(validator: jsonschema.protocols.Validator, body: Any, where: str) -> list[Problem]:
    out: list[Problem] = []
    for error in sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path]):
        for path, message in _messages(error):
            out.append((path, f"{message} ({where})", "error"))
    return out[:_MAX_MESSAGES]


def _no_match(group: str, version: str, kind: str, served: tuple[str, ...], owner: str) -> Problem:
    api = f"{group}/{version}" if group else version
    listed = ", ".join(f"{group}/{v}" if group else v for v in served)
    return (
        ("apiVersion",),
        f'no matches for kind "{kind}" in version "{api}": {owner} serves {kind} as {listed}',
        "error",
    )


def _check(
    k8s: str, crds: Mapping[tuple[str, str], Mapping[str, _CrdVersion]], r: Resource, body: Any
) -> list[Problem]:
    b = _builtin(k8s)
    served = b.versions.get((r.group, r.kind))
    if served is not None:
        validator = _builtin_validator(k8s, r.group, r.version, r.kind)
        if validator is None:
            return [_no_match(r.group, r.version, r.kind, served, f"Kubernetes {k8s}")]
        return _problems(
            validator, body, f"Kubernetes {k8s} {r.kind} {r.group + '/' if r.group else ''}{r.version}"
        )
    crd = crds.get((r.group, r.kind))
    if crd is not None:
        found = crd.get(r.version)
        if found is None:
            owner = "CRD " + next(iter(crd.values())).crd
            return [_no_match(r.group, r.version, r.kind, tuple(sorted(crd)), owner)]
        if found.validator is None:
            return []
        return _problems(found.validator, body, f"CRD {found.crd}, version {r.version}")
    api = f"{r.group}/{r.version}" if r.group else r.version
    if r.group in b.groups or not r.group:
        return [(("kind",), f"Kubernetes {k8s} has no kind {r.kind} in {api}", "error")]
    return [
        (
            ("apiVersion",),
            f"no schema for {r.kind} {api}: neither Kubernetes {k8s} nor a CRD in this repo defines it, "
            "so its fields are not checked (add the CRD to the repo to check them)",
            "warning",
        )
    ]


_lock = threading.Lock()
_results: OrderedDict[tuple[str, ...], tuple[Problem, ...]] = OrderedDict()


def _body(r: Resource) -> dict[str, Any]:
    body = dict(r.body)
    if r.group == "" and r.kind == "Secret" and isinstance(body.get("sops"), dict):
        del body["sops"]  # SOPS metadata: the agent decrypts and drops it before apply
    return body


def check_resources(
    objects: Mapping[str, Resource], documents: Mapping[str, Document], k8s: str
) -> dict[str, list[Finding]]:
    """Identity → the schema findings of every plain object (object scope; warnings included)."""
    crds = _crd_index(objects)
    out: dict[str, list[Finding]] = {}
    for ident, r in objects.items():
        if registry.is_fleet_group(r.group):
            continue
        body = _body(r)
        content = json.dumps(body, sort_keys=True, default=str)
        # the kind's CRD, every served version: adding or dropping one changes the answer
        crd = repr(sorted((v, c.key) for v, c in crds.get((r.group, r.kind), {}).items()))
        key = (k8s, crd, ident, content)
        with _lock:
            problems = _results.get(key)
            if problems is not None:
                _results.move_to_end(key)
        if problems is None:
            problems = tuple(_check(k8s, crds, r, body))
            with _lock:
                _results[key] = problems
                while len(_results) > _MAX_RESULTS:
                    _results.popitem(last=False)
        if not problems:
            continue
        doc = documents.get(ident)
        found = []
        for path, message, severity in problems:
            line, col = doc.locate(path) if doc else (r.origin.line, 1)
            file = doc.file if doc else r.origin.file
            found.append(
                Finding(file, line, col, dotted(path), message, f"{r.kind}/{r.name}", severity, SCOPE_OBJECT)
            )
        out[ident] = found
    return out
