"""``fleetsync template update``: a fork of fleet-repo-template takes a new release as a branch.

Real git throughout: a "template source" repository holds this tree's fleet-repo-template/ at two
release tags (v0.1.0, then a change, v0.2.0); the fork is made from the v0.1.0 split as
docs/forking.md says, deletes an example, edits a placement and its CI source pin. What a fork's
owner relies on: the update lands on a new branch with the forking table applied (their
directories stay theirs, a deleted example stays deleted, CI is upstream's with their pins), the
version is recorded, a conflict the table does not answer is listed and left resolvable, and a
version that is not a release is refused before anything changes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync.cli.template import Resolution, decide, with_pins
from tests.support.gitdaemon import git, git_identity

ROOT = Path(__file__).resolve().parents[3]
MIRROR = '"https://git.internal.example/mirror/fleetsync"'


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """fleetsync's repository in miniature: the template under fleet-repo-template/ at v0.1.0 and v0.2.0."""
    src = tmp_path / "fleetsync"
    shutil.copytree(ROOT / "fleet-repo-template", src / "fleet-repo-template")
    (src / "pyproject.toml").write_text("[project]\nname = 'fleetsync'\n")
    git(src, "init", "-q", "-b", "main")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "template v0.1.0")
    git(src, "tag", "v0.1.0")
    tpl = src / "fleet-repo-template"
    edit(tpl / "README.md", "\n", "\n\nUpstream's new paragraph.\n")
    edit(tpl / "clusters" / "dev-eu-1.yaml", "environment: development", "environment: dev")
    edit(tpl / "placements" / "monitoring.yaml", "      - prod-us-1", "      - gpu-us-1")
    ci = tpl / ".gitlab-ci.yml"
    edit(ci, 'FLEETSYNC_VERSION: "0.1.0"', 'FLEETSYNC_VERSION: "0.2.0"')
    edit(ci, 'KUBECTL_VERSION: "v1.32.0"', 'KUBECTL_VERSION: "v1.33.0"')
    (tpl / "docs-new.md").write_text("A file new in v0.2.0.\n")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "template v0.2.0")
    git(src, "tag", "v0.2.0")
    return src


@pytest.fixture
def fork(tmp_path: Path, source: Path) -> Path:
    """A fork made as docs/forking.md says, at v0.1.0, with the owner's own changes committed."""
    git(source, "subtree", "split", "-q", "--prefix=fleet-repo-template", "-b", "template", "v0.1.0")
    work = tmp_path / "my-fleet"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git_identity(work)
    git(work, "remote", "add", "upstream", str(source))
    git(work, "fetch", "-q", "upstream", "template")
    git(work, "merge", "-q", "upstream/template")
    (work / ".fleetsync").mkdir()
    (work / ".fleetsync" / "template-version").write_text("v0.1.0\n")
    git(work, "rm", "-q", "clusters/dev-eu-1.yaml")
    edit(work / "placements" / "monitoring.yaml", "      - prod-us-1", "      - prod-us-2")
    edit(work / ".gitlab-ci.yml", '"https://github.com/example/fleetsync"', MIRROR)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "our fleet")
    return work


def update(fork: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["template", "update", "--dir", str(fork), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def show(fork: Path, rev: str, path: str) -> str:
    return git(fork, "show", f"{rev}:{path}")


def test_a_fork_with_local_changes_gets_a_clean_update_on_a_new_branch(fork: Path) -> None:
    main = git(fork, "rev-parse", "main")
    code, out, err = update(fork, "--to", "v0.2.0")
    assert code == 0, out + err
    branch = "template-update-v0.2.0"
    assert git(fork, "branch", "--show-current") == branch
    assert git(fork, "rev-parse", "main") == main  # main is untouched: the branch is for a PR
    assert git(fork, "rev-list", "--parents", "-n1", branch).count(" ") == 2  # a merge commit
    assert show(fork, branch, ".fleetsync/template-version") == "v0.2.0"
    assert "Upstream's new paragraph." in show(fork, branch, "README.md")  # upstream's change arrives
    assert show(fork, branch, "docs-new.md") == "A file new in v0.2.0."
    # the forking table: a deleted example stays deleted, a placement of yours stays yours
    assert subprocess.run(
        ["git", "-C", str(fork), "cat-file", "-e", f"{branch}:clusters/dev-eu-1.yaml"], capture_output=True
    ).returncode
    assert "      - prod-us-2" in show(fork, branch, "placements/monitoring.yaml")
    # CI: upstream's file with your source pin; the release pin you had left is upstream's new one
    ci = show(fork, branch, ".gitlab-ci.yml")
    assert f"FLEETSYNC_SOURCE: {MIRROR}" in ci
    assert 'FLEETSYNC_VERSION: "0.2.0"' in ci and 'KUBECTL_VERSION: "v1.33.0"' in ci
    assert git(fork, "status", "--porcelain") == ""
    assert "kept your deletion: clusters/dev-eu-1.yaml" in out
    assert "kept yours: placements/monitoring.yaml" in out
    assert "git push -u origin template-update-v0.2.0" in out and "fleetsync plan" in out
    assert "Update fleet-repo-template v0.1.0 -> v0.2.0" in git(fork, "log", "-1", "--format=%B")


def test_a_conflict_the_table_does_not_answer_is_listed_and_left_resolvable(fork: Path, source: Path) -> None:
    edit(fork / "fleetsync.yaml", "pruneMaxShare: 0.5", "pruneMaxShare: 0.3")
    git(fork, "commit", "-q", "-am", "prune less")
    tpl = source / "fleet-repo-template"
    edit(tpl / "fleetsync.yaml", "pruneMaxShare: 0.5", "pruneMaxShare: 0.4")
    git(source, "commit", "-q", "-am", "v0.3.0")
    git(source, "tag", "v0.3.0")
    code, out, _ = update(fork, "--to", "v0.3.0", "--branch", "take-v0.3.0")
    assert code == 1
    assert "CONFLICT, left for you: fleetsync.yaml" in out
    assert "kept yours: placements/monitoring.yaml" in out
    assert git(fork, "branch", "--show-current") == "take-v0.3.0"
    assert git(fork, "diff", "--name-only", "--diff-filter=U") == "fleetsync.yaml"  # only that one
    git(fork, "checkout", "--ours", "fleetsync.yaml")  # a person resolves it ...
    git(fork, "add", "fleetsync.yaml")
    git(fork, "commit", "-q", "--no-edit")  # ... and the merge concludes with the version recorded
    assert show(fork, "HEAD", ".fleetsync/template-version") == "v0.3.0"
    assert "Update fleet-repo-template v0.1.0 -> v0.3.0" in git(fork, "log", "-1", "--format=%B")
    assert show(fork, "HEAD^2", "fleetsync.yaml") == show(fork, "HEAD", "fleetsync.yaml").replace(
        "0.3", "0.4"
    )


@pytest.mark.parametrize("version", ["latest", "v2", "0.2.0", "v0.2.0-rc1", "--help"])
def test_a_version_that_is_not_a_release_tag_is_a_usage_error(fork: Path, version: str) -> None:
    head = git(fork, "rev-parse", "HEAD")
    code, _, err = update(fork, f"--to={version}")
    assert code == 2 and "release tag" in err
    assert git(fork, "rev-parse", "HEAD") == head and git(fork, "branch", "--list") == "* main"


def test_a_release_the_template_repo_does_not_have_is_a_usage_error(fork: Path) -> None:
    code, _, err = update(fork, "--to", "v9.9.9")
    assert code == 2 and "no tag v9.9.9" in err
    assert git(fork, "branch", "--list") == "* main"


def test_a_downgrade_a_dirty_fork_and_an_existing_branch_are_refused(fork: Path) -> None:
    (fork / ".fleetsync" / "template-version").write_text("v0.2.0\n")
    git(fork, "commit", "-q", "-am", "say v0.2.0")
    assert update(fork, "--to", "v0.1.0")[0] == 2
    assert update(fork, "--to", "v0.2.0")[0] == 0  # recorded: nothing to do
    edit(fork / "fleetsync.yaml", "pruneMaxShare: 0.5", "pruneMaxShare: 0.3")
    assert "uncommitted" in update(fork, "--to", "v0.2.0")[2]
    git(fork, "checkout", "-q", "--", "fleetsync.yaml")
    git(fork, "branch", "template-update-v0.3.0")
    assert "exists" in update(fork, "--to", "v0.3.0")[2]


def test_the_template_source_is_named_or_the_upstream_remote(fork: Path, source: Path) -> None:
    git(fork, "remote", "remove", "upstream")
    code, _, err = update(fork, "--to", "v0.2.0")
    assert code == 2 and "--template-repo" in err
    assert update(fork, "--to", "v0.2.0", "--template-repo", str(source))[0] == 0


@pytest.mark.parametrize(
    ("path", "stages", "expected"),
    [
        ("clusters/prod-eu-1.yaml", {1, 3}, Resolution.keep_deletion),
        ("placements/web.yaml", {1, 2, 3}, Resolution.ours),
        ("apps/web/base/deployment.yaml", {2, 3}, Resolution.ours),
        ("rollouts/strategy.yaml", {1, 2}, Resolution.ours),
        (".gitlab-ci.yml", {1, 2, 3}, Resolution.theirs_with_pins),
        (".github/workflows/fleetsync.yaml", {1, 2, 3}, Resolution.theirs_with_pins),
        (".gitlab-ci.yml", {1, 3}, Resolution.person),
        ("fleetsync.yaml", {1, 2, 3}, Resolution.person),
        ("README.md", {1, 2, 3}, Resolution.person),
        ("clustersx/a.yaml", {1, 2, 3}, Resolution.person),
    ],
)
def test_the_forking_table_decides_each_conflict(path: str, stages: set[int], expected: Resolution) -> None:
    assert decide(path, frozenset(stages)) is expected


def test_ci_files_keep_your_pins_unless_you_changed_more() -> None:
    base = b'a: 1\n  FLEETSYNC_VERSION: "0.1.0"\n  FLEETSYNC_SOURCE: "up"\n'
    theirs = b'a: 2\n  FLEETSYNC_VERSION: "0.2.0"\n  FLEETSYNC_SOURCE: "up"\n'
    ours = b'a: 1\n  FLEETSYNC_VERSION: "0.1.5"\n  FLEETSYNC_SOURCE: "mine"\n'
    assert (
        with_pins(base, ours, theirs) == b'a: 2\n  FLEETSYNC_VERSION: "0.1.5"\n  FLEETSYNC_SOURCE: "mine"\n'
    )
    assert with_pins(base, ours + b"extra: yes\n", theirs) is None


def test_a_fork_that_records_no_version_updates_from_its_history_and_records_one(fork: Path) -> None:
    git(fork, "rm", "-q", ".fleetsync/template-version")
    git(fork, "commit", "-q", "-m", "forget the version")
    code, out, _ = update(fork, "--to", "v0.2.0")
    assert code == 0 and "(unrecorded) -> v0.2.0" in out
    assert show(fork, "HEAD", ".fleetsync/template-version") == "v0.2.0"


def test_a_copy_without_the_templates_history_is_told_how_to_fork(tmp_path: Path, source: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "fleet-repo-template", copy)
    git(copy, "init", "-q", "-b", "main")
    git_identity(copy)
    (copy / ".fleetsync").mkdir()
    (copy / ".fleetsync" / "template-version").write_text("v0.1.0\n")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "copied")
    code, _, err = update(copy, "--to", "v0.2.0", "--template-repo", str(source))
    assert code == 2 and "docs/forking.md" in err
    assert git(copy, "branch", "--list") == "* main"
