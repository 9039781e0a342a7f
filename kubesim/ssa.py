"""Server-side apply and managedFields bookkeeping, after structured-merge-diff's rules.

An apply merges the applied configuration into the live object, refuses (409) where another
manager owns a field whose value would change unless ``force``, moves ownership on force, and
removes fields this manager applied before, no longer applies, and nobody else owns. Ordinary
writes (create, update, patch) credit their manager with the fields they added or changed and take
those fields away from every other manager, which never conflicts. The managedFields entries keep
the wire shape of the recordings: Apply entries before Update entries, each sorted by time (entries
without a time first), ``time`` only when the object itself changed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kubesim.fields import (
    FieldSet,
    Obj,
    Path,
    apply_set,
    changed_set,
    children,
    describe,
    from_fields_v1,
    get_path,
    is_leaf,
    list_kind,
    remove_path,
    to_fields_v1,
)


@dataclass(slots=True)
class Entry:
    manager: str
    operation: str
    api_version: str
    fields: FieldSet
    time: str | None = None
    subresource: str = ""
    extra: Obj = field(default_factory=dict)


class ApplyConflict(Exception):
    def __init__(self, conflicts: list[tuple[str, Path]]):
        super().__init__("conflict")
        self.conflicts = conflicts


def decode(obj: Obj) -> list[Entry]:
    out = []
    for e in obj.get("metadata", {}).get("managedFields") or []:
        out.append(
            Entry(
                manager=e.get("manager", ""),
                operation=e.get("operation", "Update"),
                api_version=e.get("apiVersion", ""),
                fields=from_fields_v1(e.get("fieldsV1") or {}),
                time=e.get("time"),
                subresource=e.get("subresource", ""),
            )
        )
    return out


def encode(entries: list[Entry]) -> list[Obj]:
    live = [e for e in entries if e.fields]
    # kube-apiserver's order: by operation (Apply before Update), then time, manager, subresource.
    live.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.subresource))
    out = []
    for e in live:
        item: Obj = {
            "manager": e.manager,
            "operation": e.operation,
            "apiVersion": e.api_version,
        }
        if e.time:
            item["time"] = e.time
        item["fieldsType"] = "FieldsV1"
        item["fieldsV1"] = to_fields_v1(e.fields)
        if e.subresource:
            item["subresource"] = e.subresource
        out.append(item)
    return out


def store_entries(obj: Obj, entries: list[Entry]) -> None:
    encoded = encode(entries)
    meta = obj.setdefault("metadata", {})
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)


def merge(live: Any, config: Any, path: Path = ()) -> Any:
    """The applied configuration laid over the live value, keyed lists merged item by item."""
    if isinstance(config, dict) and isinstance(live, dict) and not is_leaf(config, path):
        out = dict(live)
        for k, v in config.items():
            out[k] = merge(live.get(k), v, (*path, "f:" + k))
        return out
    if isinstance(config, list) and isinstance(live, list):
        kind = list_kind(path)
        if kind == "set":
            result = list(live)
            result.extend(v for v in config if v not in result)
            return copy.deepcopy(result)
        if isinstance(kind, tuple):
            live_items = list(children(live, path))
            index = {el: i for i, (el, _) in enumerate(live_items)}
            result = [v for _, v in live_items]
            for el, v in children(config, path):
                if el in index:
                    result[index[el]] = merge(result[index[el]], v, (*path, el))
                else:
                    index[el] = len(result)
                    result.append(copy.deepcopy(v))
            return result
    return copy.deepcopy(config)


def _same(a: Obj, b: Obj, path: Path) -> bool:
    fa, va = get_path(a, path)
    fb, vb = get_path(b, path)
    if fa != fb:
        return False
    if not fa:
        return True
    if is_leaf(va, path) or is_leaf(vb, path):
        return bool(va == vb)
    return True


def apply(  # noqa: C901
    live: Obj | None,
    config: Obj,
    manager: str,
    api_version: str,
    *,
    force: bool,
    now: str,
    skip_status: bool,
) -> Obj:
    """The object after ``manager`` applies ``config`` (managedFields updated); raises ApplyConflict."""
    base: Obj = copy.deepcopy(live) if live else {}
    entries = decode(base)
    cfg = copy.deepcopy(config)
    if skip_status:
        cfg.pop("status", None)
    new_set = apply_set(cfg, skip_status=skip_status)
    merged: Obj = merge(base, cfg)
    conflicts: list[tuple[str, Path]] = []
    for e in entries:
        if e.manager == manager and e.operation == "Apply":
            continue
        for p in sorted(new_set & e.fields):
            if not _same(base, merged, p):
                conflicts.append((e.manager, p))
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    mine = next((e for e in entries if e.manager == manager and e.operation == "Apply"), None)
    old_set = mine.fields if mine else set()
    if force:
        taken = {p for _, p in conflicts}
        for e in entries:
            if e is not mine:
                e.fields -= taken
    others: FieldSet = set().union(*(e.fields for e in entries if e is not mine))
    keep = others | new_set
    removed: list[Path] = []
    for p in sorted(old_set - keep, key=len):
        if any(p[: len(r)] == r for r in removed):
            continue  # inside something already removed
        if any(q[: len(p)] == p and len(q) > len(p) for q in keep):
            continue  # someone still owns a field below it
        remove_path(merged, p)
        removed.append(p)
    if mine is None:
        mine = Entry(manager=manager, operation="Apply", api_version=api_version, fields=set())
        entries.append(mine)
    mine.fields = new_set
    mine.api_version = api_version
    mine.time = now  # provisional: stamp_apply_time keeps the old time when nothing changed
    merged.setdefault("metadata", {}).pop("managedFields", None)
    store_entries(merged, entries)
    return merged


def content_changed(a: Obj | None, b: Obj) -> bool:
    if a is None:
        return True
    return _without_meta_noise(a) != _without_meta_noise(b)


def _without_meta_noise(obj: Obj) -> Obj:
    out = dict(obj)
    meta = dict(out.get("metadata", {}))
    for k in ("managedFields", "resourceVersion", "generation"):
        meta.pop(k, None)
    out["metadata"] = meta
    return out


def stamp_apply_time(old: Obj | None, new: Obj, manager: str, now: str) -> None:
    """Give the applier's entry the current time only when the object itself changed."""
    entries = decode(new)
    old_entries = {(e.manager, e.operation): e for e in decode(old)} if old else {}
    changed = content_changed(old, new)
    for e in entries:
        if e.manager == manager and e.operation == "Apply":
            prev = old_entries.get((manager, "Apply"))
            e.time = now if changed else (prev.time if prev else None)
    store_entries(new, entries)


def record_update(
    old: Obj | None,
    new: Obj,
    manager: str,
    api_version: str,
    *,
    now: str,
    subresource: str = "",
    skeleton: Obj | None = None,
    skip_status: bool = True,
) -> None:
    """Credit an Update manager with what changed from ``old`` to ``new`` (in place on ``new``)."""
    # A request that carries managedFields sets them (an empty list resets them), as in kube-apiserver.
    entries = decode(new) if "managedFields" in new.get("metadata", {}) else decode(old) if old else []
    before = old if old is not None else (skeleton or {})
    if subresource == "status":

        def view(o: Obj) -> Obj:
            meta = o.get("metadata", {})
            out: Obj = {"metadata": {k: meta[k] for k in ("annotations", "labels") if k in meta}}
            if "status" in o:
                out["status"] = o["status"]
            return out

        added, removed = changed_set(view(before), view(new), skip_status=False)
    else:
        added, removed = changed_set(before, new, skip_status=skip_status)
    for e in entries:
        e.fields -= added | removed
    if added:
        mine = next(
            (
                e
                for e in entries
                if e.manager == manager and e.operation == "Update" and e.subresource == subresource
            ),
            None,
        )
        if mine is None:
            mine = Entry(
                manager=manager,
                operation="Update",
                api_version=api_version,
                fields=set(),
                subresource=subresource,
            )
            entries.append(mine)
        mine.fields |= added
        mine.time = now
    store_entries(new, entries)


def conflict_message(conflicts: list[tuple[str, Path]]) -> tuple[str, list[Obj]]:
    by_manager: dict[str, list[str]] = {}
    for m, p in conflicts:
        by_manager.setdefault(m, []).append(describe(p))
    n = len(conflicts)
    parts = []
    for m, paths in by_manager.items():
        if len(paths) == 1:
            parts.append(f'conflict with "{m}": {paths[0]}')
        else:
            parts.append(f'conflicts with "{m}":\n' + "\n".join(f"- {p}" for p in paths))
    head = f"Apply failed with {n} conflict{'s' if n > 1 else ''}: "
    causes = [
        {"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": describe(p)}
        for m, p in conflicts
    ]
    return head + "\n".join(parts), causes
