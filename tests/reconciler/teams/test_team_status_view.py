"""A team's view of the platform's status (reconciler/status/teamview.py), table by table."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from fleetsync_contract.drift import REDACTED, DriftType, ObjectDrift, PatchDetail, drift_path, parse_drift
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
from reconciler.teams.boundaries import Collision

A, B, PLATFORM = (
    "ClusterResourcePlacement/team-a-app",
    "ClusterResourcePlacement/team-b-app",
    "ClusterResourcePlacement/web",
)
OWNED = {f"placements/{A}": "team-a", f"placements/{B}": "team-b"}  # FleetSpec.owners


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


def _collision(others: tuple[str, ...], who: str) -> Collision:
    key = "ClusterResourcePlacement/x"
    message = f"team 'team-a': placements {key!r} is also declared by {who}: the object is refused"
    return Collision(
        "placements/x.yaml",
        2,
        1,
        "metadata.name",
        message,
        key,
        team="team-a",
        bucket="placements",
        others=others,
    )


@pytest.mark.parametrize(
    ("finding", "seen"),
    [
        (
            _collision(("team-b",), "team 'team-b' (placements/x.yaml:2)"),
            "team 'team-a': placements 'ClusterResourcePlacement/x' is also declared by another team: the object is refused",
        ),
        (
            _collision(("team-b", "team-c"), "team 'team-b' (placements/x.yaml:2), team 'team-c' (x.yaml:1)"),
            "team 'team-a': placements 'ClusterResourcePlacement/x' is also declared by another team: the object is refused",
        ),
        (
            _collision((), "the platform repo (platform/x.yaml:4)"),
            "team 'team-a': placements 'ClusterResourcePlacement/x' is also declared by the platform repo: the object is refused",
        ),
        (
            _finding("team 'team-a': namespace 'team-b' is not the team's"),
            "team 'team-a': namespace 'team-b' is not the team's",
        ),
    ],
)
def test_a_collision_finding_does_not_name_who_else_declares_the_object(finding: Finding, seen: str) -> None:
    view = team_view("team-a", _memory(finding), FILES, OWNED)
    findings = parse_memory(view[STATUS_FILE]).teams["team-a"].last_load.findings
    assert [f.message for f in findings] == [seen]
    assert findings[0].file == finding.file and findings[0].object == finding.object  # the team's own file


RUN_A, RUN_B = "ClusterStagedUpdateRun//team-a-run", "StagedUpdateRun/team-b/run"
RUNS = {
    "runs/ClusterStagedUpdateRun/_cluster/team-a-run.yaml": b"run a\n",
    "runs/StagedUpdateRun/team-b/run.yaml": b"run b\n",
    "runs/ClusterStagedUpdateRun/_cluster/platform-run.yaml": b"run p\n",
}


def _request(kind: str, namespace: str, run: str) -> bytes:
    meta = (
        f"{{name: {run}-before-all, namespace: {namespace}}}" if namespace else f"{{name: {run}-before-all}}"
    )
    return f"kind: {kind}\nmetadata: {meta}\nspec: {{parentStageRollout: {run}, targetStage: all}}\n".encode()


REQUESTS = {
    "approvalrequests/ClusterApprovalRequest/_cluster/team-a-run-before-all.yaml": _request(
        "ClusterApprovalRequest", "", "team-a-run"
    ),
    "approvalrequests/ApprovalRequest/team-b/run-before-all.yaml": _request(
        "ApprovalRequest", "team-b", "run"
    ),
    "approvalrequests/ClusterApprovalRequest/_cluster/platform-run-before-all.yaml": _request(
        "ClusterApprovalRequest", "", "platform-run"
    ),
}


def test_a_teams_view_holds_its_runs_and_their_approval_requests_only() -> None:
    owners = {**OWNED, f"runs/{RUN_A}": "team-a", f"runs/{RUN_B}": "team-b"}
    files = {**FILES, **RUNS, **REQUESTS}
    a = team_view("team-a", _memory(), files, owners)
    assert sorted(p for p in a if p.startswith(("runs/", "approvalrequests/"))) == [
        "approvalrequests/ClusterApprovalRequest/_cluster/team-a-run-before-all.yaml",
        "runs/ClusterStagedUpdateRun/_cluster/team-a-run.yaml",
    ]
    b = team_view("team-b", _memory(), files, owners)
    assert sorted(p for p in b if p.startswith(("runs/", "approvalrequests/"))) == [
        "approvalrequests/ApprovalRequest/team-b/run-before-all.yaml",
        "runs/StagedUpdateRun/team-b/run.yaml",
    ]
    assert b["runs/StagedUpdateRun/team-b/run.yaml"] == RUNS["runs/StagedUpdateRun/team-b/run.yaml"]


def _drift(placement: str, ident: str, path: str, hub: str, member: str) -> ObjectDrift:
    t = "2026-12-01T03:00:00Z"
    return ObjectDrift(ident, placement, DriftType.DRIFT, t, t, 1, (PatchDetail(path, hub, member),))


def test_a_teams_view_holds_the_drift_of_its_placements_with_secret_data_masked() -> None:
    cm, secret = "/ConfigMap/team-a/config", "/Secret/team-a/token"
    drifts = {
        "eu-1": {
            drift_path(A, cm): _drift(A, cm, "/data/VALUE", "1", "2"),
            drift_path(A, secret): _drift(A, secret, "/data/token", "aGVsbG8=", "c2VjcmV0"),
            drift_path(B, "/ConfigMap/team-b/config"): _drift(
                B, "/ConfigMap/team-b/config", "/data/V", "1", "3"
            ),
        },
        "us-1": {
            drift_path(PLATFORM, "/ConfigMap/web/c"): _drift(
                PLATFORM, "/ConfigMap/web/c", "/data/V", "1", "4"
            )
        },
    }
    view = team_view("team-a", _memory(), FILES, OWNED, drifts)
    got = {p: parse_drift(v) for p, v in view.items() if p.startswith("drift/")}
    assert sorted(got) == [
        "drift/eu-1/ClusterResourcePlacement/team-a-app/core/ConfigMap/team-a/config.yaml",
        "drift/eu-1/ClusterResourcePlacement/team-a-app/core/Secret/team-a/token.yaml",
    ]
    assert got[
        "drift/eu-1/ClusterResourcePlacement/team-a-app/core/ConfigMap/team-a/config.yaml"
    ].details == (PatchDetail("/data/VALUE", "1", "2"),)
    token = got["drift/eu-1/ClusterResourcePlacement/team-a-app/core/Secret/team-a/token.yaml"]
    assert token.details == (PatchDetail("/data/token", REDACTED, REDACTED),)
    assert b"c2VjcmV0" not in b"".join(view.values()) and b"aGVsbG8=" not in b"".join(view.values())
