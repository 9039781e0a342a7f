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


def test_the_signer_is_judged_by_the_allowed_signers_file_the_commit_came_after(tmp_path: Path) -> None:
    from tests.support.signingfixtures import Fleet

    fleet = Fleet(tmp_path)  # fleetsync.yaml names .fleetsync/allowed_signers, which lists ada only
    by_ada, by_eve = fleet.commit("ada", "ada's change"), fleet.commit("eve", "eve's change")
    unsigned = fleet.commit(None, "unsigned change")
    fleet.write(".fleetsync/allowed_signers", fleet.keys["ada"][1] + fleet.keys["eve"][1])
    listed = fleet.commit("ada", "eve becomes an allowed signer")
    eve_listed = fleet.commit("eve", "eve's second change")
    with HubRepo.local(fleet.path) as repo:
        assert signer_of(repo, by_ada).startswith("ada SHA256:") and signer_of(repo, by_ada).endswith(
            " (good)"
        )
        assert signer_of(repo, by_eve).endswith(" (not an allowed signer)")
        assert signer_of(repo, by_eve).startswith("SHA256:")  # no principal for a key the file lacks
        assert signer_of(repo, unsigned) == "unsigned"
        assert signer_of(repo, listed).startswith("ada ")
        assert signer_of(repo, eve_listed).startswith("eve SHA256:")


def test_a_commit_that_lists_its_own_signer_is_not_called_good(tmp_path: Path) -> None:
    """As the hub's strict walk: a key becomes trusted only from the commit after the one adding it."""
    from tests.support.signingfixtures import Fleet

    fleet = Fleet(tmp_path)  # the allowed-signers file lists ada only
    fleet.write(".fleetsync/allowed_signers", fleet.keys["ada"][1] + fleet.keys["eve"][1])
    self_listed = fleet.commit("eve", "eve adds herself to the allowed signers")
    with HubRepo.local(fleet.path) as repo:
        assert signer_of(repo, self_listed).endswith(" (not an allowed signer)")
