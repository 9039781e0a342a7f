"""The fleet matrix's view model: one state word per placement on each cluster, and commit links.

A cell's state is read off the placement status the hub wrote (its per-cluster conditions and
failed / drifted / diffed lists), never worked out again from the fleet repo: the page says what
``fleetsync get placements -o yaml`` says, in one word with an icon, so colour is never the only
signal. The states are a closed vocabulary (``CellState``) in the order a person triages them:
drifted and failed before held, held before healthy. Filters are plain values parsed from GET
query parameters with bounds on their number and size, so a page is a pure function of
(state, filters) that the tests, the bench and the server share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from fleetsync.ui.state import FleetState
from fleetsync_contract.report import PROGRESS_DEADLINE_EXCEEDED
from reconciler.status.members import ELIGIBLE_ANNOTATION

MAX_FILTERS = 16  # label= and state= values per request
MAX_FILTER_CHARS = 320  # one label selector (a label key is at most 317 characters)
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


class CellState(StrEnum):
    DRIFTED = "Drifted"
    FAILED = "Failed"
    DIFFED = "Diffed"
    HELD = "Held by rollout"
    PENDING = "Pending"
    APPLIED = "Applied"
    REPORTED = "Diff reported"
    AVAILABLE = "Available"
    NOT_SELECTED = "Not selected"


ICONS: Mapping[CellState, str] = {
    CellState.DRIFTED: "⚠",
    CellState.FAILED: "✗",
    CellState.DIFFED: "Δ",
    CellState.HELD: "\u2016",  # double vertical line: paused
    CellState.PENDING: "…",
    CellState.APPLIED: "●",
    CellState.REPORTED: "≡",
    CellState.AVAILABLE: "✓",
    CellState.NOT_SELECTED: "\u2013",  # en dash
}
SLUGS: Mapping[CellState, str] = {s: s.name.lower().replace("_", "-") for s in CellState}
BY_SLUG: Mapping[str, CellState] = {v: k for k, v in SLUGS.items()}


@dataclass(frozen=True, slots=True)
class Link:
    """A commit: its short sha and, when a URL pattern is set, where the Git host shows it."""

    sha: str
    short: str
    url: str = ""


@dataclass(frozen=True, slots=True)
class CommitLinks:
    """``--commit-url 'https://github.com/org/fleet/commit/{sha}'``; None shows the short sha only."""

    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.pattern is None:
            return
        if "{sha}" not in self.pattern or not re.match(r"^https?://", self.pattern):
            raise ValueError(
                f"commit URL pattern {self.pattern!r} must start with http(s):// and contain {{sha}}, "
                "for example https://github.com/org/fleet/commit/{sha}"
            )
        if len(self.pattern) > 512:
            raise ValueError("commit URL pattern is longer than 512 characters")

    def link(self, sha: str) -> Link | None:
        if not _SHA.match(sha):
            return None
        url = self.pattern.replace("{sha}", sha) if self.pattern else ""
        return Link(sha, sha[:12], url)


def conditions(entry: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in entry.get("conditions") or [] if isinstance(c, Mapping)}


def _status(conds: Mapping[str, Mapping[str, Any]], ctype: str) -> str:
    return str((conds.get(ctype) or {}).get("status", ""))


def _failed(entry: Mapping[str, Any], conds: Mapping[str, Mapping[str, Any]]) -> bool:
    if _status(conds, "Applied") == "False":
        return True
    for f in entry.get("failedPlacements") or []:
        cond = f.get("condition") or {}
        if cond.get("type") == "Applied" or cond.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
            return True
    return (conds.get("Available") or {}).get("reason") == PROGRESS_DEADLINE_EXCEEDED


def cell_state(entry: Mapping[str, Any] | None) -> CellState:
    """One placement on one cluster, from its ``placementStatuses`` entry (None: not picked)."""
    if entry is None:
        return CellState.NOT_SELECTED
    conds = conditions(entry)
    if _status(conds, "Scheduled") != "True":
        return CellState.NOT_SELECTED
    if entry.get("driftedPlacements"):
        return CellState.DRIFTED
    if _failed(entry, conds):
        return CellState.FAILED
    if entry.get("diffedPlacements"):
        return CellState.DIFFED
    if _status(conds, "RolloutStarted") != "True":
        return CellState.HELD
    if _status(conds, "Available") == "True":
        return CellState.AVAILABLE
    if _status(conds, "DiffReported") == "True":
        return CellState.REPORTED
    if _status(conds, "Applied") == "True":
        return CellState.APPLIED
    return CellState.PENDING


# -- documents -----------------------------------------------------------------------------------
def placement_key(doc: Mapping[str, Any]) -> str:
    """``Kind/name`` or ``Kind/namespace/name``: the status branch's file name and the page's path."""
    meta = doc.get("metadata") or {}
    kind = str(doc.get("kind", ""))
    if meta.get("namespace"):
        return f"{kind}/{meta['namespace']}/{meta.get('name')}"
    return f"{kind}/{meta.get('name')}"


def display_name(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return f"{meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))


def cluster_entries(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A placement's ``placementStatuses`` by cluster (unfilled slots left out)."""
    status = doc.get("status") or {}
    return {
        str(e["clusterName"]): e
        for e in status.get("placementStatuses") or []
        if isinstance(e, Mapping) and e.get("clusterName")
    }


def agent_conditions(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    agents = (doc.get("status") or {}).get("agentStatus") or [{}]
    return conditions(agents[0] if isinstance(agents[0], Mapping) else {})


def heartbeat(doc: Mapping[str, Any]) -> str:
    agents = (doc.get("status") or {}).get("agentStatus") or [{}]
    return str((agents[0] if isinstance(agents[0], Mapping) else {}).get("lastReceivedHeartbeat", ""))


def labels(doc: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((str(k), str(v)) for k, v in ((doc.get("metadata") or {}).get("labels") or {}).items())
    )


def prop(doc: Mapping[str, Any], name: str) -> str:
    return str((((doc.get("status") or {}).get("properties") or {}).get(name) or {}).get("value", ""))


# -- the matrix ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Filters:
    labels: tuple[tuple[str, str | None], ...] = ()  # every one must match (key=value; None: any value)
    states: tuple[CellState, ...] = ()  # a row stays when one of its cells is in one of them


class FilterError(ValueError):
    """A query parameter that is not a filter this page understands (answered 400)."""


def parse_filters(query: Mapping[str, Sequence[str]]) -> Filters:
    """``?label=env=prod&label=region&state=failed`` → Filters; FilterError names what is wrong."""
    raw_labels, raw_states = list(query.get("label") or ()), list(query.get("state") or ())
    if len(raw_labels) + len(raw_states) > MAX_FILTERS:
        raise FilterError(f"at most {MAX_FILTERS} label= and state= filters")
    out_labels: list[tuple[str, str | None]] = []
    for item in raw_labels:
        if not item:
            continue
        if len(item) > MAX_FILTER_CHARS:
            raise FilterError(f"label filter longer than {MAX_FILTER_CHARS} characters")
        key, sep, value = item.partition("=")
        out_labels.append((key.strip(), value.strip() if sep else None))
    states: list[CellState] = []
    for item in raw_states:
        if not item:
            continue
        if item not in BY_SLUG:
            raise FilterError(f"state {item[:40]!r} is not one of {', '.join(BY_SLUG)}")
        states.append(BY_SLUG[item])
    return Filters(tuple(out_labels), tuple(states))


def filter_text(key: str, value: str | None) -> str:
    """A label filter as its GET value: ``key=value``, or ``key`` for any value."""
    return key if value is None else f"{key}={value}"


@dataclass(frozen=True, slots=True)
class ActiveFilter:
    """One filter the page applies, and the link to the same page without it (no JavaScript)."""

    kind: str  # "label" or "state"
    value: str  # as in the query: "ring=dev", "drifted"
    remove: str  # "/?..." with every other filter, "/" when it was the only one


def active_filters(filters: Filters) -> tuple[ActiveFilter, ...]:
    params = [("label", filter_text(k, v)) for k, v in filters.labels]
    params += [("state", SLUGS[s]) for s in filters.states]
    out = []
    for i, (kind, value) in enumerate(params):
        rest = params[:i] + params[i + 1 :]
        out.append(ActiveFilter(kind, value, "/?" + urlencode(rest) if rest else "/"))
    return tuple(out)


def _labels_match(have: Mapping[str, str], wanted: Sequence[tuple[str, str | None]]) -> bool:
    return all(k in have and (v is None or have[k] == v) for k, v in wanted)


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # Kind/name or Kind/namespace/name
    name: str
    kind: str
    index: str  # the latest resource index


@dataclass(frozen=True, slots=True)
class Cell:
    state: CellState
    index: str = ""  # the resource index the cluster's bundle holds for the placement


@dataclass(frozen=True, slots=True)
class Row:
    cluster: str
    labels: tuple[tuple[str, str], ...]
    joined: str  # the agent's Joined condition status
    healthy: str  # the agent's Healthy condition status ("" unknown)
    eligible: str
    heartbeat: str
    nodes: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Matrix:
    repo: str
    status: Link | None
    source: Link | None  # the fleet commit the hub last rendered
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    filters: Filters
    active: tuple[ActiveFilter, ...]  # every filter applied, each with its removal link
    counts: tuple[tuple[CellState, int], ...]  # over the rows shown
    total_clusters: int


NOT_SELECTED = Cell(CellState.NOT_SELECTED)


def _cells(doc: Mapping[str, Any], interned: dict[tuple[CellState, str], Cell]) -> dict[str, Cell]:
    """cluster -> its cell for one placement; equal cells are one object (a fleet has few kinds)."""
    out: dict[str, Cell] = {}
    for name, entry in cluster_entries(doc).items():
        key = (cell_state(entry), str(entry.get("observedResourceIndex", "")))
        cell = interned.get(key)
        if cell is None:
            cell = interned[key] = Cell(*key)
        out[name] = cell
    return out


def _row(doc: Mapping[str, Any], columns: Sequence[Mapping[str, Cell]]) -> Row:
    name = str((doc.get("metadata") or {}).get("name", ""))
    agent = agent_conditions(doc)
    return Row(
        cluster=name,
        labels=labels(doc),
        joined=str((agent.get("Joined") or {}).get("status", "")),
        healthy=str((agent.get("Healthy") or {}).get("status", "")),
        eligible=str(((doc.get("metadata") or {}).get("annotations") or {}).get(ELIGIBLE_ANNOTATION, "")),
        heartbeat=heartbeat(doc),
        nodes=prop(doc, "kubernetes-fleet.io/node-count"),
        cells=tuple(c.get(name, NOT_SELECTED) for c in columns),
    )


def matrix(state: FleetState, filters: Filters, links: CommitLinks) -> Matrix:
    """Clusters (rows, with their health) x placements (columns), filtered by label and state."""
    columns = tuple(
        Column(
            placement_key(d),
            display_name(d),
            str(d.get("kind", "")),
            str((d.get("status") or {}).get("observedResourceIndex", "")),
        )
        for d in state.placements
    )
    interned: dict[tuple[CellState, str], Cell] = {}
    cells = [_cells(d, interned) for d in state.placements]
    rows: list[Row] = []
    for doc in state.clusters:
        row = _row(doc, cells)
        if filters.labels and not _labels_match(dict(row.labels), filters.labels):
            continue
        if filters.states and not any(c.state in filters.states for c in row.cells):
            continue
        rows.append(row)
    counts = {s: 0 for s in CellState}
    for row in rows:
        for c in row.cells:
            counts[c.state] += 1
    return Matrix(
        repo=state.repo,
        status=links.link(state.status_commit),
        source=links.link(state.memory.source_commit),
        columns=columns,
        rows=tuple(rows),
        filters=filters,
        active=active_filters(filters),
        counts=tuple((s, n) for s, n in counts.items() if n),
        total_clusters=len(state.clusters),
    )
