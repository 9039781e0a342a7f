"""A team's view of the platform's status (reconciler/status/teamview.py), table by table."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from reconciler.errors import Finding
from reconciler.status.memory import (
    STATUS_FILE,
    BundleRecord,
    HubMemory,
    LoadRecord,
    PlacementMemory,
    TeamRecord,
    parse_memory,
)
from reconciler.status.teamview import team_view
from reconciler.status.views import placement_path

A, B, PLATFORM = (
    "ClusterResourcePlacement/team-a-app",
    "ClusterResourcePlacement/team-b-app",
    "ClusterResourcePlacement/web",
)
OWNED = {A: "team-a", B: "team-b"}


def _finding(message: str) -> Finding:
    return Finding("placements/app.yaml", 3, 1, "metadata.name", message, "x")


def _memory(*findings: Finding) -> HubMemory:
    return HubMemory(
        "f" * 40,
        LoadRecord("f" * 40, True, (_finding("the platform's own finding"),)),
        MappingProxyType({k: PlacementMemory(k) for k in (A, B, PLATFORM)}),
        MappingProxyType({"eu-1": BundleRecord("e" * 40, "sha256:1")}),
        MappingProxyType(
            {
                "team-a": TeamRecord(
                    "a" * 40, LoadRecord("a" * 40, True, findings), status_error="push refused"
                ),
                "team-b": TeamRecord("b" * 40),
            }
        ),
    )


FILES = {placement_path(k): f"doc of {k}\n".encode() for k in (A, B, PLATFORM)}


def test_a_teams_view_holds_its_placements_and_its_record_only() -> None:
    view = team_view("team-a", _memory(), FILES, OWNED)
    assert sorted(view) == [placement_path(A), STATUS_FILE]
    assert view[placement_path(A)] == FILES[placement_path(A)]  # the very document the platform has
    memory = parse_memory(view[STATUS_FILE])
    assert memory.source_commit == "a" * 40 and memory.last_load.commit == "a" * 40
    assert list(memory.placements) == [A] and not memory.bundles
    assert list(memory.teams) == ["team-a"]
    assert memory.teams["team-a"].status_error == ""  # a push error is the platform's to read
    assert b"team-b" not in view[STATUS_FILE] and b"platform's own" not in view[STATUS_FILE]


def test_a_team_without_placements_gets_its_record() -> None:
    view = team_view("team-c", _memory(), FILES, OWNED)
    assert sorted(view) == [STATUS_FILE]
    assert parse_memory(view[STATUS_FILE]).teams["team-c"] == TeamRecord()


@pytest.mark.parametrize(
    ("message", "seen"),
    [
        (
            "team 'team-a': placements 'ClusterResourcePlacement/x' is also declared by team 'team-b' "
            "(placements/x.yaml:2): the object is refused",
            "team 'team-a': placements 'ClusterResourcePlacement/x' is also declared by another team: the object is refused",
        ),
        (
            "team 'team-a': placements 'ClusterResourcePlacement/x' is also declared by the platform repo "
            "(platform/x.yaml:4): the object is refused",
            "team 'team-a': placements 'ClusterResourcePlacement/x' is also declared by the platform repo: the object is refused",
        ),
        (
            "team 'team-a': namespace 'team-b' is not the team's",
            "team 'team-a': namespace 'team-b' is not the team's",
        ),
    ],
)
def test_a_collision_finding_does_not_name_who_else_declares_the_object(message: str, seen: str) -> None:
    view = team_view("team-a", _memory(_finding(message)), FILES, OWNED)
    findings = parse_memory(view[STATUS_FILE]).teams["team-a"].last_load.findings
    assert [f.message for f in findings] == [seen]
