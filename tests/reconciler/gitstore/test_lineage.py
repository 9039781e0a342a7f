"""Which commit of the fleet branch's first-parent line brought a commit in (the PR merge)."""

from __future__ import annotations

from pathlib import Path

from reconciler.gitstore.lineage import landing, signer_of
from reconciler.gitstore.repo import HubRepo
from tests.support.gitdaemon import git


def commit(work: Path, name: str) -> str:
    (work / name).write_text(name)
    git(work, "add", name)
    git(work, "commit", "-qm", name)
    return git(work, "rev-parse", "HEAD")


def test_landing_is_the_merge_for_a_pr_commit_and_the_commit_itself_on_the_line(tmp_path: Path) -> None:
    work = tmp_path / "fleet"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    base = commit(work, "base")
    git(work, "checkout", "-q", "-b", "pr")
    f1, f2 = commit(work, "f1"), commit(work, "f2")
    git(work, "checkout", "-q", "main")
    git(work, "merge", "-q", "--no-ff", "pr", "-m", "Merge pull request #1")
    merge = git(work, "rev-parse", "HEAD")
    direct = commit(work, "direct")
    git(work, "checkout", "-q", "--orphan", "other")
    stray = commit(work, "stray")
    with HubRepo.local(work) as repo:
        for pr_commit in (f1, f2):
            hit = landing(repo, pr_commit, direct)
            assert hit is not None and hit.commit == merge and len(hit.parents) == 2
        assert [landing(repo, c, direct) for c in (merge, direct, base)] != [None] * 3
        assert all(landing(repo, c, direct).commit == c for c in (merge, direct, base))  # type: ignore[union-attr]
        assert landing(repo, stray, direct) is None
        assert signer_of(repo, direct) == "unsigned"
