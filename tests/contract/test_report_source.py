"""The report's source state: a refused bundle says ``verified: false`` and why; a verified source
keeps the bytes reports always had."""

from __future__ import annotations

from fleetsync_contract.report import ClusterReport, SourceState, dump_report, parse_report


def test_a_refused_source_round_trips_with_its_reason_and_a_verified_one_adds_nothing() -> None:
    refused = ClusterReport(
        "c1", "0.1.0", "2026-11-25T03:00:00Z", source=SourceState(False, "m", False, "Unsigned")
    )
    text = dump_report(refused)
    assert b"verified: false" in text and b"reason: Unsigned" in text
    assert parse_report(text).source == SourceState(False, "m", False, "Unsigned")
    fresh = dump_report(
        ClusterReport("c1", "0.1.0", "2026-11-25T03:00:00Z", source=SourceState(False, "down"))
    )
    assert b"verified" not in fresh and b"reason" not in fresh
    assert parse_report(fresh).source == SourceState(False, "down", True, "")
