"""What ``fleetsync demo`` shows, read back from the hub refs, and how it is printed.

Everything the demo prints about where things landed is read from Git — the bundle branches
(how many objects each cluster got per placement) and ``fleet/status`` (the KubeFleet-shaped
placement conditions the hub folded from the agents' reports) — never from the in-process
objects that produced them, so the demo shows exactly what a user of ``fleetsync get`` would
see. Output goes through a two-method ``Output``: rich on a terminal (a spinner per stage,
tables), plain lines otherwise (CI logs, tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

from fleetsync_contract.canonical import CanonicalError, load
from reconciler.hub.inputs import HubInputs
from reconciler.status.views import placement_path

APPLIED = "Applied"
AVAILABLE = "Available"


@dataclass(frozen=True, slots=True)
class Landing:
    """One cluster x placement: objects in the cluster's bundle and the per-cluster conditions."""

    cluster: str
    placement: str
    objects: int
    applied: str  # "True" | "False" | "Unknown" | "" (no such condition yet)
    available: str
    reason: str = ""  # the first condition that is not True, as "Type: Reason"


@dataclass(frozen=True, slots=True)
class PlacementSummary:
    key: str
    conditions: tuple[tuple[str, str, str], ...]  # (type, status, reason)
    clusters: tuple[str, ...]  # clusters listed in placementStatuses (picked by the scheduler)
    drifted: Mapping[str, int]  # cluster -> drifted objects reported


def _doc(files: Mapping[str, bytes], path: str) -> Mapping[str, Any] | None:
    data = files.get(path)
    if data is None:
        return None
    try:
        doc = load(data)
    except CanonicalError:
        return None
    return doc if isinstance(doc, Mapping) else None


def _conditions(items: Any) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in items or () if isinstance(c, Mapping)}


def placement_summary(inputs: HubInputs, key: str) -> PlacementSummary | None:
    doc = _doc(inputs.status_files, placement_path(key))
    if doc is None:
        return None
    status = doc.get("status") or {}
    conds = tuple(
        (str(c.get("type")), str(c.get("status")), str(c.get("reason", "")))
        for c in status.get("conditions") or ()
        if isinstance(c, Mapping)
    )
    per = [
        p for p in status.get("placementStatuses") or () if isinstance(p, Mapping) and p.get("clusterName")
    ]
    return PlacementSummary(
        key,
        conds,
        tuple(sorted(str(p["clusterName"]) for p in per)),
        {str(p["clusterName"]): len(p.get("driftedPlacements") or ()) for p in per},
    )


def _placement_keys(inputs: HubInputs) -> list[str]:
    prefix, suffix = "placements/", ".yaml"
    return sorted(
        p[len(prefix) : -len(suffix)]
        for p in inputs.status_files
        if p.startswith(prefix) and p.endswith(suffix)
    )


def summaries(inputs: HubInputs) -> list[PlacementSummary]:
    out = [placement_summary(inputs, k) for k in _placement_keys(inputs)]
    return [s for s in out if s is not None]


def landings(inputs: HubInputs) -> list[Landing]:
    """Every cluster x placement that has objects in a bundle or is listed in placement status."""
    objects: dict[tuple[str, str], int] = {}
    for cluster, prev in inputs.bundles.items():
        for f in prev.bundle.files:
            objects[(cluster, f.placement)] = objects.get((cluster, f.placement), 0) + 1
    per_cluster: dict[tuple[str, str], Mapping[str, Mapping[str, Any]]] = {}
    for key in _placement_keys(inputs):
        doc = _doc(inputs.status_files, placement_path(key)) or {}
        for p in (doc.get("status") or {}).get("placementStatuses") or ():
            if isinstance(p, Mapping) and p.get("clusterName"):
                per_cluster[(str(p["clusterName"]), key)] = _conditions(p.get("conditions"))
    rows = []
    for cluster, key in sorted(set(objects) | set(per_cluster)):
        conds = per_cluster.get((cluster, key), {})
        failing = next((c for c in conds.values() if c.get("status") != "True"), None)
        rows.append(
            Landing(
                cluster,
                key,
                objects.get((cluster, key), 0),
                str(conds.get(APPLIED, {}).get("status", "")),
                str(conds.get(AVAILABLE, {}).get("status", "")),
                f"{failing.get('type')}: {failing.get('reason', '')}" if failing else "",
            )
        )
    return rows


def unsettled(inputs: HubInputs, waiting: Sequence[str]) -> list[str]:
    """Why the fleet has not converged yet (empty when it has): every placement not in
    ``waiting`` (External rollouts wait for a staged run) must be Applied and Available on
    every cluster its status lists, and every bundle must be the one its agent applied."""
    problems: list[str] = []
    for s in summaries(inputs):
        if s.key in waiting:
            continue
        conds = {t: st for t, st, _ in s.conditions}
        for t in ("ClusterResourcePlacementApplied", "ClusterResourcePlacementAvailable"):
            if conds.get(t) != "True":
                problems.append(f"{s.key}: {t} is {conds.get(t, 'missing')}")
    for cluster, prev in sorted(inputs.bundles.items()):
        view = inputs.agents.get(cluster)
        applied = view.report.applied_bundle_id if view and view.report else ""
        if applied != prev.bundle.bundle_id:
            problems.append(f"{cluster}: bundle {prev.bundle.bundle_id[:19]} not applied yet")
    return problems


# -- output ---------------------------------------------------------------------------------------
class Output(Protocol):
    def stage(self, text: str) -> AbstractContextManager[Any]: ...

    def line(self, text: str, style: str = "") -> None: ...

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None: ...


class PlainOutput:
    """One line per event, for logs and tests."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write

    def stage(self, text: str) -> AbstractContextManager[Any]:
        self.write(f"==> {text}")
        return nullcontext()

    def line(self, text: str, style: str = "") -> None:
        self.write(text)

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
        self.write(title)
        for r in [list(headers), *rows]:
            self.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


class RichOutput:
    """A spinner per stage and real tables, on a terminal."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(highlight=False)

    def stage(self, text: str) -> AbstractContextManager[Any]:
        self.console.rule(f"[bold]{text}", align="left")
        return self.console.status(text)

    def line(self, text: str, style: str = "") -> None:
        self.console.print(text, style=style or None, markup=False)

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        from rich.table import Table

        t = Table(title=title, title_justify="left")
        for h in headers:
            t.add_column(h)
        for r in rows:
            t.add_row(*(_styled(c) for c in r))
        self.console.print(t)


def _styled(cell: str) -> str:
    return {"True": "[green]True[/]", "False": "[red]False[/]"}.get(cell, cell.replace("[", r"\["))


def landing_rows(rows: Sequence[Landing]) -> list[list[str]]:
    return [
        [
            r.cluster,
            r.placement.rpartition("/")[2],
            str(r.objects),
            r.applied or "-",
            r.available or "-",
            r.reason,
        ]
        for r in rows
    ]


LANDING_HEADERS = ("cluster", "placement", "objects", "Applied", "Available", "not yet")
