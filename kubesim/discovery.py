"""API discovery: which resources exist, and the documents that advertise them.

The built-in resources and their discovery documents come from a real kube-apiserver v1.36
(kubesim/data/discovery.json, extracted from the kube-golden recordings), so names, verbs, short
names, categories and subresources are exactly what clients expect. Custom resources join when
their CRD becomes Established and leave when it is deleted; the documents are rebuilt from the
same :class:`Resource` records, so legacy (/api, /apis, per group-version) and aggregated
(apidiscovery.k8s.io/v2) discovery always agree.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    custom: bool = False
    storage_version: str = ""
    schema: Obj | None = field(default=None, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _copy(value: Any) -> Obj:
    out: Obj = copy.deepcopy(value)
    return out


def _load() -> Obj:
    text = importlib_resources.files("kubesim").joinpath("data/discovery.json").read_text()
    data: Obj = json.loads(text)
    return data


class Discovery:
    """Thread-safe resource registry of one simulated cluster."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data = _load()
        self._builtin: dict[tuple[str, str, str], Resource] = {}
        for doc, core in ((self._data["aggregated_api"], True), (self._data["aggregated_apis"], False)):
            for item in doc["items"]:
                group = "" if core else item["metadata"]["name"]
                for ver in item["versions"]:
                    for r in ver["resources"]:
                        res = Resource(
                            group=group,
                            version=ver["version"],
                            plural=r["resource"],
                            kind=r["responseKind"]["kind"],
                            namespaced=r["scope"] == "Namespaced",
                            singular=r.get("singularResource", ""),
                            verbs=tuple(r.get("verbs", [])),
                            short_names=tuple(r.get("shortNames", [])),
                            categories=tuple(r.get("categories", [])),
                            subresources=tuple(s["subresource"] for s in r.get("subresources", [])),
                        )
                        self._builtin[(group, res.version, res.plural)] = res
        self._custom: dict[tuple[str, str, str], Resource] = {}

    # -- lookups ---------------------------------------------------------------------------------
    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        key = (group, version, plural)
        with self._lock:
            return self._builtin.get(key) or self._custom.get(key)

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for res in [*self._builtin.values(), *self._custom.values()]:
                if res.group == group and res.version == version and res.kind == kind:
                    return res
        return None

    def group_versions(self, group: str) -> list[str]:
        with self._lock:
            if group == "":
                return ["v1"]
            if any(g == group for g, _, _ in self._custom):
                return sorted({v for g, v, _ in self._custom if g == group})
            for item in self._data["apis"]["groups"]:
                if item["name"] == group:
                    return [v["version"] for v in item["versions"]]
        return []

    def set_custom(self, crd_name: str, resources: list[Resource]) -> None:
        with self._lock:
            for key in [k for k, r in self._custom.items() if f"{r.plural}.{r.group}" == crd_name]:
                del self._custom[key]
            for r in resources:
                self._custom[(r.group, r.version, r.plural)] = r

    # -- documents ---------------------------------------------------------------------------------
    def version(self) -> Obj:
        return _copy(self._data["version"])

    def openapi_index(self) -> Obj:
        return _copy(self._data["openapi_v3"])

    def openapi_v3(self, gv_path: str) -> Obj | None:
        """A minimal OpenAPI v3 document for one group-version: only what kubectl reads from it.

        kubectl looks for the ``fieldValidation`` parameter on PATCH operations tagged with the
        kind (to know it may leave validation to the server); it needs no schemas for the
        built-in kinds (it falls back to its compiled-in types for strategic merge patches).
        """
        parts = gv_path.strip("/").split("/")
        if parts[:1] == ["api"] and len(parts) == 2:
            group, version = "", parts[1]
        elif parts[:1] == ["apis"] and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            return None
        with self._lock:
            res = [
                r
                for r in [*self._builtin.values(), *self._custom.values()]
                if r.group == group and r.version == version
            ]
        if not res:
            return None
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        params = [
            {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for n in ("dryRun", "fieldManager", "fieldValidation", "force")
        ]
        paths: Obj = {}
        for r in res:
            scope = f"{prefix}/namespaces/{{namespace}}" if r.namespaced else prefix
            paths[f"{scope}/{r.plural}/{{name}}"] = {
                "patch": {
                    "operationId": f"patch{r.kind}",
                    "parameters": params,
                    "responses": {"200": {"description": "OK"}},
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {"group": group, "kind": r.kind, "version": version},
                }
            }
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.36.2"},
            "paths": paths,
            "components": {"schemas": {}},
        }

    def api_versions(self, address: str) -> Obj:
        doc = _copy(self._data["api"])
        doc["serverAddressByClientCIDRs"][0]["serverAddress"] = address
        return doc

    def _custom_groups(self) -> dict[str, list[Resource]]:
        out: dict[str, list[Resource]] = {}
        with self._lock:
            for r in self._custom.values():
                out.setdefault(r.group, []).append(r)
        return out

    def api_groups(self) -> Obj:
        doc = _copy(self._data["apis"])
        for group, res in sorted(self._custom_groups().items()):
            doc["groups"].append(self._group_doc(group, res))
        return doc

    def _group_doc(self, group: str, res: list[Resource]) -> Obj:
        versions = sorted({r.version for r in res}, reverse=True)
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}

    def api_group(self, group: str) -> Obj | None:
        for item in self._data["apis"]["groups"]:
            if item["name"] == group:
                return {"kind": "APIGroup", "apiVersion": "v1", **copy.deepcopy(item)}
        custom = self._custom_groups().get(group)
        if custom:
            return {"kind": "APIGroup", "apiVersion": "v1", **self._group_doc(group, custom)}
        return None

    def resource_list(self, group: str, version: str) -> Obj | None:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        recorded = self._data["resource_lists"].get(path)
        if recorded is not None:
            return _copy(recorded)
        with self._lock:
            res = [
                r
                for r in [*self._builtin.values(), *self._custom.values()]
                if r.group == group and r.version == version
            ]
        if not res:
            return None
        items: list[Obj] = []
        for r in sorted(res, key=lambda r: r.plural):
            entry: Obj = {
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": list(r.verbs),
                "storageVersionHash": storage_version_hash(r.group, r.storage_version or r.version, r.kind),
            }
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            items.append(entry)
            for sub in r.subresources:
                verbs = ["get", "patch", "update"]
                items.append(
                    {
                        "name": f"{r.plural}/{sub}",
                        "singularName": "",
                        "namespaced": r.namespaced,
                        "kind": "Scale" if sub == "scale" else r.kind,
                        "verbs": verbs,
                    }
                )
        doc: Obj = {
            "kind": "APIResourceList",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": items,
        }
        if group:
            doc["apiVersion"] = "v1"
        return doc

    def aggregated(self, core: bool) -> Obj:
        if core:
            return _copy(self._data["aggregated_api"])
        doc = _copy(self._data["aggregated_apis"])
        for group, res in sorted(self._custom_groups().items()):
            versions = []
            for v in sorted({r.version for r in res}, reverse=True):
                entries = []
                for r in sorted((r for r in res if r.version == v), key=lambda r: r.plural):
                    e: Obj = {
                        "resource": r.plural,
                        "responseKind": {"group": "", "kind": r.kind, "version": ""},
                        "scope": "Namespaced" if r.namespaced else "Cluster",
                        "singularResource": r.singular,
                        "verbs": list(r.verbs),
                    }
                    if r.short_names:
                        e["shortNames"] = list(r.short_names)
                    if r.categories:
                        e["categories"] = list(r.categories)
                    if r.subresources:
                        e["subresources"] = [
                            {
                                "subresource": s,
                                "responseKind": {"group": "autoscaling", "kind": "Scale", "version": "v1"}
                                if s == "scale"
                                else {"group": "", "kind": r.kind, "version": ""},
                                "verbs": ["get", "patch", "update"],
                            }
                            for s in r.subresources
                        ]
                    entries.append(e)
                versions.append({"version": v, "resources": entries, "freshness": "Current"})
            doc["items"].append({"metadata": {"name": group}, "versions": versions})
        return doc


CRUD_VERBS = (
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
)  # CRDs' order


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """kube-apiserver's storageVersionHash: the first 8 bytes of sha256("group/version/kind"), base64."""
    return base64.b64encode(hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()[:8]).decode()


def resources_from_crd(crd: Obj) -> list[Resource]:
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    out = []
    storage = next((v.get("name", "") for v in spec.get("versions") or [] if v.get("storage")), "")
    for v in spec.get("versions") or []:
        if not v.get("served"):
            continue
        subs = v.get("subresources") or {}
        out.append(
            Resource(
                group=spec.get("group", ""),
                version=v.get("name", ""),
                plural=names.get("plural", ""),
                kind=names.get("kind", ""),
                namespaced=spec.get("scope") == "Namespaced",
                singular=names.get("singular") or str(names.get("kind", "")).lower(),
                verbs=CRUD_VERBS,
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple(s for s in ("scale", "status") if s in subs),
                custom=True,
                storage_version=storage,
                schema=(v.get("schema") or {}).get("openAPIV3Schema"),
            )
        )
    return out
