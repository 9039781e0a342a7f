"""An idle agent poll costs the Git host one ref advertisement of its one ref, and nothing more.

Against a real ``git daemon`` whose serving processes write their packet trace (what the server
was asked, tests/support/gitdaemon.py): an agent that already holds its branch's tip asks
``ls-refs`` for ``refs/heads/fleet/bundles/<cluster>`` and never sends a ``fetch`` command (no
negotiation, no pack), while a moved tip, a rewritten branch and a report branch it pushed
itself are still seen.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.errors import BundleRefused
from agent.source import GitSource
from tests.support.gitdaemon import GitDaemon, git

CLUSTER = "prod-eu-1"


@dataclass
class Host:
    daemon: GitDaemon
    bare: Path
    work: Path
    trace: Path
    histories: int = 0

    @property
    def url(self) -> str:
        return self.daemon.url("fleet.git")

    def publish(self, branch: str, text: str, *, orphan: bool = False) -> str:
        """A commit of ``bundle.yaml`` = ``text`` on ``branch`` (a new history with ``orphan``)."""
        try:
            if orphan:
                raise subprocess.CalledProcessError(1, "orphan")
            git(self.work, "checkout", "-q", branch)
        except subprocess.CalledProcessError:
            self.histories += 1
            git(self.work, "checkout", "-q", "--orphan", f"history-{self.histories}")
        (self.work / "bundle.yaml").write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", f"publish {text}")
        git(self.work, "update-ref", f"refs/heads/{branch}", "HEAD")
        git(self.work, "push", "-qf", str(self.bare), f"HEAD:refs/heads/{branch}")
        return git(self.work, "rev-parse", "HEAD")

    def asked(self, since: int) -> str:
        """The server's packet trace written after byte ``since`` (``mark``)."""
        return self.trace.read_bytes()[since:].decode(errors="replace")

    def mark(self) -> int:
        return self.trace.stat().st_size if self.trace.exists() else 0


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    served = tmp_path / "served"
    served.mkdir()
    trace = tmp_path / "server-packets.trace"
    with GitDaemon(served, backlog=16, trace_packets=trace) as daemon:
        bare = daemon.create("fleet.git")
        work = tmp_path / "work"
        git(tmp_path, "init", "-q", str(work))
        yield Host(daemon, bare, work, trace)


@pytest.fixture
def source(host: Host, tmp_path: Path) -> Iterator[GitSource]:
    with GitSource(host.url, CLUSTER, tmp_path / "agent") as s:
        yield s


def _fetch_commands(trace: str) -> int:
    return trace.count("upload-pack< command=fetch")


def test_an_idle_poll_asks_ls_refs_for_its_one_ref_and_fetches_nothing(host: Host, source: GitSource) -> None:
    tip = host.publish(f"fleet/bundles/{CLUSTER}", "id: 1")
    for other in ("prod-us-2", "staging"):
        host.publish(f"fleet/bundles/{other}", f"id: {other}")
        host.publish(f"fleet/reports/{other}", f"report: {other}")
    first = source.fetch_bundle(None)
    assert first is not None and first.commit == tip
    mark = host.mark()
    for _ in range(3):
        again = source.fetch_bundle(first.commit)
        assert again is not None and again.commit == tip and again.files == first.files
    asked = host.asked(mark)
    assert asked.count("upload-pack< command=ls-refs") == 3
    assert f"upload-pack< ref-prefix refs/heads/fleet/bundles/{CLUSTER}" in asked
    assert _fetch_commands(asked) == 0  # no negotiation, no pack
    assert "prod-us-2" not in asked and "staging" not in asked  # only its own ref was advertised


def test_a_moved_tip_is_fetched_and_accepted(host: Host, source: GitSource) -> None:
    host.publish(f"fleet/bundles/{CLUSTER}", "id: 1")
    first = source.fetch_bundle(None)
    assert first is not None
    source.fetch_bundle(first.commit)  # idle
    newer = host.publish(f"fleet/bundles/{CLUSTER}", "id: 2")
    mark = host.mark()
    fetched = source.fetch_bundle(first.commit)
    assert fetched is not None and fetched.commit == newer
    assert fetched.files == {"bundle.yaml": b"id: 2"}
    assert _fetch_commands(host.asked(mark)) == 1


def test_a_branch_rewritten_after_idle_polls_is_refused(host: Host, source: GitSource) -> None:
    host.publish(f"fleet/bundles/{CLUSTER}", "id: 1")
    first = source.fetch_bundle(None)
    assert first is not None
    source.fetch_bundle(first.commit)
    host.publish(f"fleet/bundles/{CLUSTER}", "forged", orphan=True)
    for _ in range(2):  # refused again on the next poll, which fetches nothing more
        with pytest.raises(BundleRefused, match="was rewritten"):
            source.fetch_bundle(first.commit)


def test_a_report_push_on_its_own_tip_asks_only_ls_refs_before_pushing(host: Host, source: GitSource) -> None:
    host.publish(f"fleet/bundles/{CLUSTER}", "id: 1")  # a member of the fleet
    assert source.push_report({"report.yaml": b"a: 1\n"}, "report: applied", "agent") is not None
    mark = host.mark()
    second = source.push_report({"report.yaml": b"a: 2\n"}, "drift: x", "agent")
    assert second is not None
    asked = host.asked(mark)
    assert _fetch_commands(asked) == 0
    assert git(host.bare, "log", "--format=%s", f"fleet/reports/{CLUSTER}").splitlines() == [
        "drift: x",
        "report: applied",
    ]
