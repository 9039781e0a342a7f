"""``fleetsync get drift [CLUSTER]``: every drifted or diffed object, read from the report branches.

Agents commit one drift file per object (docs/formats.md §2) to ``fleet/reports/<cluster>``;
this module reads those branches — and nothing else — the way the hub does (names checked,
every file parsed by the contract's parser, a malformed branch skipped with a warning rather than
failing the command), and lists one row per drifted path: where the hub and the member disagree.

Values are shown as the agent rendered them. Secret data is redacted by the agent; it is masked
here again in case a report did not, so a value never reaches a terminal or a CI log from here.
``drift adopt`` (reconciler/drift/adopt.py) reads drifts through ``read_drifts`` too. A team
repo has no report branches: there the same drift files of the team's own objects are read from
the team's ``fleet/status`` (``drift/<cluster>/...``, written by the hub: docs/teams.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetsync_contract import CONTRACT_API_VERSION, parse_identity
from fleetsync_contract.canonical import CanonicalError, dump
from fleetsync_contract.drift import DRIFT_DIR, parse_drift
from fleetsync_contract.report import (
    ClusterReport,
    ObjectDrift,
    PatchDetail,
    ReportFormatError,
    parse_report_tree,
)
from reconciler.drift.values import masked
from reconciler.errors import NotFound, UserError
from reconciler.gitstore.refs import check_ref_component
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.inputs import REPORT_HEAD, STATUS_HEAD
from reconciler.status.memory import STATUS_FILE, HubMemory, StatusFormatError, parse_memory

log = logging.getLogger(__name__)

MAX_CELL = 40
HEADERS = [
    "CLUSTER",
    "PLACEMENT",
    "OBJECT",
    "TYPE",
    "PATH",
    "HUB",
    "MEMBER",
    "FIRST-OBSERVED",
    "LAST-OBSERVED",
    "GENERATION",
]


class DriftNotFound(NotFound):
    """No drift matches what was asked: the cluster has no report branch, the object no drift, or
    the drift is stale at HEAD. Named for what is missing: the agent's ``NotFound`` is an API 404."""


@dataclass(frozen=True, slots=True)
class DriftEntry:
    """One drift file of one cluster's report branch."""

    cluster: str
    file: str
    drift: ObjectDrift


def report_clusters(repo: HubRepo) -> dict[str, str]:
    """cluster → report branch tip, for every report branch with a usable name."""
    out: dict[str, str] = {}
    for ref, commit in sorted(repo.hub_refs().items()):
        if not ref.startswith(REPORT_HEAD):
            continue
        name = ref[len(REPORT_HEAD) :]
        try:
            out[check_ref_component(name)] = commit
        except UserError:
            log.warning("ignoring report branch with an unusable name", extra={"ref": ref})
    return out


def _read_trees(
    repo: HubRepo, cluster: str | None
) -> dict[str, tuple[ClusterReport, dict[str, ObjectDrift]]]:
    if cluster is not None:
        check_ref_component(cluster)
    tips = report_clusters(repo)
    if cluster is not None and cluster not in tips:
        raise DriftNotFound(
            f"cluster {cluster!r} has no report branch ({REPORT_HEAD}{cluster}): has its agent run?"
        )
    out: dict[str, tuple[ClusterReport, dict[str, ObjectDrift]]] = {}
    for name, commit in tips.items():
        if cluster is not None and name != cluster:
            continue
        try:
            report, drifts = parse_report_tree(repo.read_files(commit))
        except (ReportFormatError, CanonicalError, UserError) as e:
            log.warning("ignoring malformed report", extra={"cluster": name, "error": str(e)})
            continue
        if report.cluster != name:
            log.warning("ignoring report written for another cluster", extra={"cluster": name})
            continue
        out[name] = (report, drifts)
    return out


def _team_trees(repo: HubRepo, cluster: str | None) -> dict[str, dict[str, ObjectDrift]] | None:
    """A team repo's drift, from ``drift/<cluster>/...`` on its ``fleet/status`` (the hub's copy
    of the report files of the team's objects, reconciler/status/teamview.py); None when the repo
    has report branches or its status branch is not a team's (one team record, no bundles)."""
    if cluster is not None:
        check_ref_component(cluster)
    if report_clusters(repo):
        return None
    tip, memory = repo.hub_refs().get(STATUS_HEAD), read_memory(repo)
    if tip is None or len(memory.teams) != 1 or memory.bundles:
        return None
    out: dict[str, dict[str, ObjectDrift]] = {}
    for path, data in sorted(repo.read_files(tip, DRIFT_DIR).items()):
        name, _, rest = path[len(DRIFT_DIR) :].partition("/")
        try:
            out.setdefault(check_ref_component(name), {})[DRIFT_DIR + rest] = parse_drift(data, path)
        except (ReportFormatError, CanonicalError, UserError) as e:
            log.warning("ignoring malformed team drift file", extra={"path": path, "error": str(e)})
    bound = {b.cluster for p in memory.placements.values() for b in p.bindings}
    if cluster is not None and cluster not in bound | set(out):
        raise DriftNotFound(f"cluster {cluster!r} holds none of the team's objects (fleetsync get bindings)")
    return {c: d for c, d in out.items() if cluster is None or c == cluster}


def read_all(repo: HubRepo, cluster: str | None = None) -> tuple[list[DriftEntry], dict[str, ClusterReport]]:
    """Every drift (sorted by cluster, placement, object) and every report, reading each branch
    once; a team repo (no report branches) gives its drift from its status branch, and no reports."""
    team = _team_trees(repo, cluster)
    trees: Mapping[str, tuple[ClusterReport | None, dict[str, ObjectDrift]]] = (
        _read_trees(repo, cluster) if team is None else {c: (None, d) for c, d in team.items()}
    )
    entries = [
        DriftEntry(c, path, masked(d)) for c, (_, drifts) in trees.items() for path, d in drifts.items()
    ]
    entries.sort(key=lambda e: (e.cluster, e.drift.placement, e.drift.identity))
    return entries, {c: r for c, (r, _) in trees.items() if r is not None}


def read_drifts(repo: HubRepo, cluster: str | None = None) -> list[DriftEntry]:
    """Every drift of ``cluster`` (every cluster when None), sorted by cluster, placement, object."""
    return read_all(repo, cluster)[0]


def read_memory(repo: HubRepo) -> HubMemory:
    """The hub's memory from ``fleet/status`` (empty when the hub has not run or it is unreadable)."""
    commit = repo.hub_refs().get(STATUS_HEAD)
    data = repo.read_file(commit, STATUS_FILE) if commit else None
    if data is None:
        return HubMemory()
    try:
        return parse_memory(data)
    except (StatusFormatError, CanonicalError) as e:
        log.warning("ignoring unreadable hub memory", extra={"error": str(e)})
        return HubMemory()


def entry_doc(e: DriftEntry) -> dict[str, Any]:
    d = e.drift
    return {
        "cluster": e.cluster,
        "placement": d.placement,
        "identity": d.identity,
        "type": d.type.value,
        "firstObservedTime": d.first_observed_time,
        "observationTime": d.observation_time,
        "observedGeneration": d.observed_generation,
        "details": [
            {"path": x.path, "valueInHub": x.value_in_hub, "valueInMember": x.value_in_member}
            for x in d.details
        ],
    }


def printable(value: str | None, limit: int) -> str:
    """``value`` safe for a terminal or a commit message: control characters escaped, length cut."""
    if value is None:
        return "<absent>"
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in value[: limit * 4])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(value: str | None) -> str:
    return printable(value, MAX_CELL)


def table(entries: Sequence[DriftEntry]) -> str:
    if not entries:
        return "No drift found.\n"
    rows = [HEADERS]
    for e in entries:
        d = e.drift
        gen = "" if d.observed_generation is None else str(d.observed_generation)
        for x in d.details or (PatchDetail("-"),):
            rows.append(
                [
                    e.cluster,
                    printable(d.placement, 256),
                    printable(d.identity, 512),
                    d.type.value,
                    printable(x.path, 256),
                    _cell(x.value_in_hub),
                    _cell(x.value_in_member),
                    printable(d.first_observed_time, 32),
                    printable(d.observation_time, 32),
                    gen,
                ]
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    return "".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows
    )


def render(entries: Sequence[DriftEntry], output: str) -> str:
    if output == "table":
        return table(entries)
    doc = {"apiVersion": CONTRACT_API_VERSION, "kind": "DriftList", "items": [entry_doc(e) for e in entries]}
    if output == "json":
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return dump(doc).decode()


def cli_get_drift(repo: HubRepo, cluster: str | None, output: str) -> str:
    """``fleetsync get drift [CLUSTER]``; DriftNotFound (exit 1) when the cluster has no report branch."""
    repo.refresh(source=False)
    return render(read_drifts(repo, cluster), output)


def cli_show_drift(repo: HubRepo, cluster: str, obj: str, placement: str | None, output: str) -> str:
    """``fleetsync drift show CLUSTER OBJECT``: one drift (DriftNotFound / UsageError like ``adopt``)."""
    repo.refresh(source=False)
    entry = find_drift(read_drifts(repo, cluster), cluster, obj, placement)
    if output == "table":
        return table([entry])
    doc = entry_doc(entry)
    return json.dumps(doc, indent=2, sort_keys=True) + "\n" if output == "json" else dump(doc).decode()


def find_drift(entries: Sequence[DriftEntry], cluster: str, obj: str, placement: str | None) -> DriftEntry:
    """The one drift of ``cluster`` for ``obj`` (an identity, ``Kind/namespace/name`` or ``Kind/name``).

    DriftNotFound when none matches; UsageError when several do (name the placement or identity).
    """

    def matches(ident: str) -> bool:
        _, kind, ns, name = parse_identity(ident)
        return obj in (ident, f"{kind}/{ns}/{name}", f"{kind}/{name}")

    hits = [
        e
        for e in entries
        if e.cluster == cluster
        and matches(e.drift.identity)
        and (placement is None or e.drift.placement == placement)
    ]
    if not hits:
        where = f" under placement {placement}" if placement else ""
        raise DriftNotFound(
            f"no drift of {obj!r} on cluster {cluster!r}{where}: nothing to adopt "
            f"(fleetsync get drift {cluster} lists what drifted)"
        )
    if len(hits) > 1:
        choices = ", ".join(sorted(f"{e.drift.placement} {e.drift.identity}" for e in hits))
        raise UsageError(
            f"{obj!r} matches several drifts on {cluster}: {choices}; give the full identity and --placement"
        )
    return hits[0]


class UsageError(UserError):
    """The command line asks for something ambiguous or impossible (exit code 2)."""


def clusters_by_placement(
    memory: HubMemory, reports: Mapping[str, ClusterReport]
) -> dict[str, frozenset[str]]:
    """placement key → the clusters it reaches: bound or scheduled in the hub's memory, or
    reporting it in their last report (either source alone may lag the other)."""
    out: dict[str, set[str]] = {}
    for key, p in memory.placements.items():
        out.setdefault(key, set()).update(b.cluster for b in p.bindings if str(b.state) != "Unscheduled")
    for cluster, report in reports.items():
        for pr in report.placements:
            out.setdefault(pr.key, set()).add(cluster)
    return {k: frozenset(v) for k, v in out.items()}


def adopt_mode(adopt_as: str | None, as_override: bool, into_source: bool) -> str:
    """The adopt mode from ``--as override|source`` or its spellings ``--as-override`` /
    ``--into-source`` (the issue's names); default override. Contradicting flags: UsageError."""
    asked = {v for v, on in (("override", as_override), ("source", into_source)) if on}
    if adopt_as is not None:
        if adopt_as not in ("override", "source"):
            raise UsageError(f"--as {adopt_as!r}: use override or source")
        asked.add(adopt_as)
    if len(asked) > 1:
        raise UsageError(
            "--as-override and --into-source (or --as override|source) contradict each other: choose one"
        )
    return asked.pop() if asked else "override"
