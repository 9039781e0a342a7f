"""The teams' records of ``status.yaml``, read back: ``fleetsync get teams`` and ``hub reconcile``'s team lines.

The hub keeps one record per team repo in ``status.yaml`` ``teams:`` (``TeamRecord``,
reconciler/status/memory.py, written by reconciler/hub/teams.py): the commit rendered, the last
commit tried with its findings (the team's load errors, and the objects its boundaries
refused), why the last fetch failed, what is kept at its last good state, and the clusters
where the team is over its limits. Team findings never reach the fleet's ``lastLoad`` (their
files are paths of the team repo), so without this module a team's broken commit or refused
object would be invisible from the command line. It reads the record rather than the render:
what a person is told is exactly what the hub remembered, read with the same parser the hub
uses, and ``yaml``/``json`` print the records as ``status.yaml`` holds them. Nothing here is a
Secret value (findings are the hub's messages; fetch errors are redacted by gitstore).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fleetsync_contract.canonical import dump
from reconciler.errors import NotFound
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.inputs import STATUS_HEAD
from reconciler.status.memory import STATUS_FILE, HubMemory, TeamRecord, memory_doc, parse_memory
from reconciler.status.read import read_status

MAX_SHOWN = 20  # findings printed per team
MAX_ERROR = 200  # characters of a fetch error in a table cell
HEADERS = ["NAME", "SOURCE-COMMIT", "LOADED", "ERRORS", "KEPT", "LIMITED", "FETCH-ERROR"]


def records(files: Mapping[str, bytes]) -> Mapping[str, TeamRecord]:
    """The team records of a status branch's files ({} without status or teams)."""
    data = files.get(STATUS_FILE)
    return parse_memory(data).teams if data is not None else {}


def local_records(repo: HubRepo) -> Mapping[str, TeamRecord]:
    """The team records on the hub's status branch as this repo has it (no fetch: after a
    reconcile, or after ``read_status``)."""
    commit = repo.hub_refs().get(STATUS_HEAD)
    data = repo.read_file(commit, STATUS_FILE) if commit else None
    return parse_memory(data).teams if data is not None else {}


def errors(record: TeamRecord) -> list[str]:
    """What is wrong with one team, one line each ([] when nothing)."""
    out = [f"its repo cannot be fetched: {record.fetch_error}"] if record.fetch_error else []
    out += [
        str(f) for f in record.last_load.findings if f.severity == "error" and f.message != record.fetch_error
    ]
    return out


def failing(record: TeamRecord) -> bool:
    """Whether the team has something to fix: its head does not load (or cannot be fetched),
    or the hub refused some of its objects."""
    return not record.last_load.ok or bool(errors(record))


def _head(name: str, record: TeamRecord) -> str:
    rendered = f"commit {record.commit[:12]}" if record.commit else "nothing"
    last = record.last_load
    if not last.ok:
        what = (
            f"the newest commit {last.commit[:12]} does not load"
            if last.commit
            else "its branch was not read"
        )
        return f"team {name}: {what}; the team keeps {rendered} rendered"
    failed = sum(1 for f in last.findings if f.severity == "error")
    what = f"; {failed} error(s), the failed objects keep their last good state" if failed else ""
    return f"team {name}: {rendered} rendered{what}"


def report(teams: Mapping[str, TeamRecord]) -> tuple[str, bool]:
    """``hub reconcile``'s lines about the teams, and whether any team has something to fix."""
    lines: list[str] = []
    bad = [n for n in sorted(teams) if failing(teams[n])]
    for name in bad:
        found = errors(teams[name])
        lines.append(_head(name, teams[name]))
        lines += [f"  {e}" for e in found[:MAX_SHOWN]]
        if len(found) > MAX_SHOWN:
            lines.append(f"  ... and {len(found) - MAX_SHOWN} more (fleetsync get teams {name} -o yaml)")
    for name in sorted(teams):
        for cluster, why in teams[name].limited.items():
            lines.append(f"team {name}: over its limits on {cluster}: {why}")
    if teams:
        lines.append(f"teams: {len(teams) - len(bad)} of {len(teams)} rendered without errors")
    return "".join(line + "\n" for line in lines), bool(bad)


def _row(name: str, r: TeamRecord) -> list[str]:
    return [
        name,
        r.commit[:12] or "-",
        str(r.last_load.ok),
        str(len(errors(r))),
        str(len(r.kept)),
        ",".join(r.limited) or "-",
        (r.fetch_error[:MAX_ERROR].replace("\n", " ")) or "-",
    ]


def render(teams: Mapping[str, TeamRecord], name: str | None, output: str) -> str:
    if name is not None:
        if name not in teams:
            raise NotFound(
                f"team {name!r} not found in {STATUS_FILE} (teams the hub read: fleetsync get teams)"
            )
        teams = {name: teams[name]}
    if output == "table":
        rows = [HEADERS, *(_row(n, teams[n]) for n in sorted(teams))]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
        return "".join(
            "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows
        )
    docs: list[dict[str, Any]] = memory_doc(HubMemory(teams=teams)).get(
        "teams", []
    )  # as status.yaml holds them
    data: Any = docs[0] if name is not None else {"apiVersion": "v1", "kind": "List", "items": docs}
    if output == "json":
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    return dump(data).decode()


def cli_get_teams(repo: HubRepo, name: str | None, output: str) -> str:
    """``fleetsync get teams [NAME]``: fetches the hub refs and renders the team records."""
    return render(records(read_status(repo)), name, output)
