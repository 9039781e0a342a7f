"""``fleetsync drift adopt``: turn an observed drift into file changes that make it the desired state.

Reverting a drift needs nothing (an agent with ``whenToApply: Always`` corrects it); adopting it
means the fleet repo must say what the member has. Two ways, both pure functions of a loaded
fleet commit, the drift reports and the hub's memory, returning the files to write:

- **as an override** (default): one rule selecting exactly that cluster (``clusterSelector`` on
  ``kubernetes-fleet.io/member-name``) with JSON patch operations that set the member's values,
  in a ResourceOverride (namespaced object) or ClusterResourceOverride (cluster-scoped object).
  KubeFleet allows one override of each kind per resource, so when one already selects the
  object the rule is appended to it (its file edited round-trip) instead of creating a second.
  The rule comes last, so it wins over earlier rules for the same paths.
- **in the source manifest**: the object's own YAML file is edited in place, comments kept —
  only when that changes nothing else: every cluster the object reaches (through any placement)
  must already have the same member values, no override may mask the path on this cluster, and
  the object must be written in the repo (not rendered by kustomize, not inside an envelope).

Values get their JSON type back by reconciler/drift/values.py's rule. Before anything is
written, ``verify`` reloads the changed tree and checks the cluster now renders the member's
values and (for an override) every other cluster renders exactly what it did before.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from fleetsync_contract import parse_identity
from fleetsync_contract.canonical import dump
from fleetsync_contract.report import PatchDetail
from reconciler.api.membercluster import MEMBER_NAME_LABEL
from reconciler.api.override import CRO_KIND, GROUP, MAX_RULES, RO_KIND, Override
from reconciler.api.placement import Placement
from reconciler.drift.reports import DriftEntry, DriftNotFound, UsageError
from reconciler.drift.values import (
    AdoptionRefused,
    PatchOp,
    check_path,
    is_missing,
    patch_op,
    resolve,
    split_pointer,
    typed_value,
)
from reconciler.drift.yamledit import apply_ops, edit_object, roundtrip_clean
from reconciler.errors import UserError
from reconciler.hub.overrides import OverriddenObject, apply_prepared, prepare_overrides
from reconciler.hub.select import select_resources
from reconciler.load.fleet import LoadResult

MAX_FILE_BYTES = 4 * 1024 * 1024
_UNSAFE_NAME = re.compile(r"[^a-z0-9.-]+")
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")


class Mode(StrEnum):
    OVERRIDE = "override"
    SOURCE = "source"


class Refused(UserError):
    """The drift cannot be adopted as asked (exit code 2); the message says what to do instead."""


@dataclass(frozen=True, slots=True)
class Adoption:
    """What adopting one drift writes: files by repo path, and what to tell the reviewer."""

    cluster: str
    identity: str
    placement: str
    mode: Mode
    details: tuple[PatchDetail, ...]
    ops: tuple[PatchOp, ...]
    files: Mapping[str, bytes]
    target: str  # "ResourceOverride web/drift-eu-1-frontend" or "source apps/web/deploy.yaml"
    notes: tuple[str, ...] = ()


def _placement(spec_placements: Mapping[str, Placement], key: str) -> Placement:
    p = spec_placements.get(key)
    if p is None:
        raise DriftNotFound(
            f"placement {key} is not in the fleet repo at HEAD: the drift is stale "
            "(it was deleted or renamed); nothing to adopt"
        )
    return p


def placed(
    loaded: LoadResult, placement: Placement, clusters: Sequence[str], ident: str
) -> dict[str, OverriddenObject | None]:
    """cluster → the object as the hub renders it there (None: not placed, e.g. a Delete rule)."""
    spec = loaded.spec
    selection = select_resources(placement, spec.resources)
    prepared = prepare_overrides(
        selection.objects,
        list(spec.cluster_overrides.values()),
        list(spec.resource_overrides.values()),
        placement,
    )
    out: dict[str, OverriddenObject | None] = {}
    for c in clusters:
        member = spec.members.get(c)
        labels = member.labels if member is not None else {MEMBER_NAME_LABEL: c}
        result = apply_prepared(prepared, c, labels)
        if not result.ok:
            raise Refused(f"overrides fail for cluster {c}: {result.error}")
        out[c] = next((o for o in result.objects if o.identity == ident), None)
    return out


def pick_details(entry: DriftEntry, paths: Sequence[str]) -> tuple[PatchDetail, ...]:
    details = entry.drift.details
    if not paths:
        if not details:
            raise DriftNotFound(
                f"the drift of {entry.drift.identity} on {entry.cluster} lists no paths: nothing to adopt"
            )
        return details
    by_path = {d.path: d for d in details}
    missing = [p for p in paths if p not in by_path]
    if missing:
        raise UsageError(
            f"--path {', '.join(missing)}: not among the drifted paths ({', '.join(sorted(by_path))})"
        )
    return tuple(by_path[p] for p in dict.fromkeys(paths))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def ops_for(
    details: Sequence[PatchDetail], group: str, kind: str, manifest: Mapping[str, Any]
) -> tuple[PatchOp, ...]:
    """One operation per detail, each computed on the result of the previous ones (two new
    annotations both land in one ``add /metadata/annotations`` parent, then one ``add`` below it)."""
    working = _plain(manifest)
    ops: list[PatchOp] = []
    for d in details:
        try:
            check_path(group, kind, d)
            op = patch_op(d, working)
        except AdoptionRefused as e:
            raise Refused(str(e)) from e
        apply_ops(working, [op])
        ops.append(op)
    return tuple(ops)


def override_name(cluster: str, name: str, taken: set[str]) -> str:
    """``drift-<cluster>-<name>``, made a DNS subdomain and unique among ``taken``."""
    base = _UNSAFE_NAME.sub("-", f"drift-{cluster}-{name}".lower()).strip("-.")[:240].rstrip("-.")
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _rule(cluster: str, ops: Sequence[PatchOp]) -> dict[str, Any]:
    return {
        "clusterSelector": {
            "clusterSelectorTerms": [{"labelSelector": {"matchLabels": {MEMBER_NAME_LABEL: cluster}}}]
        },
        "jsonPatchOverrides": [op.to_dict() for op in ops],
    }


def _read(root: Path, rel: str) -> str:
    if "#" in rel:  # "<dir>/kustomization.yaml#output": rendered, not a file anyone edits
        raise Refused(
            f"{rel.split('#')[0]} renders this object with kustomize; it cannot be edited in place: "
            "adopt --as override, or change the kustomize base/patch by hand"
        )
    path = root / rel
    if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
        raise Refused(f"{rel}: not a readable file of at most {MAX_FILE_BYTES} bytes")
    return path.read_text()


def _existing_override(
    loaded: LoadResult, group: str, kind: str, namespace: str, name: str
) -> Override | None:
    spec = loaded.spec
    pool = spec.resource_overrides.values() if namespace else spec.cluster_overrides.values()
    for o in sorted(pool, key=lambda o: (o.namespace, o.name)):
        if namespace and o.namespace != namespace:
            continue
        if any(s.group == group and s.kind == kind and s.name == name for s in o.selectors):
            return o
    return None


def _as_override(
    root: Path,
    loaded: LoadResult,
    entry: DriftEntry,
    placement: Placement,
    details: tuple[PatchDetail, ...],
    hub: OverriddenObject,
) -> Adoption:
    group, kind, namespace, name = parse_identity(entry.drift.identity)
    ops = ops_for(details, group, kind, hub.manifest)
    rule = _rule(entry.cluster, ops)
    okind = RO_KIND if namespace else CRO_KIND
    existing = _existing_override(loaded, group, kind, namespace, name)
    notes: list[str] = []
    if existing is not None:
        if not existing.applies_to_placement(placement.kind, placement.namespace, placement.name):
            raise Refused(
                f"{existing.label} already selects {entry.drift.identity} but serves another placement; "
                f"KubeFleet allows one {okind} per resource: edit {existing.origin.file} by hand"
            )
        if len(existing.rules) >= MAX_RULES:
            raise Refused(
                f"{existing.label} already has {MAX_RULES} rules (KubeFleet's limit): merge some by hand"
            )
        text = _read(root, existing.origin.file)
        clean = roundtrip_clean(text)

        def add_rule(obj: Any) -> None:
            obj["spec"]["policy"]["overrideRules"].append(rule)

        new = edit_object(
            text, existing.origin.file, GROUP, okind, existing.namespace, existing.name, add_rule
        )
        if not clean:
            notes.append(
                f"{existing.origin.file}: ruamel.yaml re-indents parts of this file; review the whole diff"
            )
        return Adoption(
            entry.cluster,
            entry.drift.identity,
            entry.drift.placement,
            Mode.OVERRIDE,
            details,
            ops,
            {existing.origin.file: new.encode()},
            f"{existing.label} (rule added to {existing.origin.file})",
            tuple(notes),
        )
    taken = {
        o.name
        for o in (
            loaded.spec.resource_overrides.values() if namespace else loaded.spec.cluster_overrides.values()
        )
        if o.namespace == namespace
    }
    oname = override_name(entry.cluster, name, taken)
    folder = _new_file_folder(loaded, entry.drift.identity, placement)
    rel = posixpath.join(folder, f"{oname}.yaml")
    n = 2
    while (root / rel).exists():
        rel, n = posixpath.join(folder, f"{oname}-{n}.yaml"), n + 1
    meta: dict[str, Any] = {"name": oname}
    if namespace:
        meta["namespace"] = namespace
    ref: dict[str, Any] = {"name": placement.name}
    if placement.namespaced:
        ref["scope"] = "Namespaced"
    doc = {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": okind,
        "metadata": meta,
        "spec": {
            "placement": ref,
            ("resourceSelectors" if namespace else "clusterResourceSelectors"): [
                {"group": group, "version": hub.version, "kind": kind, "name": name}
            ],
            "policy": {"overrideRules": [rule]},
        },
    }
    # Report content is untrusted: only a well-formed time goes into the comment (no line breaks).
    first = entry.drift.first_observed_time
    since = f" (first observed {first})" if _TIME.match(first) else ""
    header = (
        f"# Adopted with `fleetsync drift adopt {entry.cluster} {entry.drift.identity}`: the values "
        f"{entry.cluster} had\n# when it drifted{since}.\n"
    )
    label = f"{okind} {namespace + '/' if namespace else ''}{oname}"
    return Adoption(
        entry.cluster,
        entry.drift.identity,
        entry.drift.placement,
        Mode.OVERRIDE,
        details,
        ops,
        {rel: header.encode() + dump(doc)},
        f"{label} (new file {rel})",
    )


def _new_file_folder(loaded: LoadResult, ident: str, placement: Placement) -> str:
    """Beside the object's own file (where its owners look), else beside the placement's file;
    never inside a kustomize directory, whose files only its kustomization reads."""
    doc = loaded.documents.get(ident)
    for file in (doc.file if doc is not None else "#", placement.origin.file):
        if "#" not in file:
            return posixpath.dirname(file)
    return "overrides"


def _reach(
    loaded: LoadResult, ident: str, bindings: Mapping[str, frozenset[str]], entries: Sequence[DriftEntry]
) -> set[str]:
    """Every cluster the object reaches through any placement that selects it."""
    clusters: set[str] = set()
    for key, p in loaded.spec.placements.items():
        if ident in select_resources(p, loaded.spec.resources).identities:
            clusters |= bindings.get(key, frozenset())
            clusters |= {e.cluster for e in entries if e.drift.placement == key}
    return clusters


def _as_source(
    root: Path,
    loaded: LoadResult,
    entry: DriftEntry,
    placement: Placement,
    details: tuple[PatchDetail, ...],
    hub: OverriddenObject,
    bindings: Mapping[str, frozenset[str]],
    entries: Sequence[DriftEntry],
) -> Adoption:
    ident = entry.drift.identity
    group, kind, namespace, name = parse_identity(ident)
    doc = loaded.documents.get(ident)
    if doc is None or ident not in loaded.spec.resources:
        raise Refused(
            f"{ident} is not written as a document of the repo (it comes from an envelope): "
            "adopt --as override, or edit the envelope by hand"
        )
    source = loaded.spec.resources[ident].body
    ops = ops_for(details, group, kind, source)
    for d in details:
        tokens = split_pointer(d.path)
        if resolve(source, tokens) != resolve(hub.manifest, tokens):
            raise Refused(
                f"{d.path}: an override sets this field for {entry.cluster}, so editing the source "
                "would not change it there: adopt --as override instead"
            )
    others = sorted(_reach(loaded, ident, bindings, entries) - {entry.cluster})
    wanted = {(d.path, d.value_in_member) for d in details}
    differ = []
    for c in others:
        seen = {
            (x.path, x.value_in_member)
            for e in entries
            if e.cluster == c and e.drift.identity == ident
            for x in e.drift.details
        }
        if not wanted <= seen:
            differ.append(c)
    if differ:
        shown = ", ".join(differ[:10]) + (f" and {len(differ) - 10} more" if len(differ) > 10 else "")
        raise Refused(
            f"editing the source of {ident} would also change it on {shown}, which do not have these "
            f"values; adopt --as override to change only {entry.cluster}"
        )
    text = _read(root, doc.file)
    clean = roundtrip_clean(text)
    new = edit_object(text, doc.file, group, kind, namespace, name, lambda obj: apply_ops(obj, list(ops)))
    notes = [f"the change reaches every cluster that has this object: {', '.join([entry.cluster, *others])}"]
    if not clean:
        notes.append(f"{doc.file}: ruamel.yaml re-indents parts of this file; review the whole diff")
    return Adoption(
        entry.cluster,
        ident,
        entry.drift.placement,
        Mode.SOURCE,
        details,
        ops,
        {doc.file: new.encode()},
        f"source {doc.file}:{doc.line}",
        tuple(notes),
    )


def plan(
    root: Path,
    loaded: LoadResult,
    entry: DriftEntry,
    mode: Mode,
    paths: Sequence[str],
    bindings: Mapping[str, frozenset[str]],
    entries: Sequence[DriftEntry],
) -> Adoption:
    """The files that adopt ``entry``'s member values; ``root`` holds the tree ``loaded`` came from."""
    if not loaded.ok:
        raise UserError(
            "the fleet repo at HEAD does not load (run fleetsync validate): fix it before adopting"
        )
    placement = _placement(loaded.spec.placements, entry.drift.placement)
    details = pick_details(entry, paths)
    hub = placed(loaded, placement, [entry.cluster], entry.drift.identity)[entry.cluster]
    if hub is None:
        raise DriftNotFound(
            f"at HEAD, {placement.kind} {placement.name} no longer places {entry.drift.identity} on "
            f"{entry.cluster}: nothing to adopt"
        )
    if mode == Mode.OVERRIDE:
        return _as_override(root, loaded, entry, placement, details, hub)
    return _as_source(root, loaded, entry, placement, details, hub, bindings, entries)


def verify(before: LoadResult, after: LoadResult, adoption: Adoption, clusters: Sequence[str]) -> None:
    """The changed tree loads, renders the member's values on the cluster, and (override) nothing else."""
    if not after.ok:
        raise UserError(
            "the adopted change would not load; nothing was committed:\n"
            + "\n".join(str(f) for f in after.errors[:20])
        )
    placement = _placement(after.spec.placements, adoption.placement)
    now = placed(after, placement, [adoption.cluster], adoption.identity)[adoption.cluster]
    if now is None:
        raise UserError(f"after the change {adoption.identity} is no longer placed on {adoption.cluster}")
    for d in adoption.details:
        got = resolve(now.manifest, split_pointer(d.path))
        ok = (
            is_missing(got)
            if d.value_in_member is None
            else (not is_missing(got) and got == typed_value(d, now.manifest))
        )
        if not ok:
            raise UserError(
                f"after the change {d.path} on {adoption.cluster} is not what the member has; "
                "nothing was committed"
            )
    if adoption.mode != Mode.OVERRIDE:
        return
    others = [c for c in clusters if c != adoption.cluster]
    old = placed(before, _placement(before.spec.placements, adoption.placement), others, adoption.identity)
    new = placed(after, placement, others, adoption.identity)

    def manifest(o: OverriddenObject | None) -> Any:
        return None if o is None else o.manifest

    changed = [c for c in others if manifest(old[c]) != manifest(new[c])]
    if changed:
        raise UserError(f"the override would also change {', '.join(changed[:10])}; nothing was committed")
