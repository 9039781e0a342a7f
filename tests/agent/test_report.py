"""From results to report.yaml: KubeFleet's work conditions, stable times, commits only on change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.apply.manager import Result
from agent.report import PlacementInfo, ReportInput, build_report, commit_message, fingerprint
from fleetsync_contract.report import (
    Availability,
    DriftType,
    Health,
    Outcome,
    PatchDetail,
    PruneSummary,
    ResourceUsage,
    SourceState,
)

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
P = "ClusterResourcePlacement/web"


def live(kind: str = "ConfigMap", api_version: str = "v1", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "generation": 1}, **extra}


def res(
    ident: str, outcome: Outcome = Outcome.APPLIED, obj: dict[str, Any] | None = None, **kw: Any
) -> Result:
    o = obj if obj is not None else live()
    return Result(P, ident, o["apiVersion"], outcome, live=o, owned=True, **kw)


def inp(
    results: list[Result], now: datetime = T0, report_diff: bool = False, period: int = 60
) -> ReportInput:
    return ReportInput(
        cluster="c1",
        agent_version="0.1.0",
        now=now,
        bundle_id="sha256:b",
        bundle_commit="abc",
        placements=[PlacementInfo(P, 1, report_diff, period)],
        results=results,
        inventory=[],
        prune=PruneSummary(),
        properties={"kubernetes-fleet.io/node-count": "1"},
        usage=ResourceUsage(),
        source=SourceState(),
        health=Health(True, ""),
    )


def conditions(results: list[Result], **kw: Any) -> list[tuple[str, str, str]]:
    report, _ = build_report(inp(results, **kw), None, {})
    return [(c.type, c.status, c.reason) for c in report.placements[0].conditions]


def test_all_data_objects_applied_are_applied_and_available() -> None:
    assert conditions([res("/ConfigMap/a/x")]) == [
        ("Applied", "True", "AllManifestsApplied"),
        ("Available", "True", "AllManifestsAvailable"),
    ]


def test_one_failure_makes_the_work_not_applied() -> None:
    assert conditions([res("/ConfigMap/a/x"), res("/ConfigMap/a/y", Outcome.FAILED_TO_APPLY)]) == [
        ("Applied", "False", "SomeManifestsAreNotApplied")
    ]


def test_untrackable_objects_become_available_after_the_unavailable_period() -> None:
    job = res("batch/Job/a/j", obj=live("Job", "batch/v1"), wrote=True)
    first, _ = build_report(inp([job]), None, {})
    assert [(c.type, c.status) for c in first.placements[0].conditions][1] == ("Available", "False")
    later = replace(job, wrote=False)
    second, _ = build_report(inp([later], now=T0 + timedelta(seconds=61)), first, {})
    assert [(c.type, c.status, c.reason) for c in second.placements[0].conditions][1] == (
        "Available",
        "True",
        "WorkNotTrackable",
    )
    assert second.placements[0].objects[0].availability == Availability.NOT_TRACKABLE
    assert second.placements[0].objects[0].available_since == "2026-11-25T03:00:00Z"


def test_report_diff_placements_report_diff_reported_only() -> None:
    assert conditions([res("/ConfigMap/a/x", Outcome.NO_DIFF)], report_diff=True) == [
        ("DiffReported", "True", "AllManifestsDiffReported")
    ]


def test_transition_times_and_first_drift_times_are_kept_while_the_state_holds() -> None:
    d = res(
        "/ConfigMap/a/x",
        Outcome.DRIFTED,
        details=(PatchDetail("/data/k", "a", "b"),),
        drift_type=DriftType.DRIFT,
    )
    first, drifts1 = build_report(inp([d]), None, {})
    second, drifts2 = build_report(inp([d], now=T0 + timedelta(minutes=5)), first, drifts1)
    [path] = drifts2
    assert drifts2[path].first_observed_time == "2026-11-25T03:00:00Z"
    assert drifts2[path].observation_time == "2026-11-25T03:05:00Z"
    assert second.placements[0].conditions[0].last_transition_time == "2026-11-25T03:00:00Z"
    assert fingerprint(first, drifts1) == fingerprint(second, drifts2)


def test_unchanged_after_applied_needs_no_commit_but_a_new_drift_does() -> None:
    applied = res("/ConfigMap/a/x", reason="ManifestApplied", wrote=True)
    first, _ = build_report(inp([applied]), None, {})
    same = res("/ConfigMap/a/x", Outcome.UNCHANGED, reason="ManifestAlreadyUpToDate")
    second, _ = build_report(inp([same], now=T0 + timedelta(minutes=1)), first, {})
    assert fingerprint(first, {}) == fingerprint(second, {})
    drifted = res(
        "/ConfigMap/a/x",
        Outcome.DRIFTED,
        details=(PatchDetail("/data/k", "3", "5"),),
        drift_type=DriftType.DRIFT,
    )
    third, drifts = build_report(inp([drifted]), second, {})
    assert fingerprint(third, drifts) != fingerprint(second, {})
    message = commit_message(third, drifts, second, {})
    assert message.splitlines()[0] == "drift: c1 /ConfigMap/a/x /data/k 3→5"
    assert "/ConfigMap/a/x: Unchanged → Drifted" in message


def test_the_first_report_says_which_bundle_was_applied() -> None:
    report, _ = build_report(inp([res("/ConfigMap/a/x")]), None, {})
    assert commit_message(report, {}, None, {}).startswith("applied sha256:b (1 objects)")


def test_the_first_report_before_any_bundle_says_the_agent_joined() -> None:
    empty = replace(inp([]), bundle_id="", bundle_commit="", placements=[])
    report, _ = build_report(empty, None, {})
    head = commit_message(report, {}, None, {}).splitlines()[0]
    assert head == "joined: c1 has no bundle yet"
    assert "no bundle)" not in head and "0 objects" not in head


def deployment(ready: bool) -> dict[str, Any]:
    status = {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "availableReplicas": 1 if ready else 0,
    }
    return live("Deployment", "apps/v1", spec={"replicas": 1}, status=status)


def test_a_commit_made_because_an_object_became_available_is_headed_by_that_change() -> None:
    ident = "apps/Deployment/a/x"
    waiting = replace(
        inp([res(ident, obj=deployment(False), wrote=True)]), source=SourceState(False, "fetch failed")
    )
    first, _ = build_report(waiting, None, {})
    assert first.placements[0].objects[0].availability == Availability.NOT_YET_AVAILABLE
    # The same pass also sees the source come back: an unrelated change that must not head the commit.
    ready = inp([res(ident, Outcome.UNCHANGED, obj=deployment(True))], now=T0 + timedelta(minutes=1))
    second, _ = build_report(ready, first, {})
    assert second.placements[0].objects[0].availability == Availability.AVAILABLE
    message = commit_message(second, {}, first, {})
    assert message.splitlines()[0] == f"available: c1 {ident}"
    assert "source fresh" in message
