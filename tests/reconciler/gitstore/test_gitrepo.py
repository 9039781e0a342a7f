"""The hub's Git door: reads without checkouts, writes without a work tree, one atomic ref update."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.errors import UserError
from reconciler.gitstore.refs import GitFailure, RefRace, RefUpdate, check_ref_component, is_url
from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.trees import Skipped
from reconciler.gitstore.worktree import WorkTree
from reconciler.hub.inputs import LoadCache
from tests.support.gitdaemon import GitDaemon, git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
STATUS = "refs/heads/fleet/status"
BUNDLE_A = "refs/heads/fleet/bundles/a"
BUNDLE_B = "refs/heads/fleet/bundles/b"


def commit_files(work: Path, files: dict[str, str], message: str = "change") -> str:
    for name, text in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-qm", message)
    return git(work, "rev-parse", "HEAD")


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    work = tmp_path / "fleet"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    commit_files(work, {"clusters/a.yaml": "kind: MemberCluster\n"})
    return work


def publish_files(
    repo: HubRepo, files: dict[str, dict[str, bytes]], olds: Mapping[str, str | None]
) -> dict[str, str]:
    news = {ref: repo.write_commit(repo.write_tree(f), [], f"write {ref}", NOW) for ref, f in files.items()}
    repo.publish([RefUpdate(ref, new, olds.get(ref)) for ref, new in news.items()])
    return news


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("prod-eu-1", True),
        ("member.example.com", True),
        ("-delete", False),
        (".hidden", False),
        ("a..b", False),
        ("x.lock", False),
        ("a/b", False),
        ("a b", False),
        ("", False),
        ("HEAD~1", False),
    ],
)
def test_only_safe_names_become_ref_components(name: str, ok: bool) -> None:
    if ok:
        assert check_ref_component(name) == name
    else:
        with pytest.raises(UserError):
            check_ref_component(name)


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("git://h/r.git", True),
        ("https://h/r", True),
        ("git@host:org/r.git", True),
        ("/srv/r.git", False),
        ("relative/dir", False),
        ("C:/x", False),
    ],
)
def test_urls_and_local_paths_are_told_apart(location: str, url: bool) -> None:
    assert is_url(location) is url


def test_written_trees_are_what_git_itself_would_write(fleet: Path) -> None:
    files = {"a.yaml": b"1\n", "a/b.yaml": b"2\n", "a-b.yaml": b"3\n", "z/y/x.yaml": b"4\n", "a.b": b"5\n"}
    with HubRepo.local(fleet) as repo:
        tree = repo.write_tree(files)
        git(fleet, "fsck", "--strict", "--no-dangling")
        listed = git(fleet, "ls-tree", "-r", "--name-only", tree).splitlines()
        assert sorted(listed) == sorted(files)
        new = repo.write_commit(tree, [], "bundle", NOW)
        assert new == repo.write_commit(tree, [], "bundle", NOW)  # same inputs, same commit
        assert repo.read_files(new) == files
        assert repo.read_files(new, "a") == {"a/b.yaml": b"2\n"}  # paths stay repo-relative
        assert repo.read_file(new, "z/y/x.yaml") == b"4\n"
        assert repo.read_file(new, "missing.yaml") is None


def test_local_publish_moves_every_ref_in_one_transaction(fleet: Path) -> None:
    with HubRepo.local(fleet) as repo:
        news = publish_files(repo, {STATUS: {"status.yaml": b"a\n"}, BUNDLE_A: {"bundle.yaml": b"a\n"}}, {})
        assert repo.hub_refs() == news


def test_local_publish_moves_nothing_when_one_ref_moved_meanwhile(fleet: Path) -> None:
    with HubRepo.local(fleet) as repo:
        first = publish_files(repo, {STATUS: {"s": b"1"}, BUNDLE_A: {"b": b"1"}}, {})
        other = repo.write_commit(repo.write_tree({"s": b"other hub"}), [], "other", NOW)
        repo.publish([RefUpdate(STATUS, other, first[STATUS])])  # another hub wins the race
        with pytest.raises(RefRace) as race:
            publish_files(repo, {STATUS: {"s": b"2"}, BUNDLE_A: {"b": b"2"}, BUNDLE_B: {"b": b"2"}}, first)
        assert race.value.refs == (STATUS,)
        assert repo.hub_refs() == {STATUS: other, BUNDLE_A: first[BUNDLE_A]}


def test_creating_a_ref_that_another_writer_created_is_a_race(fleet: Path) -> None:
    with HubRepo.local(fleet) as repo:
        publish_files(repo, {BUNDLE_A: {"b": b"mine"}}, {})
        with pytest.raises(RefRace):
            publish_files(repo, {BUNDLE_A: {"b": b"theirs"}}, {BUNDLE_A: None})


def test_the_hub_refuses_to_write_refs_outside_its_namespace(fleet: Path) -> None:
    with HubRepo.local(fleet) as repo:
        new = repo.write_commit(repo.write_tree({"x": b"1"}), [], "x", NOW)
        with pytest.raises(ValueError, match="only its own refs"):
            repo.publish([RefUpdate("refs/heads/main", new, None)])
        with pytest.raises(UserError):
            repo.publish([RefUpdate("refs/heads/fleet/bundles/--upload-pack=x", new, None)])


def test_objects_written_without_a_ref_update_change_nothing_visible(fleet: Path) -> None:
    with HubRepo.local(fleet) as repo:
        first = publish_files(repo, {STATUS: {"s": b"1"}}, {})
        repo.write_commit(repo.write_tree({"s": b"half-written"}), [first[STATUS]], "crashed", NOW)
        assert repo.hub_refs() == first
        assert repo.read_files(first[STATUS]) == {"s": b"1"}


def test_export_writes_regular_files_and_leaves_out_symlinks(fleet: Path, tmp_path: Path) -> None:
    os.symlink("/etc/passwd", fleet / "leak.yaml")
    head = commit_files(fleet, {"apps/web.yaml": "kind: ConfigMap\n"})
    out = tmp_path / "export"
    with HubRepo.local(fleet) as repo:
        skipped = repo.export(head, out)
    assert skipped == [Skipped("leak.yaml", "symbolic link")]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "apps/web.yaml",
        "clusters/a.yaml",
    ]


def test_export_refuses_a_commit_larger_than_the_bound(fleet: Path, tmp_path: Path) -> None:
    head = commit_files(fleet, {"big.yaml": "x" * 2048})
    with HubRepo.local(fleet) as repo, pytest.raises(UserError, match="larger than the hub reads"):
        repo.export(head, tmp_path / "export", max_bytes=1024)


def test_remote_publish_is_atomic_and_a_stale_hub_loses_the_race(
    git_daemon: GitDaemon, tmp_path: Path
) -> None:
    bare = git_daemon.create("fleet.git")
    work = tmp_path / "w"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    git(work, "checkout", "-q", "-b", "main")
    head = commit_files(work, {"x.yaml": "a: 1\n"})
    git(work, "push", "-q", "origin", "main")
    url = git_daemon.url("fleet.git")
    with HubRepo.cached(tmp_path / "hub1", url) as one, HubRepo.cached(tmp_path / "hub2", url) as two:
        one.refresh()
        two.refresh()
        assert one.source_commit() == head
        first = publish_files(one, {STATUS: {"s": b"1"}, BUNDLE_A: {"b": b"1"}}, {})
        assert git(bare, "rev-parse", STATUS, BUNDLE_A).split() == [first[STATUS], first[BUNDLE_A]]
        with pytest.raises(RefRace) as race:  # two has not seen one's update
            publish_files(two, {STATUS: {"s": b"2"}, BUNDLE_B: {"b": b"2"}}, {})
        assert race.value.refs == (STATUS,)
        assert "fleet/bundles/b" not in git(bare, "for-each-ref")
        two.refresh()  # the loser re-reads, then its update goes through
        assert two.hub_refs() == first
        second = publish_files(two, {STATUS: {"s": b"2"}, BUNDLE_B: {"b": b"2"}}, first)
        one.refresh()
        assert one.hub_refs() == {**first, **second}


def test_refresh_follows_a_force_pushed_fleet_branch_and_reads_heartbeats(
    git_daemon: GitDaemon, tmp_path: Path
) -> None:
    bare = git_daemon.create("fleet.git")
    work = tmp_path / "w"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    git(work, "checkout", "-q", "-b", "main")
    commit_files(work, {"x.yaml": "a: 1\n"})
    git(work, "push", "-q", "origin", "main")
    beat = commit_files(work, {"heartbeat.yaml": "time: now\n"})
    git(work, "push", "-q", "origin", f"{beat}:refs/fleet/heartbeats/a")
    with HubRepo.cached(tmp_path / "hub", git_daemon.url("fleet.git")) as repo:
        repo.refresh()
        assert repo.hub_refs() == {"refs/fleet/heartbeats/a": beat}
        git(work, "checkout", "-q", "--orphan", "rewritten")
        rewritten = commit_files(work, {"y.yaml": "b: 2\n"}, "rewrite")
        git(work, "push", "-qf", "origin", "rewritten:main")
        repo.refresh()
        assert repo.source_commit() == rewritten
        assert repo.read_file(rewritten, "y.yaml") == b"b: 2\n"


def test_an_unreachable_remote_is_a_transient_failure(tmp_path: Path) -> None:
    with HubRepo.cached(tmp_path / "hub", "git://127.0.0.1:1/nothing.git") as repo, pytest.raises(GitFailure):
        repo.refresh()


def test_a_failed_fetch_says_gits_reason_and_the_fix_in_one_line(
    tmp_path: Path, git_daemon: GitDaemon
) -> None:
    """Not gitpython's last line (a lone quote): git's own fatal line, then what to do."""
    with (
        HubRepo.cached(tmp_path / "hub", git_daemon.url("no-such-fleet.git")) as repo,
        pytest.raises(GitFailure) as failed,
    ):
        repo.refresh()
    message = str(failed.value)
    assert "\n" not in message
    assert "no-such-fleet.git" in message
    assert message.endswith("(check --repo: it must name the fleet repo)"), message


def test_a_skipped_path_with_a_colon_is_named_whole_in_the_warning(fleet: Path) -> None:
    (fleet / "team:a").mkdir()
    os.symlink("/etc/passwd", fleet / "team:a" / "leak: yes.yaml")
    head = commit_files(fleet, {"apps/web.yaml": "kind: ConfigMap\n"})
    with HubRepo.local(fleet) as repo:
        notes = LoadCache().load(repo, head).notes
    assert [(n.file, n.message, n.severity) for n in notes] == [
        ("team:a/leak: yes.yaml", "not read: symbolic link", "warning"),
    ]


@pytest.mark.parametrize(
    "path", ["../escape.yaml", "/tmp/escape.yaml", ".git/hooks/pre-commit", "-n", "a/../../b"]
)
def test_a_work_tree_commit_never_writes_outside_the_checkout_or_into_git(fleet: Path, path: str) -> None:
    work = WorkTree.open(fleet / "clusters")
    head = work.head()
    with pytest.raises(UserError):
        work.commit({path: b"#!/bin/sh\n"}, b"escape\n")
    with pytest.raises(UserError):
        work.commit_to_new_branch("escape", head, {path: b"x\n"}, b"escape\n")
    assert work.head() == head and not work.has_branch("escape")
    assert (
        not (fleet / ".git" / "hooks" / "pre-commit").exists() and not (fleet.parent / "escape.yaml").exists()
    )


def test_a_work_tree_commit_takes_only_the_named_files(fleet: Path) -> None:
    (fleet / "other.yaml").write_text("staged: yes\n")
    git(fleet, "add", "other.yaml")
    work = WorkTree.open(fleet)
    commit = work.commit({"apps/web.yaml": b"kind: ConfigMap\n", "clusters/a.yaml": None}, b"web\n")
    assert commit == work.head() == git(fleet, "rev-parse", "HEAD")
    assert git(fleet, "show", "--name-status", "--format=", "HEAD").splitlines() == [
        "A\tapps/web.yaml",
        "D\tclusters/a.yaml",
    ]
    assert git(fleet, "diff", "--cached", "--name-only") == "other.yaml"
