"""The Git credential flags of ``hub reconcile|run`` and ``agent run``: a token file or
``FLEETSYNC_GIT_TOKEN`` lets the hub into a private host, and an unusable setting is one line,
exit 2, before anything starts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from tests.support.fleethelpers import joined_fleet
from tests.support.gitdaemon import git
from tests.support.githttp import GitHttpHost

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
TOKEN = "ghp_cli-T0ken-5b8d0e"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[GitHttpHost]:
    (tmp_path / "srv").mkdir()
    with GitHttpHost(tmp_path / "srv", "x-access-token", TOKEN) as h:
        bare = h.create("fleet.git")
        work = joined_fleet(tmp_path / "fleet", NOW)
        git(work.path, "push", "-q", str(bare), "main")
        yield h


def reconcile(
    host: GitHttpHost, tmp_path: Path, *flags: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    args = [
        "hub",
        "reconcile",
        "--repo",
        host.url("fleet.git"),
        "--state-dir",
        str(tmp_path / "state"),
        *flags,
    ]
    result = CliRunner().invoke(app, args, env=env)
    # an error no command caught is printed by fleetsync.cli.main, which CliRunner does not run
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def test_hub_reconcile_reads_the_token_file_and_never_prints_the_token(
    host: GitHttpHost, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text(TOKEN)
    code, output = reconcile(host, tmp_path, "--git-token-file", str(tmp_path / "token"))
    assert code == 0, output
    assert git(host.root / "fleet.git", "rev-parse", "--verify", "refs/heads/fleet/status")
    assert TOKEN not in output


def test_get_reads_status_from_a_private_host_with_the_token_file(host: GitHttpHost, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN)
    assert reconcile(host, tmp_path, "--git-token-file", str(tmp_path / "token"))[0] == 0
    args = [
        "get",
        "placements",
        "-o",
        "json",
        "--repo",
        host.url("fleet.git"),
        "--state-dir",
        str(tmp_path / "get"),
    ]
    result = CliRunner().invoke(app, [*args, "--git-token-file", str(tmp_path / "token")])
    assert result.exit_code == 0, result.output
    assert '"web"' in result.output and TOKEN not in result.output


def test_hub_reconcile_takes_the_token_from_the_environment(host: GitHttpHost, tmp_path: Path) -> None:
    code, output = reconcile(host, tmp_path, env={"FLEETSYNC_GIT_TOKEN": TOKEN})
    assert code == 0, output
    assert TOKEN not in output


def test_hub_reconcile_without_a_token_fails_and_says_where_to_look(
    host: GitHttpHost, tmp_path: Path
) -> None:
    code, output = reconcile(host, tmp_path, env={"FLEETSYNC_GIT_TOKEN": None})  # type: ignore[dict-item]
    assert code != 0
    assert "docs/operations.md" in output


@pytest.mark.parametrize(
    "command",
    [
        ["hub", "reconcile", "--repo", "https://git.example.com/fleet.git"],
        ["hub", "run", "--repo", "https://git.example.com/fleet.git"],
        ["agent", "run", "--repo", "git@git.example.com:fleet.git", "--cluster", "c1"],
        ["get", "placements", "--repo", "https://git.example.com/fleet.git"],
        ["drift", "list", "--repo", "https://git.example.com/fleet.git"],
    ],
)
@pytest.mark.parametrize("flag", ["--git-ssh-key-file", "--git-known-hosts-file", "--git-token-file"])
def test_a_missing_credential_file_is_a_one_line_usage_error(
    command: list[str], flag: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no such key"
    result = CliRunner().invoke(app, [*command, flag, str(missing), "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {flag} {missing}: No such file or directory\n"
