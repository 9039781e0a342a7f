"""Config errors are one line and exit 2; the agent's log records never carry URL credentials."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.loop import SyncSummary
from agent.runner import Runner
from fleetsync.cli.logs import LogFormat, LogLevel, setup_logging

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def _agent_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from fleetsync.cli import main; main()", "agent", "run"]
    return subprocess.run(
        [
            *command,
            "--repo",
            str(tmp_path / "none.git"),
            "--cluster",
            "c1",
            "--state-dir",
            str(tmp_path / "s"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


DEAD = (
    '{"apiVersion": "v1", "kind": "Config", "current-context": "x",'
    ' "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],'
    ' "users": [{"name": "x", "user": {"token": "t"}}],'
    ' "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}'
)


@pytest.mark.parametrize(
    ("content", "context", "expected"),
    [
        (None, None, "No configuration found"),
        ("garbage: [", None, "while parsing"),
        (DEAD, "nope", "nope"),
    ],
    ids=["missing", "garbage", "unknown-context"],
)
@pytest.mark.parametrize("once", [True, False], ids=["once", "service"])
def test_a_bad_kubeconfig_is_one_line_and_exit_2(
    tmp_path: Path, content: str | None, context: str | None, expected: str, once: bool
) -> None:
    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)
    args = [
        "--kubeconfig",
        str(path),
        *(["--context", context] if context else []),
        *(["--once"] if once else []),
    ]
    result = _agent_cli(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: kubeconfig "), result.stderr
    assert expected in lines[0]


@pytest.mark.parametrize("content", [None, "garbage: ["], ids=["missing", "garbage"])
def test_demo_with_a_bad_kubeconfig_is_one_line_and_exit_2_before_anything_starts(
    tmp_path: Path, content: str | None
) -> None:
    from typer.testing import CliRunner

    from fleetsync.cli import app

    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(app, ["demo", "--kubeconfig", str(path), "--map", "dev-eu-1=kind"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith(f"error: kubeconfig {path} context 'kind': ")


class _Agent:
    def __init__(self, error: str) -> None:
        self.error = error

    def sync(self) -> SyncSummary:
        return SyncSummary("", (), None, errors=(self.error,))

    def heartbeat(self) -> str:
        raise RuntimeError(self.error)

    def heartbeat_period(self) -> float:
        return 60.0


@pytest.mark.parametrize("fmt", [LogFormat.text, LogFormat.json])
def test_a_git_error_quoting_a_url_with_a_token_is_logged_without_it(
    capsys: pytest.CaptureFixture[str], fmt: LogFormat
) -> None:
    error = "git fetch https://bot:ghp_s3cr3t@git.example.com/fleet.git failed: 502"
    undo = setup_logging(LogLevel.debug, fmt)
    try:
        runner = Runner(_Agent(error), interval=10, heartbeat=60, clock=lambda: NOW)  # type: ignore[arg-type]
        runner._sync_job()
        runner._beat_job()
    finally:
        undo()
    err = capsys.readouterr().err
    assert "git.example.com/fleet.git failed: 502" in err
    assert "ghp_s3cr3t" not in err and "bot:" not in err
    assert "https://***@git.example.com" in err
    assert logging.getLogger("urllib3").level == logging.NOTSET  # the undo restored it
