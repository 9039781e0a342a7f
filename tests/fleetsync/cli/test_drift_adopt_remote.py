"""``fleetsync drift adopt`` from an ordinary clone: the report branches live on the clone's
remote (the hub writes them there), so adopt reads them there without extra flags, and
``--reports origin`` names that remote as ``plan --reports-from origin`` does."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from tests.support.driftfixtures import DEPLOY, base_files, drift, git, make_repo, push_report

REPLICAS = ("/spec/replicas", "3", "5")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    hub = make_repo(tmp_path / "hub", base_files())  # the shared fleet repo: the hub writes reports there
    push_report(hub, "eu-1", [drift(DEPLOY, REPLICAS)])
    push_report(hub, "eu-2", [])
    push_report(hub, "us-1", [])
    git(tmp_path, "clone", "-q", str(hub), "clone")
    path = tmp_path / "clone"
    git(path, "config", "user.name", "Ada Lovelace")
    git(path, "config", "user.email", "ada@example.com")
    git(path, "config", "commit.gpgsign", "false")
    return path


@pytest.mark.parametrize("flags", [[], ["--reports", "origin"]], ids=["no-flags", "remote-name"])
def test_adopt_in_a_clone_reads_the_report_branches_of_its_remote(
    clone: Path, tmp_path: Path, flags: list[str]
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "drift",
            "adopt",
            "eu-1",
            DEPLOY,
            "--repo",
            str(clone),
            "--state-dir",
            str(tmp_path / "cache"),
            *flags,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "new branch drift/eu-1/frontend" in result.output
    assert (
        git(clone, "diff", "--name-only", "main", "drift/eu-1/frontend")
        == "apps/web/drift-eu-1-frontend.yaml"
    )


def test_adopt_with_reports_naming_no_remote_is_a_usage_error(clone: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["drift", "adopt", "eu-1", DEPLOY, "--repo", str(clone), "--reports", "upstream"]
    )
    assert result.exit_code == 2
    assert "--reports 'upstream': not a URL, a path or a remote of" in result.output
