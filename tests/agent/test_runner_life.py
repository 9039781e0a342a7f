"""The agent as a service: start-up retries, one log line per failure, a line per sync, a clean stop."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.errors import Retryable
from agent.loop import SyncSummary
from agent.runner import Problems, Runner, connect, log_sync, sync_fields
from fleetsync_contract.report import Outcome
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
LOGGER = "fleetsync.agent"
DEAD = (
    '{"apiVersion": "v1", "kind": "Config", "current-context": "x",'
    ' "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],'
    ' "users": [{"name": "x", "user": {"token": "t"}}],'
    ' "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}'
)


def messages(caplog: pytest.LogCaptureFixture, level: int | None = None) -> list[str]:
    return [r.getMessage() for r in caplog.records if level is None or r.levelno == level]


def test_an_unreachable_api_server_at_start_is_retried_with_capped_jittered_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    attempts: list[int] = []
    waits: list[float] = []

    def open_client() -> str:
        attempts.append(1)
        if len(attempts) < 6:
            raise Retryable("API server unreachable: connection refused")
        return "client"

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    client = connect(open_client, wait=wait, clock=lambda: NOW, rng=random.Random(1), interval=5, cap=30)
    assert client == "client"
    assert len(waits) == 5
    assert all(0 < w <= 30 for w in waits) and max(waits) > 10  # grows, capped at 30
    assert len(set(waits)) == 5  # jittered
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once while the same failure persists, not once per attempt
    assert "connection refused" in warnings[0].getMessage()
    assert vars(warnings[0])["retry_at"].startswith("2026-11-25T03:00:")
    assert messages(caplog, logging.INFO) == ["connect recovered"]


def test_a_stop_during_the_start_up_backoff_returns_none_at_once() -> None:
    def open_client() -> str:
        raise Retryable("API server unreachable")

    assert (
        connect(open_client, wait=lambda _s: True, clock=lambda: NOW, rng=random.Random(), interval=1) is None
    )


def test_a_config_error_is_not_retried() -> None:
    def open_client() -> str:
        raise ValueError("kubeconfig x: no such context")

    with pytest.raises(ValueError, match="no such context"):
        connect(open_client, wait=lambda _s: False, clock=lambda: NOW, rng=random.Random(), interval=1)


def test_a_failure_is_logged_once_again_when_its_reason_changes_and_when_it_clears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    problems = Problems()
    problems.update({"sync": "git unreachable"}, NOW)
    problems.update({"sync": "git unreachable"}, NOW)
    problems.update({"sync": "git unreachable"}, NOW)
    problems.update({"sync": "bundle refused"}, NOW)
    problems.update({})
    problems.update({})
    assert messages(caplog) == [
        "sync failed: git unreachable",
        "sync failed: bundle refused",
        "sync recovered",
    ]


class _FailingAgent:
    def __init__(self, error: str) -> None:
        self.error = error

    def sync(self) -> SyncSummary:
        return SyncSummary("", (), None, errors=(self.error,))

    def heartbeat(self) -> str:
        return ""

    def heartbeat_period(self) -> float:
        return 60.0


def test_a_persisting_sync_failure_is_one_warning_with_the_next_retry_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    runner = Runner(_FailingAgent("cannot fetch: timeout"), interval=10, heartbeat=60, clock=lambda: NOW)  # type: ignore[arg-type]
    for _ in range(5):
        runner._sync_job()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.getMessage() for w in warnings] == ["sync error 1 failed: cannot fetch: timeout"]
    assert datetime.fromisoformat(vars(warnings[0])["retry_at"]) > NOW
    assert runner.failures == 5


def _result(outcome: Outcome, wrote: bool = False) -> Any:
    from agent.apply.manager import Result

    return Result("web", f"/ConfigMap/ns/{outcome.value}", "v1", outcome, wrote=wrote, message="why")


def test_a_sync_that_changed_something_is_one_info_line_with_counts_and_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    summary = SyncSummary(
        "bundle-1",
        (
            _result(Outcome.APPLIED, wrote=True),
            _result(Outcome.UNCHANGED),
            _result(Outcome.DRIFTED),
            _result(Outcome.FAILED_TO_APPLY),
        ),
        "c0ffee",
        deleted=("/ConfigMap/ns/old",),
        timings={"fetch": 0.25, "apply": 1.0},
    )
    log_sync(summary)
    [record] = caplog.records
    assert record.levelno == logging.INFO and record.getMessage() == "sync"
    assert sync_fields(summary) == {
        "bundle_id": "bundle-1",
        "applied": 1,
        "unchanged": 1,
        "pruned": 1,
        "failed": 1,
        "drifted": 1,
        "report_commit": "c0ffee",
        "duration_s": 1.25,
    }
    assert vars(record)["bundle_id"] == "bundle-1" and vars(record)["duration_s"] == 1.25


def test_an_idle_sync_logs_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    log_sync(SyncSummary("bundle-1", (_result(Outcome.UNCHANGED),), None))
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_an_api_error_quoting_a_secret_is_not_logged(
    sim_member: Member, hub: Hub, make_agent: AgentFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    member = sim_member
    ns = f"{member.prefix}-app"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": ns},
        "data": {"token": "c3VwZXJzZWNyZXQ="},
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    hub.publish([(placement(), namespace), (placement(), secret)])
    member.sim.faults.add(
        verb="patch",
        kind="Secret",
        name="s",
        status=422,
        message='Secret is invalid: data[token]: Invalid value: "c3VwZXJzZWNyZXQ="',
    )
    runner = Runner(make_agent(member, hub), interval=10, heartbeat=60)
    runner._sync_job()
    runner._sync_job()
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "FailedToApply" in text  # the failure is reported ...
    assert "c3VwZXJzZWNyZXQ" not in text and "supersecret" not in text  # ... without the value


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_agent_waiting_for_its_api_server_retries_and_stops_cleanly_on_a_signal(
    tmp_path: Path, signum: int
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(DEAD)
    command = [sys.executable, "-c", "from fleetsync.cli import main; main()", "agent", "run"]
    proc = subprocess.Popen(
        [
            *command,
            "--repo",
            str(tmp_path / "none.git"),
            "--cluster",
            "c1",
            "--kubeconfig",
            str(path),
            "--state-dir",
            str(tmp_path / "s"),
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "FLEETSYNC_LOG_LEVEL": "info"},
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline()]
        assert "connect failed" in lines[0] and "retry_at" in lines[0], lines  # retrying, not exited
        time.sleep(0.2)
        assert proc.poll() is None
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "urllib3" not in lines[0] + err  # its per-retry warnings would repeat what we said once


def test_a_running_agent_logs_its_sync_and_stops_with_exit_0_on_sigterm(
    sim_member: Member, hub: Hub, tmp_path: Path
) -> None:
    ns = f"{sim_member.prefix}-app"
    hub.publish([(placement(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})])
    command = [sys.executable, "-c", "from fleetsync.cli import main; main()", "agent", "run"]
    proc = subprocess.Popen(
        [
            *command,
            "--repo",
            str(hub.bare),
            "--cluster",
            hub.cluster,
            "--kubeconfig",
            str(sim_member.kubeconfig),
            "--state-dir",
            str(tmp_path / "s"),
            "--namespace",
            f"fs-{sim_member.prefix}",
            "--interval",
            "0.2",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "FLEETSYNC_LOG_LEVEL": "info"},
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline()]
        while " sync " not in lines[-1]:  # the first sync applies the namespace: one INFO line
            assert lines[-1], "".join(lines)
            lines.append(proc.stderr.readline())
        time.sleep(1.0)  # several idle passes: DEBUG only
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    text = "".join(lines) + err
    assert proc.returncode == 0, text
    assert "bundle_id=" in lines[-1] and "applied=1" in lines[-1], lines[-1]
    assert text.count(" sync ") == 1, text  # idle passes are not INFO
    assert "agent stopped" in err and "Traceback" not in text, text
