"""A failing heartbeat is one log line a person can act on, once while it persists, not a
multi-line dump on every beat."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from agent.errors import SourceError
from agent.runner import Runner

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LOGGER = "fleetsync.agent"


class _Beating:
    """An agent whose heartbeat raises the queued errors, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)

    def heartbeat(self) -> str:
        if self.errors:
            raise self.errors.pop(0)
        return "beat"

    def heartbeat_period(self) -> float:
        return 60.0


GIT_DUMP = (
    "Cmd('git') failed due to: exit code(128)\n"
    "  cmdline: git commit-tree 4b825dc\n"
    "  stderr: 'fatal: unable to write new object: No space left on device\n"
    "'"
)


def test_a_persisting_heartbeat_failure_is_one_line_once_then_one_line_when_it_clears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    agent = _Beating(*(RuntimeError(GIT_DUMP) for _ in range(3)))
    runner = Runner(agent, interval=10, heartbeat=60, clock=lambda: NOW)  # type: ignore[arg-type]
    for _ in range(4):
        runner._beat_job()
    above_debug = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert [r.levelno for r in above_debug] == [logging.WARNING, logging.INFO]
    warning, recovered = above_debug
    assert warning.exc_info is None
    line = warning.getMessage()
    assert "\n" not in line
    assert line.startswith("heartbeat failed: RuntimeError: Cmd('git') failed due to: exit code(128)")
    assert "No space left on device" in line
    assert vars(warning)["retry_at"] == "2026-12-07T12:01:00+00:00"  # the next beat
    assert recovered.getMessage() == "heartbeat recovered"


def test_a_heartbeat_failure_whose_reason_changes_is_logged_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    agent = _Beating(
        SourceError("cannot push refs/fleet/heartbeats/c1: no answer within 30 s"),
        SourceError("cannot push refs/fleet/heartbeats/c1: no answer within 30 s"),
        SourceError("cannot push refs/fleet/heartbeats/c1: permission denied"),
    )
    runner = Runner(agent, interval=10, heartbeat=60, clock=lambda: NOW)  # type: ignore[arg-type]
    for _ in range(3):
        runner._beat_job()
    assert [r.getMessage() for r in caplog.records] == [
        "heartbeat failed: cannot push refs/fleet/heartbeats/c1: no answer within 30 s",
        "heartbeat failed: cannot push refs/fleet/heartbeats/c1: permission denied",
    ]
