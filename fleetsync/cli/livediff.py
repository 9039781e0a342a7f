"""``fleetsync diff``'s comparison: one state per object, decided by the agent's own pieces.

Every object of the bundle goes through what the agent runs on it — ``ownership`` for who may
manage it, ``compare.hub_side`` and ``patch_details`` for its differences, with its placement's
``applyStrategy`` — so the diff cannot disagree with what the agent will report. The states are
a closed vocabulary: in-sync, drifted, missing, not-owned (the agent did not place it; the
ownership decision says whether it would take it over) and extra-owned-not-in-bundle (ours, gone
from the bundle, not opted out of prune: the agent would prune it, within its prune rules).
A ``ReportDiff`` object is never owned (the agent never takes it over), so only its differences
count. Rendering keeps Secret values out: details are redacted as the agent redacts them, and
the text diff masks values as ``kubectl diff`` does, ``***`` or ``*** (before)`` / ``*** (after)``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent.apply.compare import discard_irrelevant, hub_side, patch_details
from agent.apply.inventory import Inventory, prune_opted_out
from agent.apply.manager import WHOLE_OBJECT, Strategy, Work
from agent.apply.takeover import Ownership, marks, ownership, stamped
from agent.bundles import load_verified
from agent.errors import AgentError, KindNotServed, KubeError
from fleetsync.cli.diffsources import WORKERS, Live, Usage
from fleetsync_contract.bundle import Bundle, manifest_identity
from fleetsync_contract.canonical import dump
from fleetsync_contract.report import Envelope, PatchDetail

Obj = dict[str, Any]
WHOLE_LIVE_OBJECT = PatchDetail("/", None, "(the whole object)")


class State(StrEnum):
    IN_SYNC = "in-sync"
    DRIFTED = "drifted"
    MISSING = "missing"
    NOT_OWNED = "not-owned"
    EXTRA = "extra-owned-not-in-bundle"


@dataclass(frozen=True, slots=True)
class ObjectDiff:
    identity: str
    api_version: str
    placement: str
    state: State
    details: tuple[PatchDetail, ...]
    live: Obj | None  # both sides as compared (irrelevant fields discarded), for the text diff
    hub: Obj | None
    comparison: str = ""
    ownership: str = ""
    degraded: bool = False


# -- the comparison, one object at a time ------------------------------------------------------
def diff_object(w: Work, live: Obj | None, cluster: str, placements: set[str], target: Live) -> ObjectDiff:
    """The agent's view of one bundle object: its ownership decision and its comparison."""
    api_version = str(w.manifest.get("apiVersion", ""))
    if live is None:
        whole = (WHOLE_OBJECT,)
        return ObjectDiff(w.identity, api_version, w.placement, State.MISSING, whole, None, w.manifest)
    own = ownership(live, cluster, w.placement, placements, w.strategy.allow_co_ownership)
    body = stamped(w.manifest, cluster, w.placement, "")  # our marks are discarded when compared
    hub, degraded = hub_side(w.manifest, w.strategy.comparison, lambda _m: target.dry_run(body))
    details = patch_details(hub, live)
    state = State.DRIFTED if details else State.IN_SYNC
    if own == Ownership.OURS or w.strategy.type == "ReportDiff":
        own = Ownership.OURS  # ReportDiff never takes an object over: only its differences count
    else:
        state = State.NOT_OWNED
    return ObjectDiff(
        w.identity,
        api_version,
        w.placement,
        state,
        details,
        live,
        hub,
        comparison=w.strategy.comparison,
        ownership="" if own == Ownership.OURS else own.value,
        degraded=degraded,
    )


def diff_bundle(
    bundle: Bundle,
    works: Sequence[Work],
    target: Live,
    cluster: str,
    placement: str | None,
    inventory: Inventory,
) -> list[ObjectDiff]:
    """Every object of ``works``, then what this cluster's agent placed that the bundle lacks (of
    the kinds in the bundle or the agent's inventory) and would prune."""
    placements = {p.key for p in bundle.placements}
    with ThreadPoolExecutor(WORKERS) as pool:  # a GET and a dry run per object: round trips add up
        out = list(pool.map(lambda w: _diff_safely(w, target, cluster, placements), works))
    kinds = {(str(w.manifest.get("apiVersion")), str(w.manifest.get("kind"))) for w in works}
    kinds |= {(e.api_version, e.kind) for e in inventory.entries}
    in_bundle = {f.identity for f in bundle.files}
    extras: dict[str, ObjectDiff] = {}
    for obj in target.owned(cluster, inventory, kinds):
        ident, owner = manifest_identity(obj), marks(obj).placement
        kept = prune_opted_out((obj.get("metadata") or {}).get("annotations"))  # the agent keeps it
        if ident not in in_bundle and not kept and (placement is None or owner == placement):
            api = str(obj.get("apiVersion", ""))
            extras[ident] = ObjectDiff(ident, api, owner, State.EXTRA, (WHOLE_LIVE_OBJECT,), obj, None)
    return out + [extras[k] for k in sorted(extras)]


def _diff_safely(w: Work, target: Live, cluster: str, placements: set[str]) -> ObjectDiff:
    """``diff_object`` with the live object read; a server error names the object (never a
    Secret's content: for a Secret only the status)."""
    try:
        try:
            live = target.get(w.manifest)
        except KindNotServed:
            live = None  # its CRD is not there yet: the object is missing with it
        return diff_object(w, live, cluster, placements, target)
    except KubeError as e:
        raise AgentError(f"{w.identity}: {_safe_message(e, w.manifest)}") from e


def _safe_message(e: KubeError, manifest: Mapping[str, Any]) -> str:
    if manifest.get("apiVersion") == "v1" and manifest.get("kind") == "Secret":
        return f"{e.reason or e.status or type(e).__name__} (Secret message withheld)"
    return e.message[:1024]


def works_of(bundle: Bundle, files: Mapping[str, bytes], placement: str | None) -> list[Work]:
    """The bundle's objects as the agent's loop makes them (``Agent._works``), of one placement."""
    strategies = {p.key: Strategy.parse(p.apply_strategy) for p in bundle.placements}
    out = []
    for e in bundle.files:
        if placement is None or e.placement == placement:
            env = Envelope(e.envelope.kind, e.envelope.namespace, e.envelope.name) if e.envelope else None
            out.append(
                Work(e.placement, e.identity, load_verified(files[e.path]), strategies[e.placement], env)
            )
    return out


def placement_key(bundle: Bundle, wanted: str | None) -> str | None:
    """``--placement``: a placement key, ``NAMESPACE/NAME`` or a name, as the bundle lists it."""
    if wanted is None:
        return None
    found = {p.key for p in bundle.placements if wanted in (p.key, p.name, f"{p.namespace}/{p.name}")}
    if wanted in found or len(found) == 1:
        return wanted if wanted in found else found.pop()
    known = ", ".join(sorted(found) or [p.key for p in bundle.placements]) or "none"
    why = "names several placements" if found else f"not in the bundle for {bundle.cluster}"
    raise Usage(f"--placement {wanted!r}: {why} (placements: {known})")


# -- output --------------------------------------------------------------------------------------
def _file_name(d: ObjectDiff) -> str:
    """kubectl diff's file name: ``apps.v1.Deployment.NAMESPACE.NAME``."""
    _group, kind, namespace, name = d.identity.split("/")
    return ".".join(p for p in (d.api_version.replace("/", "."), kind, namespace, name) if p)


def _masked(live: Obj | None, hub: Obj | None) -> tuple[Obj | None, Obj | None]:
    """A Secret's values as ``kubectl diff`` masks them: ``***``, or ``*** (before)`` and
    ``*** (after)`` where they differ; only the keys are seen."""
    sides = [o for o in (live, hub) if o is not None]
    if not any(o.get("apiVersion") == "v1" and o.get("kind") == "Secret" for o in sides):
        return live, hub
    live, hub = (dict(live) if live else None), (dict(hub) if hub else None)
    for field in ("data", "stringData"):
        before, after = ((o or {}).get(field) for o in (live, hub))
        if not isinstance(before, Mapping) or not isinstance(after, Mapping):
            for o in (live, hub):
                if o is not None and field in o:
                    o[field] = {k: "***" for k in o[field]} if isinstance(o[field], Mapping) else "***"
            continue
        changed = {k for k in before.keys() & after.keys() if before[k] != after[k]}
        if live is not None:
            live[field] = {k: "*** (before)" if k in changed else "***" for k in before}
        if hub is not None:
            hub[field] = {k: "*** (after)" if k in changed else "***" for k in after}
    return live, hub


def _shown(obj: Obj | None) -> Obj | None:
    """``obj`` as compared (``discard_irrelevant``), named again and without empty label maps."""
    if obj is None:
        return None
    out = discard_irrelevant(obj)
    given = obj.get("metadata") or {}
    meta = {k: given[k] for k in ("name", "namespace") if given.get(k)}
    out["metadata"] = meta | {k: v for k, v in out["metadata"].items() if v != {}}
    return out


def _text(d: ObjectDiff) -> str:
    live, hub = _masked(_shown(d.live), _shown(d.hub))
    before = dump(live).decode().splitlines(keepends=True) if live is not None else []
    after = dump(hub).decode().splitlines(keepends=True) if hub is not None else []
    name = _file_name(d)
    lines = list(difflib.unified_diff(before, after, f"live/{name}", f"bundle/{name}"))
    if not lines:
        return ""
    return f"diff -u -N live/{name} bundle/{name}\n" + "".join(lines)


def _doc(d: ObjectDiff) -> Obj:
    out: Obj = {
        "identity": d.identity,
        "apiVersion": d.api_version,
        "placement": d.placement,
        "state": d.state.value,
    }
    if d.ownership:
        out["ownership"] = d.ownership
    if d.comparison:
        out["comparison"] = d.comparison
    if d.degraded:
        out["degraded"] = "compared in full: the server refused the dry run as invalid"
    out["differences"] = [
        {"path": x.path}
        | ({"valueInHub": x.value_in_hub} if x.value_in_hub is not None else {})
        | ({"valueInMember": x.value_in_member} if x.value_in_member is not None else {})
        for x in d.details
        if d.state != State.IN_SYNC
    ]
    return out


def render(diffs: Sequence[ObjectDiff], output: str, head: Mapping[str, Any]) -> str:
    """``-o diff`` (unified diffs of what is not in sync), ``yaml`` or ``json`` (every object)."""
    if output == "diff":
        return "".join(_text(d) for d in diffs if d.state != State.IN_SYNC)
    doc = {**head, "objects": [_doc(d) for d in diffs]}
    if output == "json":
        return json.dumps(doc, indent=2) + "\n"
    return dump(doc).decode()
