"""Per-team records in status.yaml: written only for a fleet with teams, read back whole."""

from __future__ import annotations

from types import MappingProxyType

from reconciler.errors import Finding
from reconciler.status.memory import HubMemory, LoadRecord, TeamRecord, dump_memory, parse_memory

COMMIT = "a" * 40


def test_team_records_round_trip_through_status_yaml() -> None:
    record = TeamRecord(
        COMMIT,
        LoadRecord("b" * 40, False, (Finding("app.yaml", 3, 1, "data", "invalid YAML"),)),
        MappingProxyType({"/ConfigMap/team-a/config": COMMIT}),
        "cannot fetch from git://127.0.0.1/team-a.git: repository not found",
    )
    memory = HubMemory(COMMIT, teams=MappingProxyType({"team-a": record}))
    assert parse_memory(dump_memory(memory)).teams == {"team-a": record}


def test_a_fleet_without_teams_writes_the_status_it_always_wrote() -> None:
    assert b"teams" not in dump_memory(HubMemory(COMMIT))
