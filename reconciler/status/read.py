"""``fleetsync get placements|clusters|runs [NAME]``: read ``fleet/status`` like ``kubectl get``.

The status branch already holds KubeFleet-shaped objects (reconciler/status/views.py), so ``-o yaml``
and ``-o json`` print them as they are (one object, or a ``List`` like kubectl's), and
``-o table`` shows the columns a ``kubectl get crp`` / ``kubectl get membercluster`` user looks
at first. Nothing here writes, and nothing needs the fleet branch: only the hub refs are
fetched. A cluster's last heartbeat is not on the status branch (it would rewrite the branch at
heartbeat rate): it is read live from the heartbeat and report refs, as the hub reads it.

Status is only as good as the commit it was rendered from, so ``load_state`` says which one
that is in one line, before any table: the commit rendered, and the newest commit the hub read
when that one failed to load (with its first error), or that the hub never wrote status at all.
``rendered`` is False in the last two cases, and ``fleetsync get`` exits 1: an empty or stale
table must never pass for "all is well".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetsync_contract.canonical import CanonicalError, dump, load
from fleetsync_contract.report import format_time
from reconciler.errors import NotFound, UserError
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.inputs import STATUS_HEAD, observation, read_agents
from reconciler.status.memory import STATUS_FILE, parse_memory

KINDS = ("placements", "clusters")


def read_status(repo: HubRepo) -> dict[str, bytes]:
    """Every file of the status branch ({} when the hub has not written one yet)."""
    repo.refresh(source=False)
    commit = repo.hub_refs().get(STATUS_HEAD)
    return repo.read_files(commit) if commit else {}


@dataclass(frozen=True, slots=True)
class LoadState:
    """Which fleet commit status is about (``line``) and whether it is the newest the hub read."""

    line: str
    rendered: bool


def load_state(repo: HubRepo) -> LoadState:
    """The load state from ``status.yaml`` on the status branch (call after ``read_status`` or
    another read that fetched the hub refs: this one does not fetch)."""
    commit = repo.hub_refs().get(STATUS_HEAD)
    data = repo.read_file(commit, STATUS_FILE) if commit else None
    if data is None:
        return LoadState("status: the hub has not rendered any commit yet (no fleet/status)", False)
    try:
        memory = parse_memory(data)
    except UserError as e:
        return LoadState(f"status: {STATUS_FILE} cannot be read: {e}", False)
    rendered = f"commit {memory.source_commit[:12]} rendered" if memory.source_commit else "nothing rendered"
    last = memory.last_load
    if last.ok:
        return LoadState(f"status: {rendered} (the newest the hub read)", bool(memory.source_commit))
    errors = last.findings
    why = str(errors[0]) if errors else "no error recorded"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return LoadState(
        f"status: {rendered}; the newest commit {last.commit[:12]} failed to load: {why[:300]}{more}", False
    )


def objects(files: Mapping[str, bytes], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    if kind not in KINDS:
        raise UserError(f"cannot get {kind!r}: use one of {', '.join((*KINDS, 'runs', 'bindings', 'drift'))}")
    return status_docs(files, kind + "/", kind, name)


def status_docs(
    files: Mapping[str, bytes], prefix: str, what: str, name: str | None = None
) -> list[dict[str, Any]]:
    """The documents under ``prefix`` of the status branch, optionally only NAME (or
    NAMESPACE/NAME); unreadable files are skipped; UserError when NAME is not there."""
    out: list[dict[str, Any]] = []
    for path in sorted(files):
        if not path.startswith(prefix) or not path.endswith(".yaml"):
            continue
        try:
            doc = load(files[path])
        except CanonicalError:
            continue
        if not isinstance(doc, dict):
            continue
        meta = doc.get("metadata") or {}
        if name is None or name in {meta.get("name"), f"{meta.get('namespace')}/{meta.get('name')}"}:
            out.append(doc)
    if name is not None and not out:
        raise NotFound(f"{what} {name!r} not found on the status branch")
    return out


def _cond(doc: Mapping[str, Any], suffix: str) -> str:
    for c in (doc.get("status") or {}).get("conditions") or []:
        if str(c.get("type", "")).endswith(suffix):
            return str(c.get("status", ""))
    return ""


def _placement_row(doc: Mapping[str, Any]) -> list[str]:
    meta, status = doc.get("metadata") or {}, doc.get("status") or {}
    name = f"{meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
    clusters = [s for s in status.get("placementStatuses") or [] if s.get("clusterName")]
    return [
        name,
        str(doc.get("kind", "")),
        _cond(doc, "Scheduled"),
        _cond(doc, "Applied"),
        _cond(doc, "Available"),
        str(status.get("observedResourceIndex", "")),
        str(len(clusters)),
    ]


def _cluster_row(doc: Mapping[str, Any]) -> list[str]:
    meta, status = doc.get("metadata") or {}, doc.get("status") or {}
    agent = (status.get("agentStatus") or [{}])[0]
    agent_conds = {c.get("type"): c.get("status") for c in agent.get("conditions") or []}
    props = status.get("properties") or {}
    nodes = (props.get("kubernetes-fleet.io/node-count") or {}).get("value", "")
    eligible = (meta.get("annotations") or {}).get("fleetsync.io/eligible", "")
    return [
        str(meta.get("name")),
        str(agent_conds.get("Joined", "")),
        str(agent_conds.get("Healthy", "")),
        eligible,
        _cond(doc, "SourceVerified"),
        str(nodes),
        str(agent.get("lastReceivedHeartbeat", "")),
    ]


HEADERS = {
    "placements": ["NAME", "KIND", "SCHEDULED", "APPLIED", "AVAILABLE", "RESOURCE-INDEX", "CLUSTERS"],
    "clusters": ["NAME", "JOINED", "HEALTHY", "ELIGIBLE", "SOURCE-VERIFIED", "NODE-COUNT", "LAST-HEARTBEAT"],
}


def table(kind: str, docs: Sequence[Mapping[str, Any]]) -> str:
    rows = [HEADERS[kind]] + [(_placement_row if kind == "placements" else _cluster_row)(d) for d in docs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows
    )


def render(kind: str, docs: Sequence[dict[str, Any]], output: str, single: bool) -> str:
    if output == "table":
        return table(kind, docs)
    data: Any = (
        docs[0] if single and len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": list(docs)}
    )
    if output == "json":
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    return dump(data).decode()


def with_heartbeats(repo: HubRepo, docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cluster documents with ``agentStatus[MemberAgent].lastReceivedHeartbeat`` filled in from
    the agents' refs: max(heartbeat time, report observedTime), as the hub counts it."""
    names = {str((d.get("metadata") or {}).get("name", "")) for d in docs}
    agents = read_agents(repo, {r: c for r, c in repo.hub_refs().items() if r.rpartition("/")[2] in names})
    for doc in docs:
        agent = agents.get(str((doc.get("metadata") or {}).get("name", "")))
        beat = observation(agent).heartbeat_time if agent is not None else None
        statuses = (doc.get("status") or {}).get("agentStatus") or []
        if beat is not None and statuses and isinstance(statuses[0], dict):
            statuses[0]["lastReceivedHeartbeat"] = format_time(beat)
    return list(docs)


def cli_get(repo: HubRepo, kind: str, name: str | None, output: str) -> str:
    if kind == "runs":  # staged update runs have their own table (reconciler/status/runs.py)
        from reconciler.status.runs import cli_get_runs

        return cli_get_runs(repo, name, output)
    if kind == "bindings":  # joined from status.yaml and the placement documents
        from reconciler.status.bindings import cli_get_bindings

        return cli_get_bindings(repo, name, output)
    if kind == "teams":  # the team repos' records of status.yaml (reconciler/status/teams.py)
        from reconciler.status.teams import cli_get_teams

        return cli_get_teams(repo, name, output)
    docs = objects(read_status(repo), kind, name)
    if kind == "clusters":
        docs = with_heartbeats(repo, docs)
    return render(kind, docs, output, single=name is not None)
