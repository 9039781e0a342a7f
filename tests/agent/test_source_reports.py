"""Report pushes: the tree and commit the source writes itself are the ones git's plumbing makes,
and a push costs two git processes (the tip's fetch and the push)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.source import GitSource
from tests.agent.test_source import Hub
from tests.support.agentfixtures import ENV

CLUSTER = "prod-eu-1"
AUTHOR = f"fleetsync-agent-{CLUSTER}"
# names whose order differs between a plain sort and git's (a subtree sorts as "name/")
FILES = {
    "report.yaml": b"applied: 1\n",
    "drift/a.yaml": b"x: 1\n",
    "drift/a-b.yaml": b"x: 2\n",
    "drift/a/core/ConfigMap/web/settings.yaml": b"x: 3\n",
    "drift/a0.yaml": b"",
}


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    hub = Hub(tmp_path)
    hub.publish(f"fleet/bundles/{CLUSTER}", {"bundle.yaml": "id: 1\n"})  # a member of the fleet
    return hub


@pytest.fixture
def source(hub: Hub, tmp_path: Path) -> Iterator[GitSource]:
    with GitSource(str(hub.bare), CLUSTER, tmp_path / "agent") as s:
        yield s


def git(cwd: Path, *args: str, input: str = "", env: dict[str, str] | None = None, strip: bool = True) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**ENV, **(env or {})},
        input=input,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip() if strip else out


def _tree_by_git(repo: Path, files: dict[str, bytes], index: Path) -> str:
    """What ``update-index --cacheinfo`` + ``write-tree`` make of ``files`` (the old way)."""
    env = {"GIT_INDEX_FILE": str(index)}
    for path, data in files.items():
        blob = git(repo, "hash-object", "-w", "--stdin", input=data.decode(), env=env)
        git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
    return git(repo, "write-tree", env=env)


def test_a_report_tree_is_the_one_git_writes_byte_for_byte(
    hub: Hub, source: GitSource, tmp_path: Path
) -> None:
    commit = source.push_report(FILES, "report: applied\n", AUTHOR)
    assert commit is not None
    pushed = git(hub.bare, "rev-parse", f"refs/heads/fleet/reports/{CLUSTER}^{{tree}}")
    assert pushed == _tree_by_git(hub.bare, FILES, tmp_path / "index")
    for path, data in FILES.items():
        assert (
            git(hub.bare, "cat-file", "blob", f"fleet/reports/{CLUSTER}:{path}", strip=False) == data.decode()
        )
    git(hub.bare, "fsck", "--strict", "--no-dangling")  # every object well-formed


def test_a_report_commit_reads_as_commit_tree_makes_it(hub: Hub, source: GitSource) -> None:
    first = source.push_report({"report.yaml": b"a: 1\n"}, "report: applied", AUTHOR)
    second = source.push_report({"report.yaml": b"a: 2\n"}, "drift: x\n\ndetails\n", AUTHOR)
    assert first is not None and second is not None
    raw = git(hub.bare, "cat-file", "commit", second, strip=False)
    head, _, message = raw.partition("\n\n")
    lines = head.splitlines()
    assert lines[0] == f"tree {git(hub.bare, 'rev-parse', f'{second}^{{tree}}')}"
    assert lines[1] == f"parent {first}"
    for line, role in zip(lines[2:], ("author", "committer"), strict=True):
        assert line.startswith(f"{role} {AUTHOR} <{AUTHOR}@fleetsync.invalid> ")
    assert message == "drift: x\n\ndetails\n"
    assert git(hub.bare, "log", "-1", "--format=%B", first, strip=False) == "report: applied\n\n"
    git(hub.bare, "fsck", "--strict", "--no-dangling")


def test_a_push_after_a_fetched_bundle_starts_only_a_fetch_and_a_push(
    source: GitSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert source.fetch_bundle(None) is not None
    remote = source._remote
    asked: list[str] = []

    def counted(what: str, *args: str) -> str:
        asked.append(args[0])
        return remote(what, *args)

    monkeypatch.setattr(source, "_remote", counted)
    assert source.push_report({"report.yaml": b"a: 1\n"}, "report: applied", AUTHOR) is not None
    assert asked == ["fetch", "push"]  # membership shown by the bundle branch: no ls-remote


@pytest.mark.parametrize("path", ["drift//x.yaml", "drift/./x.yaml", "../x.yaml", "", "drift/.git/x"])
def test_a_path_git_would_refuse_is_refused(source: GitSource, path: str) -> None:
    with pytest.raises(ValueError, match="invalid path"):
        source.push_report({path: b"x"}, "report", AUTHOR)
