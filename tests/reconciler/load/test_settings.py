"""fleetsync.yaml: every setting optional with a default; bad values are located findings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.load.settings import DEFAULT_SETTINGS, Settings, parse_duration, read_settings


def test_an_absent_or_empty_file_means_every_default() -> None:
    settings, findings = read_settings(b"")
    assert settings == DEFAULT_SETTINGS == Settings()
    assert findings == ()
    assert settings.policies is None  # every shipped policy
    assert (settings.heartbeat_timeout, settings.prune_max_share) == (timedelta(minutes=5), 0.5)


def test_every_setting_is_read() -> None:
    text = b"""apiVersion: fleetsync.io/v1alpha1
kind: FleetSettings
include: ['fleet/**']
exclude: ['**/drafts/**']
policies: [no-latest-tag, require-limits]
heartbeatTimeout: 2m30s
unhealthyWindow: 90s
pruneMaxShare: 0.25
"""
    settings, findings = read_settings(text)
    assert findings == ()
    assert settings == Settings(
        include=("fleet/**",),
        exclude=("**/drafts/**",),
        policies=("no-latest-tag", "require-limits"),
        heartbeat_timeout=timedelta(minutes=2, seconds=30),
        unhealthy_window=timedelta(seconds=90),
        prune_max_share=0.25,
    )


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("heartbeatTimeout: 5 minutes\n", 1, "heartbeatTimeout", "not a duration"),
        ("heartbeatTimeout: 10s\n", 1, "heartbeatTimeout", "between 30s and 1h"),
        ("pruneMaxShare: 2\n", 1, "pruneMaxShare", "from 0 to 1"),
        ("hubRefPrefix: fleet/\n", 1, "hubRefPrefix", "unknown field"),
        ("bundleRemote: --upload-pack=touch /tmp/x\n", 1, "bundleRemote", "unknown field"),
        ("include: ['/etc/**']\n", 1, "include[0]", "repo-relative"),
        ("exclude: ['../x']\n", 1, "exclude[0]", "repo-relative"),
        ("policies: [Bad_Name]\n", 1, "policies[0]", "policy name"),
        ("include: []\nheartbeatTimeot: 1m\n", 2, "heartbeatTimeot", "did you mean"),
        ("kind: Settings\n", 1, "kind", "FleetSettings"),
        ("x: !!python/name:os.system\n", 1, "x", "YAML tag"),
    ],
)
def test_a_bad_setting_is_a_located_finding_and_keeps_its_default(
    text: str, line: int, field: str, message: str
) -> None:
    settings, findings = read_settings(text.encode())
    assert [(f.file, f.line, f.field) for f in findings][:1] == [("fleetsync.yaml", line, field)]
    assert message in findings[0].message
    assert (settings.heartbeat_timeout, settings.prune_max_share) == (
        DEFAULT_SETTINGS.heartbeat_timeout,
        DEFAULT_SETTINGS.prune_max_share,
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("45s", 45), ("", None), ("5", None), ("1d", None)]
)
def test_durations_use_go_style_units(text: str, seconds: int | None) -> None:
    value = parse_duration(text)
    assert (None if value is None else value.total_seconds()) == seconds
