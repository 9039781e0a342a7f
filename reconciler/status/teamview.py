"""One team's view of the status branch: what the hub writes to ``fleet/status`` in a team repo.

A team reads its status with only its own repo's access (docs/teams.md, "A team's status"), so
its view is cut from the platform's status files, never assembled separately: the same
KubeFleet-shaped ``placements/<key>.yaml`` documents (conditions, per-cluster statuses, failed,
drifted and diffed objects) for the placements the team owns, and a ``status.yaml`` that
``fleetsync get placements|bindings`` reads as it reads the platform's — its ``sourceCommit`` and
``lastLoad`` are the team's own commit and load, its ``placements`` the team's bindings, its
``teams`` the team's own record. What the cut leaves out is the point: other teams' placements
and records, the platform's placements, the MemberCluster documents (labels and properties of
every cluster) and the bundle records (every cluster's name). A team's push error is left out
too: the team cannot read a branch the hub failed to write, and leaving it out keeps the view
from changing when it is recorded. A collision finding in the team's record names who else
declares the object (another team and its file, or the platform repo's file,
reconciler/teams/boundaries.py); in the view it says only "another team" or "the platform repo".
Pure and deterministic: equal platform files give equal bytes, so the hub pushes only on change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from reconciler.errors import Finding
from reconciler.status.memory import (
    STATUS_FILE,
    HubMemory,
    LoadRecord,
    TeamRecord,
    dump_memory,
)
from reconciler.status.views import placement_path

# reconciler/teams/boundaries.py ``_collision``: "team 'T': BUCKET 'KEY' is also declared by WHO: ..."
_COLLISION = re.compile(
    r"^(team '[^']*': \S+ '[^']*' is also declared by )(.*)(: the object is refused)$", re.S
)
_PLATFORM = "the platform repo"


def _private(finding: Finding) -> Finding:
    """``finding`` without the names and files of who else declares its object."""
    hit = _COLLISION.match(finding.message)
    if hit is None:
        return finding
    who = _PLATFORM if hit.group(2).startswith(_PLATFORM) else "another team"
    return replace(finding, message=hit.group(1) + who + hit.group(3))


def _own_record(record: TeamRecord) -> TeamRecord:
    load = record.last_load
    private = LoadRecord(load.commit, load.ok, tuple(_private(f) for f in load.findings))
    return replace(record, last_load=private, status_error="")


def team_view(
    team: str, memory: HubMemory, files: Mapping[str, bytes], owned: Mapping[str, str]
) -> dict[str, bytes]:
    """The files of ``team``'s status branch, cut from the platform's status ``files`` (whose
    ``status.yaml`` is ``memory``); ``owned`` maps a placement key to the team that owns it."""
    keys = sorted(k for k in memory.placements if owned.get(k) == team)
    record = _own_record(memory.teams.get(team, TeamRecord()))
    own = HubMemory(
        source_commit=record.commit,
        last_load=record.last_load,
        placements=MappingProxyType({k: memory.placements[k] for k in keys}),
        teams=MappingProxyType({team: record}),
    )
    out = {STATUS_FILE: dump_memory(own)}
    for key in keys:
        data = files.get(placement_path(key))
        if data is not None:
            out[placement_path(key)] = data
    return out
