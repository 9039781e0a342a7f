"""Logging is set up once for every command: level, text or JSON lines on stderr, no credentials.

What an operator relies on: `fleetsync agent run` logs like `fleetsync hub run` (it logged
nothing before), `--log-format json` gives one parseable object per line for a log collector,
and a token in a remote URL never reaches a log line, whichever part of the record carries it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync.cli.logs import LogFormat, LogLevel, mask_credentials, setup_logging

TOKEN = "ghp_s3cr3tT0ken"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"https://user:{TOKEN}@git.example.com/fleet.git", "https://***@git.example.com/fleet.git"),
        (f"https://{TOKEN}@github.com/o/r", "https://***@github.com/o/r"),
        (
            f"git fetch https://x-access-token:{TOKEN}@github.com/o/r.git main",
            "git fetch https://***@github.com/o/r.git main",
        ),
        (f"ssh://git:{TOKEN}@host:22/r and http://a:b@c/d", "ssh://***@host:22/r and http://***@c/d"),
        (f"https://bot:p@ss{TOKEN}@git.example.com/f", "https://***@git.example.com/f"),
        ("https://github.com/o/r", "https://github.com/o/r"),
        ("https://host/path@v1 and git@github.com:o/r", "https://host/path@v1 and git@github.com:o/r"),
    ],
)
def test_credentials_in_urls_are_masked_and_nothing_else(text: str, masked: str) -> None:
    assert mask_credentials(text) == masked


@pytest.mark.parametrize("fmt", list(LogFormat))
def test_no_part_of_a_record_logs_a_url_token(fmt: LogFormat, capsys: pytest.CaptureFixture[str]) -> None:
    undo = setup_logging(LogLevel.info, fmt)
    url = f"https://user:{TOKEN}@git.example.com/fleet.git"
    try:
        log = logging.getLogger("fleetsync.test")
        log.warning("fetch %s failed", url, extra={"remote": url, "refs": [url]})
        try:
            raise RuntimeError(f"git fetch {url}: exit 128")
        except RuntimeError:
            log.exception("sync failed")
    finally:
        undo()
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert "https://***@git.example.com/fleet.git" in err
    assert "RuntimeError: git fetch https://***@git.example.com" in err


def test_json_format_is_one_object_per_line_with_the_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    undo = setup_logging(LogLevel.info, LogFormat.json)
    try:
        logging.getLogger("reconciler.hub.loop").info(
            "reconciled", extra={"commit": "abc123", "written": ["r"]}
        )
        logging.getLogger("reconciler.hub.loop").debug("not at info")
    finally:
        undo()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert {k: doc[k] for k in ("level", "logger", "message", "commit", "written")} == {
        "level": "info",
        "logger": "reconciler.hub.loop",
        "message": "reconciled",
        "commit": "abc123",
        "written": ["r"],
    }
    assert doc["time"].endswith("+00:00")


def test_text_format_is_one_line_with_sorted_key_values(capsys: pytest.CaptureFixture[str]) -> None:
    undo = setup_logging(LogLevel.warning, LogFormat.text)
    try:
        logging.getLogger("fleetsync.agent").info("below the level")
        logging.getLogger("fleetsync.agent").warning(
            "cannot prune", extra={"object": "v1/ConfigMap/a/b", "attempt": 2}
        )
    finally:
        undo()
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(" WARNING fleetsync.agent: cannot prune attempt=2 object='v1/ConfigMap/a/b'")


def test_agent_run_logs_through_the_one_setup(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(
        '{"apiVersion": "v1", "kind": "Config", "current-context": "x",'
        ' "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],'
        ' "users": [{"name": "x", "user": {"token": "t"}}],'
        ' "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}'
    )
    handlers = list(logging.getLogger().handlers)
    result = CliRunner().invoke(
        app,
        [
            "--log-format",
            "json",
            "agent",
            "run",
            "--repo",
            str(tmp_path / "fleet.git"),
            "--cluster",
            "c1",
            "--kubeconfig",
            str(kubeconfig),
            "--once",
            "--state-dir",
            str(tmp_path / "s"),
        ],
    )
    assert result.exit_code == 3, result.output
    records = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert any(
        r["logger"] == "fleetsync.agent" and r["level"] == "error" and "unreachable" in r["message"]
        for r in records
    ), result.output
    assert logging.getLogger().handlers == handlers, "the command's logging setup outlived the command"


def test_log_options_are_validated_and_version_is_a_root_option() -> None:
    bad = CliRunner().invoke(app, ["--log-level", "loud", "version"])
    assert bad.exit_code == 2
    assert CliRunner().invoke(app, ["--version"]).output == CliRunner().invoke(app, ["version"]).output
