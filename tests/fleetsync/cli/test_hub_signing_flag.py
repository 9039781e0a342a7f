"""``hub reconcile|run --signing-key-file``: the hub's commits are signed, a bad key is a usage error."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync.cli.conventions import exit_code_for
from tests.support.fleethelpers import joined_fleet
from tests.support.sshkeys import allowed_signers, make_key

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_hub_reconcile_with_a_signing_key_writes_commits_git_verifies(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys", "hub")
    work = joined_fleet(tmp_path / "fleet", datetime.now(UTC))  # the CLI's clock: members beat now
    result = CliRunner().invoke(
        app, ["hub", "reconcile", "--repo", str(work.path), "--signing-key-file", str(key)]
    )
    assert result.exit_code == 0, result.output
    signers = allowed_signers(tmp_path / "signers", key)
    for ref in ("fleet/bundles/eu-1", "fleet/status"):
        done = subprocess.run(
            ["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", ref],
            cwd=work.path,
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr


def test_hub_with_a_key_it_cannot_use_stops_before_touching_git(tmp_path: Path) -> None:
    work = joined_fleet(tmp_path / "fleet", NOW)
    (tmp_path / "key").write_text("not a key\n")
    for command in ("reconcile", "run"):
        result = CliRunner().invoke(
            app, ["hub", command, "--repo", str(work.path), "--signing-key-file", str(tmp_path / "key")]
        )
        assert result.exception is not None and exit_code_for(result.exception) == 2
        assert "not an OpenSSH private key" in str(result.exception)
    assert (
        "fleet/status"
        not in subprocess.run(
            ["git", "for-each-ref"], cwd=work.path, capture_output=True, text=True, check=True
        ).stdout
    )
