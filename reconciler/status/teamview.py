"""One team's view of the status branch: what the hub writes to ``fleet/status`` in a team repo.

A team reads its status with only its own repo's access (docs/teams.md, "A team's status"), so
its view is cut from the platform's status files and the agents' reports, never assembled
separately: the same KubeFleet-shaped ``placements/<key>.yaml`` documents (conditions,
per-cluster statuses, failed, drifted and diffed objects) for the placements the team owns, the
team's staged runs (``runs/...``) and the approval requests the hub made for them
(``approvalrequests/...``), each agent's drift files of the team's placements under
``drift/<cluster>/`` (the report branch's own files, Secret data masked again; ``fleetsync get
drift`` reads them when the repo has no report branches), and a ``status.yaml`` that
``fleetsync get placements|bindings`` reads as it reads the platform's — its ``sourceCommit`` and
``lastLoad`` are the team's own commit and load, its ``placements`` the team's bindings, its
``teams`` the team's own record. What the cut leaves out is the point: other teams' placements,
runs, drift and records, the platform's placements, the MemberCluster documents (labels and
properties of every cluster) and the bundle records (every cluster's name). A team's push error
is left out too: the team cannot read a branch the hub failed to write, and leaving it out keeps
the view from changing when it is recorded. A collision finding in the team's record names who
else declares the object; the view keeps only whether it was another team or the platform repo,
from the finding's own fields (``Collision.private``, reconciler/teams/boundaries.py).
Pure and deterministic: equal platform files give equal bytes, so the hub pushes only on change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType

from fleetsync_contract.canonical import CanonicalError, load
from fleetsync_contract.drift import DRIFT_DIR, ObjectDrift, dump_drift
from reconciler.drift.values import masked
from reconciler.errors import Finding
from reconciler.rollout.staged.documents import approval_kind, run_path
from reconciler.status.memory import (
    STATUS_FILE,
    HubMemory,
    LoadRecord,
    TeamRecord,
    dump_memory,
)
from reconciler.status.views import placement_path
from reconciler.teams.boundaries import Collision, owner_key

APPROVALS_DIR = "approvalrequests/"  # reconciler/rollout/staged/documents.py approval_request_path

Drifts = Mapping[str, Mapping[str, ObjectDrift]]  # cluster -> drift file path -> drift


def _private(finding: Finding) -> Finding:
    """``finding`` without the names and files of who else declares its object."""
    return finding.private() if isinstance(finding, Collision) else finding


def _own_record(record: TeamRecord) -> TeamRecord:
    load = record.last_load
    private = LoadRecord(load.commit, load.ok, tuple(_private(f) for f in load.findings))
    return replace(record, last_load=private, status_error="")


def _owned(team: str, owners: Mapping[str, str], bucket: str) -> list[str]:
    prefix = owner_key(bucket, "")
    return sorted(k[len(prefix) :] for k, t in owners.items() if t == team and k.startswith(prefix))


def team_view(
    team: str,
    memory: HubMemory,
    files: Mapping[str, bytes],
    owners: Mapping[str, str],
    drifts: Drifts = MappingProxyType({}),
) -> dict[str, bytes]:
    """The files of ``team``'s status branch, cut from the platform's status ``files`` (whose
    ``status.yaml`` is ``memory``) and the agents' ``drifts``; ``owners`` is ``FleetSpec.owners``
    (``bucket/key`` -> the team that owns it)."""
    keys = [k for k in _owned(team, owners, "placements") if k in memory.placements]
    record = _own_record(memory.teams.get(team, TeamRecord()))
    own = HubMemory(
        source_commit=record.commit,
        last_load=record.last_load,
        placements=MappingProxyType({k: memory.placements[k] for k in keys}),
        teams=MappingProxyType({team: record}),
    )
    out = {STATUS_FILE: dump_memory(own)}
    runs = _owned(team, owners, "runs")
    paths = [placement_path(k) for k in keys] + [run_path(*k.split("/", 2)) for k in runs]
    out.update({p: files[p] for p in paths if p in files})
    out.update(_approvals(runs, files))
    out.update(_drift_files(set(keys), drifts))
    return out


def _approvals(runs: Iterable[str], files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The approval requests the hub made for ``runs`` (run keys ``kind/namespace/name``)."""
    wanted: set[tuple[str, str, str]] = set()
    for key in runs:
        kind, namespace, name = key.split("/", 2)
        wanted.add((approval_kind(kind), namespace, name))
    out: dict[str, bytes] = {}
    for path, data in files.items():
        if not path.startswith(APPROVALS_DIR) or not wanted:
            continue
        try:
            doc = load(data)
        except CanonicalError:
            continue
        if not isinstance(doc, dict):
            continue
        meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
        if (doc.get("kind"), meta.get("namespace", ""), spec.get("parentStageRollout")) in wanted:
            out[path] = data
    return out


def _drift_files(placements: set[str], drifts: Drifts) -> dict[str, bytes]:
    """Every drift file of the team's ``placements``, as ``drift/<cluster>/<the report's path>``."""
    return {
        f"{DRIFT_DIR}{cluster}/{path[len(DRIFT_DIR) :]}": dump_drift(masked(d))
        for cluster, by_path in drifts.items()
        for path, d in by_path.items()
        if d.placement in placements and path.startswith(DRIFT_DIR) and ".." not in path.split("/")
    }
