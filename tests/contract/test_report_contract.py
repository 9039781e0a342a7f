"""The report wire format (docs/formats.md §2-§3): what the agent writes, the hub reads back."""

from __future__ import annotations

import pytest

from fleetsync_contract.report import (
    Availability,
    ClusterReport,
    Condition,
    DriftType,
    Envelope,
    Health,
    Heartbeat,
    InventoryItem,
    KeptItem,
    ObjectDrift,
    ObjectResult,
    Outcome,
    PatchDetail,
    PlacementReport,
    PropertyValue,
    PruneSummary,
    ReportFormatError,
    ResourceUsage,
    SourceState,
    drift_path,
    dump_drift,
    dump_heartbeat,
    dump_report,
    parse_drift,
    parse_heartbeat,
    parse_report,
    parse_report_tree,
    report_files,
)

T = "2026-11-25T03:00:00Z"

REPORT = ClusterReport(
    cluster="prod-eu-1",
    agent_version="0.1.0",
    observed_time=T,
    applied_bundle_id="sha256:" + "a" * 64,
    applied_bundle_commit="c" * 40,
    source=SourceState(False, "cannot fetch"),
    health=Health(True, "", T),
    properties={"kubernetes-fleet.io/node-count": PropertyValue("3", T)},
    resource_usage=ResourceUsage({"cpu": "12"}, {"cpu": "11"}, {"cpu": "6"}, T),
    placements=(
        PlacementReport(
            "ClusterResourcePlacement/web",
            3,
            "sha256:" + "a" * 64,
            (Condition("Applied", "True", "AllManifestsApplied", "", T),),
            (
                ObjectResult(
                    "/ConfigMap/web/hooks",
                    "v1",
                    Outcome.APPLIED,
                    envelope=Envelope("ResourceEnvelope", "web", "e"),
                    availability=Availability.AVAILABLE,
                    available_since=T,
                ),
                ObjectResult(
                    "apps/Deployment/web/frontend",
                    "apps/v1",
                    Outcome.DRIFTED,
                    "FoundDrifts",
                    "m",
                    Availability.NOT_YET_AVAILABLE,
                    "",
                    4,
                    None,
                    "drift/ClusterResourcePlacement/web/apps/Deployment/web/frontend.yaml",
                ),
            ),
        ),
    ),
    inventory=(InventoryItem("v1", "ConfigMap", "web", "hooks", "ClusterResourcePlacement/web", "uid-1"),),
    prune=PruneSummary("", ("/ConfigMap/web/old",), (KeptItem("/Namespace//web", "KeepProtected"),)),
)

DRIFT = ObjectDrift(
    "apps/Deployment/web/frontend",
    "ClusterResourcePlacement/web",
    DriftType.DRIFT,
    T,
    T,
    7,
    (PatchDetail("/spec/replicas", "3", "5"), PatchDetail("/spec/paused", None, "true")),
)


def test_report_round_trips_byte_for_byte() -> None:
    data = dump_report(REPORT)
    assert parse_report(data) == REPORT
    assert dump_report(parse_report(data)) == data


def test_status_strings_are_quoted_so_every_yaml_reader_sees_strings() -> None:
    text = dump_report(REPORT).decode()
    assert "status: 'True'" in text or 'status: "True"' in text


def test_drift_and_heartbeat_round_trip() -> None:
    assert parse_drift(dump_drift(DRIFT)) == DRIFT
    beat = Heartbeat("prod-eu-1", T, "sha256:x", Health(False, "readyz failed", T))
    assert parse_heartbeat(dump_heartbeat(beat)) == beat


def test_drift_paths_follow_the_manifest_layout() -> None:
    assert drift_path("ClusterResourcePlacement/web", "apps/Deployment/web/frontend") == (
        "drift/ClusterResourcePlacement/web/apps/Deployment/web/frontend.yaml"
    )
    assert (
        drift_path("ResourcePlacement/ns/rp", "/Namespace//web")
        == "drift/ResourcePlacement/ns/rp/core/Namespace/_cluster/web.yaml"
    )


def test_the_hub_reads_the_whole_report_tree() -> None:
    path = drift_path(DRIFT.placement, DRIFT.identity)
    report, drifts = parse_report_tree(report_files(REPORT, {path: DRIFT}))
    assert report == REPORT and drifts == {path: DRIFT}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (b"apiVersion: fleetsync.io/v1alpha1\nkind: Bundle\n", "kind ClusterReport"),
        (b"- a list\n", "mapping"),
        (
            dump_report(REPORT).replace(b"outcome: Drifted", b"outcome: Exploded"),
            "placements[0].objects[1].outcome",
        ),
        (dump_report(REPORT).replace(b"resourceIndex: 3", b"resourceIndex: three"), "resourceIndex"),
    ],
)
def test_malformed_reports_name_the_field(text: bytes, error: str) -> None:
    with pytest.raises(ReportFormatError, match=error.replace("[", r"\[").replace("]", r"\]")):
        parse_report(text)


def test_details_are_capped_at_one_hundred() -> None:
    many = ObjectDrift(
        "/ConfigMap/a/b",
        "ClusterResourcePlacement/x",
        DriftType.DIFF,
        T,
        T,
        None,
        tuple(PatchDetail(f"/data/k{i}", "a", "b") for i in range(150)),
    )
    assert len(parse_drift(dump_drift(many)).details) == 100
