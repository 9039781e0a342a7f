"""The agent's Git source: its own branch only, verified, and never a rewritten history."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from agent.errors import BundleRefused
from agent.source import GitSource
from tests.support.agentfixtures import git


class Hub:
    """A bare fleet repo and a work tree that publishes to fleet/bundles/<cluster>."""

    def __init__(self, root: Path):
        self.bare = root / "fleet.git"
        self.work = root / "work"
        git(root, "init", "-q", "--bare", str(self.bare))
        git(root, "init", "-q", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.bare))

    def publish(self, branch: str, files: Mapping[str, str], *, orphan: bool = False) -> str:
        if orphan:
            git(self.work, "checkout", "-q", "--orphan", f"tmp-{len(files)}-{branch.replace('/', '-')}")
            git(self.work, "rm", "-rfq", "--ignore-unmatch", ".")
        else:
            try:
                git(self.work, "checkout", "-q", branch)
            except subprocess.CalledProcessError:
                git(self.work, "checkout", "-q", "--orphan", branch)
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", f"publish {len(files)} files")
        git(self.work, "push", "-qf", "origin", f"HEAD:refs/heads/{branch}")
        return git(self.work, "rev-parse", "HEAD")


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub(tmp_path)


@pytest.fixture
def source(hub: Hub, tmp_path: Path) -> Iterator[GitSource]:
    with GitSource(str(hub.bare), "prod-eu-1", tmp_path / "agent") as s:
        yield s


def test_no_branch_yet_means_no_bundle(source: GitSource) -> None:
    assert source.fetch_bundle(None) is None


def test_fetches_only_its_own_branch_with_its_files(hub: Hub, source: GitSource) -> None:
    mine = hub.publish("fleet/bundles/prod-eu-1", {"bundle.yaml": "id: a\n", "manifests/a.yaml": "x: 1\n"})
    hub.publish("fleet/bundles/other", {"bundle.yaml": "id: secret-of-other\n"})
    bundle = source.fetch_bundle(None)
    assert bundle is not None
    assert bundle.commit == mine
    assert bundle.files == {"bundle.yaml": b"id: a\n", "manifests/a.yaml": b"x: 1\n"}
    local_refs = git(source.path, "for-each-ref", "--format=%(refname)")
    assert "other" not in local_refs


def test_a_newer_bundle_descending_from_the_last_one_is_accepted(hub: Hub, source: GitSource) -> None:
    first = hub.publish("fleet/bundles/prod-eu-1", {"bundle.yaml": "id: 1\n"})
    for i in range(2, 6):
        hub.publish("fleet/bundles/prod-eu-1", {"bundle.yaml": f"id: {i}\n"})
    bundle = source.fetch_bundle(first)
    assert bundle is not None and bundle.files["bundle.yaml"] == b"id: 5\n"


def test_a_rewritten_hub_branch_is_refused(hub: Hub, source: GitSource) -> None:
    first = hub.publish("fleet/bundles/prod-eu-1", {"bundle.yaml": "id: 1\n"})
    hub.publish("fleet/bundles/prod-eu-1", {"bundle.yaml": "id: forged\n"}, orphan=True)
    with pytest.raises(BundleRefused, match="was rewritten"):
        source.fetch_bundle(first)


def test_a_bundle_that_fails_verification_is_refused(hub: Hub, tmp_path: Path) -> None:
    hub.publish("fleet/bundles/prod-eu-1", {"bundle.yaml": "id: 1\n"})

    def verify(files: Mapping[str, bytes]) -> list[str]:
        return ["manifests/x.yaml: hash mismatch"]

    with (
        GitSource(str(hub.bare), "prod-eu-1", tmp_path / "agent2", verify) as s,
        pytest.raises(BundleRefused, match="hash mismatch"),
    ):
        s.fetch_bundle(None)


def test_reports_commit_only_when_something_changed(hub: Hub, source: GitSource) -> None:
    first = source.push_report({"report.yaml": b"a: 1\n"}, "report: applied", "agent-prod-eu-1")
    assert first is not None
    assert source.push_report({"report.yaml": b"a: 1\n"}, "report: applied", "agent-prod-eu-1") is None
    second = source.push_report({"report.yaml": b"a: 2\n"}, "drift: x", "agent-prod-eu-1")
    assert second is not None
    log = git(hub.bare, "log", "--format=%s", "fleet/reports/prod-eu-1")
    assert log.splitlines() == ["drift: x", "report: applied"]


def test_heartbeats_never_grow_history(hub: Hub, source: GitSource) -> None:
    for i in range(3):
        source.beat({"heartbeat.yaml": f"n: {i}\n".encode()}, "heartbeat", "agent-prod-eu-1")
    count = git(hub.bare, "rev-list", "--count", "refs/fleet/heartbeats/prod-eu-1")
    assert count == "1"
    assert git(hub.bare, "show", "refs/fleet/heartbeats/prod-eu-1:heartbeat.yaml") == "n: 2"


def test_a_rewrite_after_a_shallow_fetch_is_refused_as_rewritten(hub: Hub, source: GitSource) -> None:
    # The first fetch leaves a shallow boundary of the old history in the clone; it must not
    # make the rewritten history look "still shallow" (which would end in a misleading message).
    hub.publish("fleet/bundles/prod-eu-1", {"bundle.yaml": "id: 0\n"})
    first = hub.publish("fleet/bundles/prod-eu-1", {"bundle.yaml": "id: 1\n"})
    fetched = source.fetch_bundle(None)
    assert fetched is not None and fetched.commit == first
    hub.publish("fleet/bundles/prod-eu-1", {"bundle.yaml": "id: forged\n"}, orphan=True)
    with pytest.raises(BundleRefused, match="was rewritten"):
        source.fetch_bundle(first)
