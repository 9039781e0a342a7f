"""``drift adopt --as-override`` / ``--into-source``: the issue's spellings of ``--as override|source``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from tests.support.driftfixtures import DEPLOY, base_files, drift, git, make_repo, push_report

REPLICAS = ("/spec/replicas", "3", "5")


def adopt(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["drift", "adopt", "eu-1", DEPLOY, *args, "--repo", str(repo)])
    return result.exit_code, result.output


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "fleet", base_files())
    for c in ("eu-1", "eu-2", "us-1"):  # the same drift everywhere: adopting into the source is allowed
        push_report(path, c, [drift(DEPLOY, REPLICAS)])
    return path


@pytest.mark.parametrize(
    ("flags", "changed_file"),
    [
        ((), "apps/web/drift-eu-1-frontend.yaml"),
        (("--as", "override"), "apps/web/drift-eu-1-frontend.yaml"),
        (("--as-override",), "apps/web/drift-eu-1-frontend.yaml"),
        (("--as", "source"), "apps/web/deployment.yaml"),
        (("--into-source",), "apps/web/deployment.yaml"),
        (("--into-source", "--as", "source"), "apps/web/deployment.yaml"),
    ],
    ids=[
        "default",
        "as-override-long",
        "as-override",
        "as-source-long",
        "into-source",
        "both-spellings-agree",
    ],
)
def test_both_spellings_of_the_mode_commit_the_same_kind_of_change(
    repo: Path, flags: tuple[str, ...], changed_file: str
) -> None:
    code, out = adopt(repo, *flags)
    assert code == 0, out
    assert git(repo, "diff", "--name-only", "main", "drift/eu-1/frontend") == changed_file


@pytest.mark.parametrize(
    "flags",
    [
        ("--as-override", "--into-source"),
        ("--as", "source", "--as-override"),
        ("--as", "override", "--into-source"),
    ],
    ids=["both-aliases", "as-source-with-as-override", "as-override-with-into-source"],
)
def test_contradicting_mode_flags_are_a_usage_error_and_commit_nothing(
    repo: Path, flags: tuple[str, ...]
) -> None:
    branches = git(repo, "branch", "--list")
    code, out = adopt(repo, *flags)
    assert code == 2
    assert "contradict each other" in out
    assert git(repo, "branch", "--list") == branches
