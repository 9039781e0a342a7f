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

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    # A patched manifest's digest as ``placement_version`` computes it, when an ``OverrideMemo``
    # already knows it (the memo keeps the manifest across passes: it is never recomputed).
    digest: str = field(default="", compare=False)

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
    prepared: PreparedOverrides,
    cluster_name: str,
    cluster_labels: Mapping[str, str],
    memo: OverrideMemo | None = None,
) -> OverrideResult:
    """The objects one cluster gets, or the first override failure for that cluster.

    With ``memo`` (a long-running hub), an object whose overrides and content are those of an
    earlier pass on a cluster with the same name and labels is not patched again."""
    out: list[OverriddenObject] = []
    deleted: list[str] = []
    applicable_cros: set[str] = set()
    applicable_ros: set[tuple[str, str]] = set()
    cluster_key = _cluster_key(cluster_name, cluster_labels) if memo is not None else ""
    for target in prepared.targets:
        if not target.cros and not target.ros:  # nothing targets it: shared by every cluster
            out.append(target.obj)
            continue
        if memo is not None:
            outcome = memo.outcome(target, cluster_name, cluster_labels, cluster_key)
        else:
            outcome = _outcome(target, cluster_name, cluster_labels)
        applicable_cros.update(outcome.cros)
        applicable_ros.update(outcome.ros)
        if outcome.error:
            return OverrideResult(
                (),
                tuple(deleted),
                tuple(sorted(applicable_cros)),
                tuple(sorted(applicable_ros)),
                outcome.error,
            )
        if outcome.dropped:
            deleted.append(target.obj.identity)
            continue
        out.append(outcome.obj or target.obj)
    return OverrideResult(
        tuple(out), tuple(deleted), tuple(sorted(applicable_cros)), tuple(sorted(applicable_ros))
    )


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a target's overrides make of it on one cluster: a patched object (None: untouched),
    dropped by a Delete rule, or a failure; and the overrides that applied (up to a failure)."""

    obj: OverriddenObject | None
    dropped: bool = False
    cros: tuple[str, ...] = ()
    ros: tuple[tuple[str, str], ...] = ()
    error: str = ""


def _outcome(target: _Target, cluster_name: str, cluster_labels: Mapping[str, str]) -> _Outcome:
    """KubeFleet's rules on one object for one cluster, in order (module docstring)."""
    obj = target.obj
    manifest: Any = obj.manifest
    copied = False
    cros: list[str] = []
    ros: list[tuple[str, str]] = []
    for o in (*target.cros, *target.ros):
        rules = [(i, r) for i, r in enumerate(o.rules) if r.matches(cluster_labels)]
        if not rules:
            continue
        if o.namespaced:
            ros.append((o.namespace, o.name))
        else:
            cros.append(o.name)
        for i, rule in rules:
            if rule.override_type == OverrideType.DELETE:
                return _Outcome(None, True, tuple(cros), tuple(ros))
            if not copied:
                manifest = json.loads(json.dumps(manifest))
                copied = True
            error = _patch(manifest, o, i, rule, cluster_name, cluster_labels, obj.identity)
            if error:
                return _Outcome(None, False, tuple(cros), tuple(ros), error)
    return _Outcome(_with_manifest(obj, manifest) if copied else None, False, tuple(cros), tuple(ros))


def _cluster_key(cluster_name: str, cluster_labels: Mapping[str, str]) -> str:
    return json.dumps([cluster_name, sorted(cluster_labels.items())])


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """The digest ``placement_version`` (reconciler/hub/render.py) hashes for one manifest."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class OverrideMemo:
    """Per (object, overrides that target it, cluster name and labels): what the overrides made
    of it, across the passes of one long-running hub. Keyed by content (the object's manifest and
    the overrides as parsed), so an entry is right by construction: a commit that changes one
    object patches that object again on every cluster and reuses the rest. Only entries used in
    the newest pass are kept (``begin_pass``), so the memo is as large as one pass's patches.
    A patched object comes with its digest (``OverriddenObject.digest``), so versions are not
    re-hashed either."""

    def __init__(self) -> None:
        self._used: dict[tuple[str, str], _Outcome] = {}
        self._previous: dict[tuple[str, str], _Outcome] = {}
        self._targets: dict[int, tuple[_Target, str]] = {}  # this pass: id(target) -> its key
        self._overrides: dict[int, tuple[Override, str]] = {}  # this pass: id(override) -> repr

    def begin_pass(self) -> None:
        """Keep what the last pass used; forget this pass's object ids."""
        self._previous, self._used = self._used, {}
        self._targets, self._overrides = {}, {}

    def __len__(self) -> int:
        return len(self._used) + len(self._previous)

    def _override_text(self, o: Override) -> str:
        hit = self._overrides.get(id(o))
        if hit is None:
            hit = self._overrides[id(o)] = (o, repr(o))
        return hit[1]

    def _target_key(self, target: _Target) -> str:
        hit = self._targets.get(id(target))
        if hit is None:
            obj = target.obj
            h = hashlib.sha256(
                json.dumps(
                    [obj.group, obj.version, obj.kind, obj.namespace, obj.name, repr(obj.envelope)],
                ).encode()
            )
            h.update(json.dumps(obj.manifest, sort_keys=True, default=str).encode())
            for o in (*target.cros, *target.ros):
                h.update(b"\0" + self._override_text(o).encode())
            hit = self._targets[id(target)] = (target, h.hexdigest())
        return hit[1]

    def outcome(
        self, target: _Target, cluster_name: str, cluster_labels: Mapping[str, str], cluster_key: str
    ) -> _Outcome:
        key = (self._target_key(target), cluster_key)
        hit = self._used.get(key)
        if hit is None:
            hit = self._previous.pop(key, None)
            if hit is None:
                hit = _outcome(target, cluster_name, cluster_labels)
                if hit.obj is not None:
                    patched = hit.obj
                    digest = manifest_digest(patched.manifest)
                    hit = _Outcome(
                        _with_manifest(patched, patched.manifest, digest),
                        hit.dropped,
                        hit.cros,
                        hit.ros,
                        hit.error,
                    )
            self._used[key] = hit
        return hit


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
        if _set_member(manifest, op):
            continue
        try:
            jsonpatch.apply_patch(manifest, [op], in_place=True)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
            return f"Failed to apply the override rules: {where}: {e}"
    return ""


def _set_member(manifest: dict[str, Any], op: Mapping[str, Any]) -> bool:
    """The common patch, done directly: ``add`` or ``replace`` of an object member whose parent
    objects all exist (no ``~`` escapes, no array on the way, ``replace`` of an existing member).
    It does what jsonpatch does then (its value is already this cluster's own copy); anything
    else (arrays, ``remove``, a missing parent, every failure and its message) is left to
    jsonpatch: False."""
    path = op["path"]
    if op["op"] not in ("add", "replace") or not path.startswith("/") or "~" in path:
        return False
    *parents, last = path[1:].split("/")
    node: Any = manifest
    for part in parents:
        if type(node) is not dict or part not in node:
            return False
        node = node[part]
    if type(node) is not dict or (op["op"] == "replace" and last not in node):
        return False
    node[last] = op["value"]
    return True


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


def _with_manifest(obj: OverriddenObject, manifest: Mapping[str, Any], digest: str = "") -> OverriddenObject:
    return OverriddenObject(
        obj.group, obj.version, obj.kind, obj.namespace, obj.name, manifest, obj.envelope, True, digest
    )
