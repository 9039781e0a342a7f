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
from changing when it is recorded. Pure and deterministic: equal platform files give equal
bytes, so the hub pushes only on change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from reconciler.status.memory import STATUS_FILE, HubMemory, TeamRecord, dump_memory, parse_memory
from reconciler.status.views import placement_path


def team_view(
    team: str, memory: HubMemory, files: Mapping[str, bytes], owned: Mapping[str, str]
) -> dict[str, bytes]:
    """The files of ``team``'s status branch, cut from the platform's status ``files`` (whose
    ``status.yaml`` is ``memory``); ``owned`` maps a placement key to the team that owns it."""
    keys = sorted(k for k in memory.placements if owned.get(k) == team)
    record = memory.teams.get(team, TeamRecord())
    own = HubMemory(
        source_commit=record.commit,
        last_load=record.last_load,
        placements=MappingProxyType({k: memory.placements[k] for k in keys}),
        teams=MappingProxyType({team: replace(record, status_error="")}),
    )
    out = {STATUS_FILE: dump_memory(own)}
    for key in keys:
        data = files.get(placement_path(key))
        if data is not None:
            out[placement_path(key)] = data
    return out


def team_views(files: Mapping[str, bytes], owned: Mapping[str, str]) -> dict[str, dict[str, bytes]]:
    """Every team's view (by team name) of the platform's status ``files``; {} without teams."""
    data = files.get(STATUS_FILE)
    if data is None:
        return {}
    memory = parse_memory(data)
    return {team: team_view(team, memory, files, owned) for team in sorted(memory.teams)}
