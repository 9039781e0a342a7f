"""Per-cluster variants of a placement's objects: envelopes unwrapped, then CRO and RO rules applied.

KubeFleet's ``applyOverrides`` (kubefleet-api.md §4), per (object, cluster): the
ClusterResourceOverrides that target the object — the object itself when it is cluster-scoped,
its Namespace when it is namespaced — in name order, then the ResourceOverrides that target it
in namespace/name order; in each, the rules whose cluster selector matches, in order; a JSON
patch rule is applied as one RFC 6902 patch after ``${MEMBER-CLUSTER-NAME}`` and
``${MEMBER-CLUSTER-LABEL-KEY-<key>}`` are substituted into its values; a Delete rule removes the
object from that cluster. A failure is that cluster's (``Overridden=False``, OverriddenFailed,
the message naming override, rule and path); other clusters are unaffected. The hub loop keeps
such a cluster on its previous bundle for the placement, as KubeFleet keeps the old Work.

Work is split so a thousand clusters stay cheap: ``prepare_overrides`` (once per placement)
unwraps envelopes and finds which overrides target which object; ``apply_prepared`` (once per
cluster) only evaluates cluster selectors and patches the few objects that need it. Untouched
objects keep the *same* manifest mapping for every cluster, which render.py exploits to
serialise each of them once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonpatch

from fleetsync_contract import identity
from fleetsync_contract.bundle import EnvelopeRef
from reconciler.api.envelope import RE_KIND, envelope_manifests
from reconciler.api.override import Override, OverrideRule, OverrideSelector, OverrideType
from reconciler.api.placement import Placement
from reconciler.errors import StageSignal
from reconciler.hub.select import SelectedObject

NAME_VAR = "${MEMBER-CLUSTER-NAME}"
LABEL_VAR_PREFIX = "${MEMBER-CLUSTER-LABEL-KEY-"

REASON_SUCCEEDED = "OverriddenSucceeded"
REASON_NONE = "NoOverrideSpecified"
REASON_FAILED = "OverriddenFailed"


@dataclass(frozen=True, slots=True)
class OverriddenObject:
    """An object as one cluster gets it."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str
    manifest: Mapping[str, Any]
    envelope: EnvelopeRef | None = None
    # True when an override rewrote the manifest for this cluster alone; False when the manifest
    # is the one shared by every cluster of the placement (render.py serialises those once).
    patched: bool = False

    @property
    def identity(self) -> str:
        return identity(self.group, self.kind, self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class OverrideResult:
    objects: tuple[OverriddenObject, ...]
    deleted: tuple[str, ...] = ()  # identities a Delete rule removed for this cluster
    applicable_cros: tuple[str, ...] = ()
    applicable_ros: tuple[tuple[str, str], ...] = ()  # (namespace, name)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def reason(self) -> str:
        """The ``Overridden`` condition reason for this cluster."""
        if self.error:
            return REASON_FAILED
        return REASON_SUCCEEDED if self.applicable_cros or self.applicable_ros else REASON_NONE


@dataclass(frozen=True, slots=True)
class _Target:
    obj: OverriddenObject
    cros: tuple[Override, ...]
    ros: tuple[Override, ...]


@dataclass(frozen=True, slots=True)
class PreparedOverrides:
    """One placement's objects (envelopes unwrapped) with the overrides that target each."""

    targets: tuple[_Target, ...]
    # Objects dropped while unwrapping (an inner object with the identity of another object).
    warnings: tuple[str, ...] = ()


def prepare_overrides(
    objects: Sequence[SelectedObject], cros: Sequence[Override], ros: Sequence[Override], placement: Placement
) -> PreparedOverrides:
    """Unwrap envelopes and index the overrides that serve this placement by the objects they target."""
    pk, pns, pname = placement.kind, placement.namespace, placement.name
    cro_index: dict[OverrideSelector, list[Override]] = {}
    for o in sorted(cros, key=lambda o: o.name):
        if o.applies_to_placement(pk, pns, pname):
            for sel in o.selectors:
                cro_index.setdefault(sel, []).append(o)
    ro_index: dict[tuple[str, OverrideSelector], list[Override]] = {}
    for o in sorted(ros, key=lambda o: (o.namespace, o.name)):
        if o.applies_to_placement(pk, pns, pname):
            for sel in o.selectors:
                ro_index.setdefault((o.namespace, sel), []).append(o)
    targets: list[_Target] = []
    seen: set[str] = set()
    warnings: list[str] = []
    for obj in _unwrap(objects):
        if obj.identity in seen:
            env = (
                f" (from {obj.envelope.kind} {obj.envelope.namespace}/{obj.envelope.name})"
                if obj.envelope
                else ""
            )
            warnings.append(f"{obj.identity}{env} is selected twice; the first one is placed")
            continue
        seen.add(obj.identity)
        if obj.namespace:
            cro_key = OverrideSelector("", "v1", "Namespace", obj.namespace)
            ro_list = ro_index.get(
                (obj.namespace, OverrideSelector(obj.group, obj.version, obj.kind, obj.name)), []
            )
        else:
            cro_key = OverrideSelector(obj.group, obj.version, obj.kind, obj.name)
            ro_list = []
        targets.append(_Target(obj, tuple(cro_index.get(cro_key, ())), tuple(ro_list)))
    return PreparedOverrides(tuple(targets), tuple(warnings))


def apply_prepared(
    prepared: PreparedOverrides, cluster_name: str, cluster_labels: Mapping[str, str]
) -> OverrideResult:
    """The objects one cluster gets, or the first override failure for that cluster."""
    out: list[OverriddenObject] = []
    deleted: list[str] = []
    applicable_cros: set[str] = set()
    applicable_ros: set[tuple[str, str]] = set()
    for target in prepared.targets:
        obj = target.obj
        manifest: Any = obj.manifest
        copied = False
        dropped = False
        for o in (*target.cros, *target.ros):
            rules = [(i, r) for i, r in enumerate(o.rules) if r.matches(cluster_labels)]
            if not rules:
                continue
            if o.namespaced:
                applicable_ros.add((o.namespace, o.name))
            else:
                applicable_cros.add(o.name)
            for i, rule in rules:
                if rule.override_type == OverrideType.DELETE:
                    dropped = True
                    break
                if not copied:
                    manifest = json.loads(json.dumps(manifest))
                    copied = True
                error = _patch(manifest, o, i, rule, cluster_name, cluster_labels, obj.identity)
                if error:
                    return OverrideResult(
                        (),
                        tuple(deleted),
                        tuple(sorted(applicable_cros)),
                        tuple(sorted(applicable_ros)),
                        error,
                    )
            if dropped:
                break
        if dropped:
            deleted.append(obj.identity)
            continue
        out.append(obj if not copied else _with_manifest(obj, manifest))
    return OverrideResult(
        tuple(out), tuple(deleted), tuple(sorted(applicable_cros)), tuple(sorted(applicable_ros))
    )


# -- variables -----------------------------------------------------------------------------------
class VariableError(StageSignal):
    """An override names a label variable the cluster cannot fill: that cluster's override fails."""


def substitute(text: str, cluster_name: str, cluster_labels: Mapping[str, str]) -> str:
    """Replace the member-cluster variables in ``text`` (case-sensitive, any number of times)."""
    text = text.replace(NAME_VAR, cluster_name)
    while True:
        start = text.find(LABEL_VAR_PREFIX)
        if start < 0:
            return text
        end = text.find("}", start)
        if end < 0:
            # KubeFleet's words, naming the variable rather than the whole (possibly large) value.
            raise VariableError(
                f"input {text[start : start + 80]} is missing the closing bracket `}}`: "
                f"write {LABEL_VAR_PREFIX}<key>}}"
            )
        key = text[start + len(LABEL_VAR_PREFIX) : end]
        if key not in cluster_labels:
            raise VariableError(
                f"label key {key} not found on cluster {cluster_name}: add the label to its "
                "MemberCluster, or select only clusters that have it in the rule's clusterSelector"
            )
        text = text[:start] + cluster_labels[key] + text[end + 1 :]


def _patch(
    manifest: dict[str, Any],
    o: Override,
    index: int,
    rule: OverrideRule,
    cluster_name: str,
    cluster_labels: Mapping[str, str],
    ident: str,
) -> str:
    """Apply one rule's patches in place; the failure message, or ""."""
    for p in rule.patches:
        where = f"{o.kind} {o.label.split('/', 1)[1]} rule {index} path {p.path} on {ident}"
        op: dict[str, Any] = {"op": str(p.op), "path": p.path}
        if p.op != "remove":
            try:
                text = substitute(json.dumps(p.value), cluster_name, cluster_labels)
                op["value"] = json.loads(text)
            except (VariableError, ValueError) as e:
                return f"Failed to apply the override rules: {where}: {e}"
        try:
            jsonpatch.apply_patch(manifest, [op], in_place=True)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
            return f"Failed to apply the override rules: {where}: {e}"
    return ""


# -- envelopes -----------------------------------------------------------------------------------
def _unwrap(objects: Sequence[SelectedObject]) -> list[OverriddenObject]:
    out: list[OverriddenObject] = []
    for obj in objects:
        if not obj.is_envelope:
            out.append(
                OverriddenObject(obj.group, obj.version, obj.kind, obj.namespace, obj.name, obj.manifest)
            )
            continue
        ref = EnvelopeRef(obj.kind, obj.namespace, obj.name)
        for _key, inner in envelope_manifests(obj.manifest):
            if not isinstance(inner, Mapping):
                continue  # reported by the envelope's parser
            manifest: dict[str, Any] = json.loads(json.dumps(inner))
            meta = manifest.get("metadata")
            api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
            if not isinstance(meta, dict) or not isinstance(api_version, str) or not isinstance(kind, str):
                continue
            if obj.kind == RE_KIND and not meta.get("namespace"):
                meta["namespace"] = obj.namespace
            group, _, version = api_version.rpartition("/")
            out.append(
                OverriddenObject(
                    group,
                    version,
                    kind,
                    str(meta.get("namespace") or ""),
                    str(meta.get("name")),
                    manifest,
                    ref,
                )
            )
    return out


def _with_manifest(obj: OverriddenObject, manifest: Mapping[str, Any]) -> OverriddenObject:
    return OverriddenObject(
        obj.group, obj.version, obj.kind, obj.namespace, obj.name, manifest, obj.envelope, True
    )
