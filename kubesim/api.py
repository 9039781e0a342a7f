"""The verbs of the Kubernetes object API over one simulated cluster's store.

Every write takes the same path as in kube-apiserver: decode, admission (namespace exists and is
not terminating), defaulting, validation, generation, managedFields, optimistic concurrency, store.
``dryRun=All`` runs all of it and skips the store. The verbs return (HTTP status, body, warnings);
failures raise :class:`kubesim.status.ApiError` with the body a real server sends.
"""

from __future__ import annotations

import copy
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubesim import crschema, defaults, deletion, patch, reads, scale, ssa, validation
from kubesim.decode import parse_apply_body, parse_json_body
from kubesim.discovery import Discovery, Resource
from kubesim.status import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    invalid,
    not_found,
    status,
)
from kubesim.store import Key, Store

Obj = dict[str, Any]
Result = tuple[int, Obj, list[str]]

_APPLY = "application/apply-patch+yaml"
_PATCH_TYPES = {
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    _APPLY,
}


@dataclass(frozen=True, slots=True)
class Call:
    """One decoded request for an object verb."""

    res: Resource
    namespace: str
    name: str
    subresource: str
    query: dict[str, str]
    body: bytes
    content_type: str
    user_agent: str

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    @property
    def manager(self) -> str:
        return self.query.get("fieldManager") or self.user_agent.split("/", 1)[0] or "unknown"


class Objects:
    """Object verbs; ``now`` returns an RFC 3339 timestamp (the injected clock)."""

    def __init__(self, store: Store, discovery: Discovery, now: Callable[[], str]):
        self.store = store
        self.discovery = discovery
        self.now = now
        self.alloc = defaults.Allocator()

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def key(res: Resource, namespace: str, name: str) -> Key:
        return (res.group, res.plural, namespace if res.namespaced else "", name)

    def _ns_key(self, namespace: str) -> Key:
        return ("", "namespaces", "", namespace)

    def _check_namespace(self, c: Call, name: str, creating: bool) -> None:
        if not c.res.namespaced:
            return
        ns = self.store.get(self._ns_key(c.namespace))
        if ns is None:
            raise not_found("namespaces", c.namespace)
        if creating and ns.get("metadata", {}).get("deletionTimestamp"):
            raise forbidden(
                f'{c.res.plural} "{name}" is forbidden: unable to create new content in namespace '
                f"{c.namespace} because it is being terminated",
                {
                    "name": name,
                    "kind": c.res.plural,
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {c.namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def _status_reset(self, res: Resource) -> bool:
        return "status" in res.subresources

    def _finish(self, c: Call, old: Obj | None, new: Obj) -> Obj:  # noqa: C901
        """Defaulting, validation and generation for a candidate object."""
        res = c.res
        meta = new.setdefault("metadata", {})
        if old is not None:
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if k in old["metadata"]:
                    meta[k] = old["metadata"][k]
                else:
                    meta.pop(k, None)
            if c.subresource == "status":
                status_value = new.get("status")
                new.clear()
                new.update(copy.deepcopy(old))
                new["metadata"]["managedFields"] = meta.get("managedFields", [])
                if status_value is not None:
                    new["status"] = status_value
                meta = new["metadata"]
            elif self._status_reset(res):  # the main resource never writes status
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        new["apiVersion"] = res.api_version
        new["kind"] = res.kind
        if res.namespaced:
            meta["namespace"] = c.namespace
        else:
            meta.pop("namespace", None)  # cluster-scoped objects have none, whatever the body said
        if res.custom:
            crschema.prune(res.schema, new)
            crschema.default(res.schema, new)
        defaults.apply_defaults(res.group, res.kind, new, self.alloc)
        validation.validate(res, old, new)
        if defaults.has_generation(res.group, res.kind, res.custom):
            gen = (old or {}).get("metadata", {}).get("generation", 0)
            if old is None:
                meta["generation"] = 1
            elif _spec_of(old) != _spec_of(new):
                meta["generation"] = gen + 1
            else:
                meta["generation"] = gen
        return new

    def _store(self, c: Call, key: Key, old: Obj | None, new: Obj) -> Obj:
        if c.dry_run:
            if old is None:
                new["metadata"].pop("resourceVersion", None)
            return new
        meta = new["metadata"]
        if old is not None and meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self.store.remove(key)
            return new
        if old is not None and _without_rv(old) == _without_rv(new):
            return old
        return self.store.put(key, new)

    def _new_meta(self, c: Call, obj: Obj) -> None:
        meta = obj.setdefault("metadata", {})
        meta["uid"] = self.store.new_uid()
        meta["creationTimestamp"] = self.now()
        meta.pop("resourceVersion", None)
        meta.pop("deletionTimestamp", None)
        meta.pop("generation", None)

    # -- read --------------------------------------------------------------------------------------
    def get(self, c: Call) -> Result:
        obj = self.store.get(self.key(c.res, c.namespace, c.name))
        if obj is None:
            raise not_found(c.res.plural, c.name, c.res.group)
        if c.subresource == "scale":
            return 200, scale.scale_of(obj), []
        return 200, obj, []

    def list_objects(self, res: Resource, namespace: str | None, query: dict[str, str]) -> Result:
        return reads.list_objects(self.store, res, namespace, query)

    # -- create / update ---------------------------------------------------------------------------
    def create(self, c: Call) -> Result:
        obj, warnings = parse_json_body(c.body, c.query.get("fieldValidation"), c.res)
        _check_type(c.res, obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            meta["name"] = meta["generateName"] + suffix
        name = meta.get("name", "")
        if not name:
            raise invalid(
                c.res.kind,
                c.res.group,
                "",
                [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: name or generateName is required",
                        "field": "metadata.name",
                    }
                ],
            )
        if c.res.namespaced and meta.get("namespace") and meta["namespace"] != c.namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        self._check_namespace(c, name, creating=True)
        key = self.key(c.res, c.namespace, name)
        with self.store.lock:
            if self.store.get(key) is not None:
                raise already_exists(c.res.plural, name, c.res.group)
            self._new_meta(c, obj)
            if self._status_reset(c.res):
                obj.pop("status", None)
            new = self._finish(c, None, obj)
            ssa.record_update(
                None,
                new,
                c.manager,
                c.res.api_version,
                now=self.now(),
                skeleton=defaults.skeleton(c.res.group, c.res.kind, c.res.custom),
                skip_status=self._status_reset(c.res),
            )
            return 201, self._store(c, key, None, new), warnings

    def update(self, c: Call) -> Result:
        if c.subresource == "scale":
            return scale.write(self, c, is_patch=False)
        obj, warnings = parse_json_body(c.body, c.query.get("fieldValidation"), c.res)
        _check_type(c.res, obj)
        meta = obj.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != c.name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({c.name})"
            )
        key = self.key(c.res, c.namespace, c.name)
        with self.store.lock:
            old = self.store.get(key)
            if old is None:
                raise not_found(c.res.plural, c.name, c.res.group)
            rv = meta.get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(
                    c.res.plural,
                    c.name,
                    c.res.group,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
            if meta.get("managedFields") is None:
                meta["managedFields"] = old["metadata"].get("managedFields", [])
            return self._update_to(c, key, old, obj, warnings)

    def _update_to(self, c: Call, key: Key, old: Obj, obj: Obj, warnings: list[str]) -> Result:
        _check_finalizers(c, old, obj)
        new = self._finish(c, old, obj)
        ssa.record_update(
            old,
            new,
            c.manager,
            c.res.api_version,
            now=self.now(),
            subresource=c.subresource,
            skip_status=self._status_reset(c.res) and c.subresource != "status",
        )
        return 200, self._store(c, key, old, new), warnings

    # -- patch ---------------------------------------------------------------------------------------
    def patch(self, c: Call) -> Result:  # noqa: C901
        if c.subresource == "scale":
            return scale.write(self, c, is_patch=True)
        ctype = c.content_type.split(";")[0].strip()
        if ctype not in _PATCH_TYPES:
            raise ApiError(415, status(415, "UnsupportedMediaType", "415: Unsupported Media Type", {}))
        if c.query.get("force") and ctype != _APPLY:
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
        if ctype == "application/strategic-merge-patch+json" and c.res.custom:
            raise ApiError(
                415,
                status(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml",
                ),
            )
        if ctype == _APPLY:
            return self.apply(c)
        try:
            body = json.loads(c.body or b"null")
        except ValueError as e:
            raise bad_request(f"error decoding patch: {e}") from e
        key = self.key(c.res, c.namespace, c.name)
        with self.store.lock:
            old = self.store.get(key)
            if old is None:
                raise not_found(c.res.plural, c.name, c.res.group)
            try:
                if ctype == "application/merge-patch+json":
                    new = patch.merge_patch(old, body)
                elif ctype == "application/json-patch+json":
                    new = patch.json_patch(old, body)
                else:
                    new = patch.strategic_merge_patch(old, body)
            except patch.PatchError as e:
                raise ApiError(
                    422,
                    status(
                        422, "Invalid", "the server rejected our request due to an error in our request", {}
                    ),
                ) from e
            if not isinstance(new, dict):
                raise bad_request("patch result is not an object")
            rv = new.get("metadata", {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(
                    c.res.plural,
                    c.name,
                    c.res.group,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
            return self._update_to(c, key, old, new, [])

    def apply(self, c: Call) -> Result:
        if not c.query.get("fieldManager"):
            raise invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: is required for apply patch",
                        "field": "fieldManager",
                    }
                ],
            )
        cfg, warnings = parse_apply_body(c.body)
        if cfg.get("apiVersion") != c.res.api_version or cfg.get("kind") != c.res.kind:
            group, _, version = str(cfg.get("apiVersion") or "").rpartition("/")
            raise bad_request(f"invalid object type: {group}/{version}, Kind={cfg.get('kind') or ''}")
        meta = cfg.get("metadata") or {}
        if meta.get("name") and meta["name"] != c.name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({c.name})"
            )
        validation.check_apply_fields(c.res, cfg, c.namespace, c.name)
        key = self.key(c.res, c.namespace, c.name)
        force = c.query.get("force") == "true"
        with self.store.lock:
            old = self.store.get(key)
            self._check_namespace(c, c.name, creating=old is None)
            wanted_rv = meta.get("resourceVersion")
            if wanted_rv and (old is None or wanted_rv != old["metadata"]["resourceVersion"]):
                # An applied resourceVersion is a precondition, as for an update.
                if old is None:
                    raise not_found(c.res.plural, c.name, c.res.group)
                raise conflict(
                    c.res.plural,
                    c.name,
                    c.res.group,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
            base = old
            if old is None:
                base = {
                    "apiVersion": c.res.api_version,
                    "kind": c.res.kind,
                    "metadata": {"name": c.name, **({"namespace": c.namespace} if c.res.namespaced else {})},
                }
            try:
                merged = ssa.apply(
                    base,
                    cfg,
                    c.manager,
                    c.res.api_version,
                    force=force,
                    now=self.now(),
                    skip_status=self._status_reset(c.res),
                )
            except ssa.ApplyConflict as e:
                message, causes = ssa.conflict_message(e.conflicts)
                raise ApiError(409, status(409, "Conflict", message, {"causes": causes})) from e
            if old is None:
                self._new_meta(c, merged)
                new = self._finish(c, None, merged)
                ssa.stamp_apply_time(None, new, c.manager, self.now())
                return 201, self._store(c, key, None, new), warnings
            _check_finalizers(c, old, merged)
            new = self._finish(c, old, merged)
            ssa.stamp_apply_time(old, new, c.manager, self.now())
            return 200, self._store(c, key, old, new), warnings

    def delete(self, c: Call) -> Result:
        return deletion.delete(self, c)

    def delete_collection(self, c: Call) -> Result:
        return deletion.delete_collection(self, c)

    def write(self, c: Call, key: Key, obj: Obj) -> Obj:
        """Store unless this is a dry run."""
        return obj if c.dry_run else self.store.put(key, obj)


def _spec_of(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _without_rv(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    out.get("metadata", {}).pop("resourceVersion", None)
    return out


def _check_type(res: Resource, obj: Obj) -> None:
    if (
        obj.get("apiVersion")
        and obj.get("kind")
        and (obj["apiVersion"] != res.api_version or obj["kind"] != res.kind)
    ):
        raise bad_request(
            f"the API version in the data ({obj['apiVersion']}) does not match the expected API version "
            f"({res.api_version})"
        )


def _check_finalizers(c: Call, old: Obj, new: Obj) -> None:
    if not old["metadata"].get("deletionTimestamp"):
        return
    before = set(old["metadata"].get("finalizers") or [])
    added = [f for f in new.get("metadata", {}).get("finalizers") or [] if f not in before]
    if added:
        quoted = ", ".join(json.dumps(f) for f in added)
        message = (
            f"Forbidden: no new finalizers can be added if the object is being deleted, "
            f"found new finalizers []string{{{quoted}}}"
        )
        cause = {"reason": "FieldValueForbidden", "message": message, "field": "metadata.finalizers"}
        raise invalid(c.res.kind, c.res.group, c.name, [cause, dict(cause)])
