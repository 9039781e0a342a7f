"""ClusterResourceEnvelope and ResourceEnvelope: objects that must reach members but not act on the hub.

An envelope is a fleet object (validated here) *and* a hub resource (placements select it like
any object; reconciler/hub/overrides.py unwraps it per cluster). v1beta1, the only version
KubeFleet serves, keeps the wrapped objects in a top-level ``data`` map. The v1alpha1 shape of
old Azure/fleet examples (``spec.manifests.<key>.data``) is still read, so such a file is told
only that its version is not served (with the hint where v1beta1 keeps the objects), not a list
of field errors; ``envelope_manifests`` reads both, so the unwrapping code never needs the
parsed model.

``CLUSTER_SCOPED_KINDS`` (reconciler/api/scope.py, the one table of built-in cluster-scoped
kinds) is what the envelope rules and resource selection need (CRDs in the repo add their own
scope; see reconciler/hub/select.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.api.fields import Fields
from reconciler.api.meta import NamespacedName, ObjectMeta, Origin, parse_metadata
from reconciler.api.registry import KindInfo
from reconciler.api.scope import CLUSTER_SCOPED_KINDS as CLUSTER_SCOPED_KINDS

GROUP = "placement.kubernetes-fleet.io"
CRE_KIND = "ClusterResourceEnvelope"
RE_KIND = "ResourceEnvelope"
ENVELOPE_KINDS = (CRE_KIND, RE_KIND)
MAX_ENTRIES = 50


@dataclass(frozen=True, slots=True)
class Envelope(NamespacedName):
    kind: str
    api_version: str
    meta: ObjectMeta
    origin: Origin
    manifests: tuple[tuple[str, Mapping[str, Any]], ...]  # (key, object), sorted by key


def envelope_manifests(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The wrapped (key, object) pairs of an envelope body, v1beta1 or v1alpha1, sorted by key."""
    data = body.get("data")
    if isinstance(data, Mapping):
        return sorted(((str(k), v) for k, v in data.items()), key=lambda kv: kv[0])
    spec = body.get("spec")
    manifests = spec.get("manifests") if isinstance(spec, Mapping) else None
    if isinstance(manifests, Mapping):
        out: list[tuple[str, Any]] = []
        for k, v in manifests.items():
            out.append((str(k), v.get("data") if isinstance(v, Mapping) else v))
        return sorted(out, key=lambda kv: kv[0])
    return []


def _check_inner(f: Fields, key: str, obj: Any, kind: str, namespace: str) -> Mapping[str, Any] | None:
    if not isinstance(obj, dict):
        f.error(key, "each entry must be a Kubernetes object (a mapping)")
        return None
    api_version, okind, meta = obj.get("apiVersion"), obj.get("kind"), obj.get("metadata")
    if not isinstance(api_version, str) or not isinstance(okind, str) or not api_version or not okind:
        f.error(key, "the wrapped object needs apiVersion and kind")
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta.get("name"):
        f.error(key, "the wrapped object needs metadata.name")
        return None
    group = api_version.rpartition("/")[0]
    if (group, okind) in ((GROUP, CRE_KIND), (GROUP, RE_KIND)):
        f.error(key, "an envelope cannot wrap another envelope")
        return None
    inner_ns = meta.get("namespace") or ""
    cluster_scoped = (group, okind) in CLUSTER_SCOPED_KINDS
    if kind == CRE_KIND:
        if inner_ns:
            f.error(
                key,
                f"a ClusterResourceEnvelope wraps cluster-scoped objects: {okind} has namespace {inner_ns!r}",
            )
            return None
    else:
        if cluster_scoped:
            f.error(
                key,
                f"a ResourceEnvelope wraps namespaced objects: {okind} is cluster-scoped "
                "(use a ClusterResourceEnvelope)",
            )
            return None
        if inner_ns and namespace and inner_ns != namespace:
            f.error(
                key, f"a ResourceEnvelope wraps objects of its own namespace {namespace!r}, not {inner_ns!r}"
            )
            return None
    return obj


def _parse(f: Fields, api_version: str, origin: Origin, kind: str) -> Envelope:
    meta = parse_metadata(f.map("metadata", required=True), namespaced=kind == RE_KIND)
    f.ignore("status")
    entries: list[tuple[str, Mapping[str, Any]]] = []
    holder: Fields | None = None
    if f.has("data") or api_version.endswith("/v1beta1"):
        holder = f.map("data", required=True)
        raw = dict(holder.data) if holder is not None else {}
        holder_items = list(raw.items())
    else:
        spec = f.map("spec", required=True)
        holder = spec.map("manifests", required=True) if spec is not None else None
        holder_items = []
        if holder is not None:
            for k, v in holder.data.items():
                holder.ignore(k)
                if not isinstance(v, dict) or "data" not in v:
                    holder.error(k, "each manifest must be {data: <object>}")
                    continue
                holder_items.append((k, v["data"]))
        if spec is not None:
            spec.done()
    if holder is not None:
        if not 1 <= len(holder_items) <= MAX_ENTRIES:
            holder.error(None, f"must have 1 to {MAX_ENTRIES} entries, got {len(holder_items)}")
        for k, v in sorted(holder_items, key=lambda kv: str(kv[0])):
            holder.ignore(str(k))
            obj = _check_inner(holder, str(k), v, kind, meta.namespace)
            if obj is not None:
                entries.append((str(k), obj))
    f.done()
    return Envelope(kind, api_version, meta, origin, tuple(entries))


def parse_cluster_resource_envelope(f: Fields, api_version: str, origin: Origin) -> Envelope:
    return _parse(f, api_version, origin, CRE_KIND)


def parse_resource_envelope(f: Fields, api_version: str, origin: Origin) -> Envelope:
    return _parse(f, api_version, origin, RE_KIND)


KINDS: list[KindInfo] = [
    KindInfo(GROUP, CRE_KIND, False, parse_cluster_resource_envelope),
    KindInfo(GROUP, RE_KIND, True, parse_resource_envelope),
]
