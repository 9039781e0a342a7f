"""A restarted agent (a new process, a pod without its disk, each ``agent run --once``) carries its
last report's times over: it reads its own report branch back at start, and trusts it only when
it is this cluster's and describes the bundle this member's inventory records."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.loop import Agent, AgentConfig
from agent.report import not_our_report
from agent.source import GitSource
from fleetsync_contract.bundle import BundlePlacement
from fleetsync_contract.integrity import verify
from fleetsync_contract.report import Availability, ClusterReport, parse_time, report_files
from tests.support.agentfixtures import Hub, Member, git, placement, short_sleep

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


class Restarts:
    """Each ``agent(at)`` is a new agent process: fresh memory and a fresh ``--state-dir``."""

    def __init__(self, member: Member, hub: Hub, root: Path):
        self.member, self.hub, self.root = member, hub, root
        self.sources: list[GitSource] = []

    def agent(self, at: datetime) -> Agent:
        source = GitSource(
            str(self.hub.bare),
            self.hub.cluster,
            self.root / f"disk-{len(self.sources)}",
            verify=lambda f: verify(f, self.hub.cluster),
        )
        self.sources.append(source)
        return Agent(
            AgentConfig(self.hub.cluster, namespace=f"fs-{self.member.prefix}", crd_wait_seconds=10),
            self.member.kube,
            source,
            clock=lambda: at,
            sleep=short_sleep,
        )

    def close(self) -> None:
        for s in self.sources:
            s.close()


@pytest.fixture
def restarts(member: Member, hub: Hub, tmp_path: Path) -> Any:
    r = Restarts(member, hub, tmp_path)
    yield r
    r.close()


@pytest.fixture
def sim_restarts(sim_member: Member, hub: Hub, tmp_path: Path) -> Any:
    r = Restarts(sim_member, hub, tmp_path)
    yield r
    r.close()


def missing_cm(member: Member) -> dict[str, Any]:
    """A ConfigMap a ReportDiff placement wants but nobody creates: a drift that persists."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "wanted", "namespace": f"{member.prefix}-nowhere"},
        "data": {"k": "v"},
    }


def test_a_persistent_drift_keeps_its_first_observed_time_and_is_not_committed_again_after_a_restart(
    restarts: Restarts, member: Member, hub: Hub
) -> None:
    hub.publish([(placement(type="ReportDiff"), missing_cm(member))])
    first = restarts.agent(T0).sync()
    assert first.report_commit is not None and first.errors == ()
    commits = hub.report_commits()

    again = restarts.agent(T0 + timedelta(minutes=10)).sync()

    assert again.errors == ()
    assert again.report_commit is None
    assert hub.report_commits() == commits
    [drift] = hub.report()[1].values()
    assert drift.first_observed_time == "2026-01-05T09:00:00Z"


def test_an_untrackable_object_becomes_available_across_restarts_after_the_wait(
    restarts: Restarts, member: Member, hub: Hub
) -> None:
    p = BundlePlacement("ClusterResourcePlacement", "", "ext", 1, {}, 60)  # unavailablePeriodSeconds 60
    hub.publish(
        [
            (p, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{member.prefix}-ext"}}),
            (
                p,
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "upstream", "namespace": f"{member.prefix}-ext"},
                    "spec": {"type": "ExternalName", "externalName": "example.com"},
                },
            ),
        ]
    )

    def available() -> tuple[str, str]:
        report, _ = hub.report()
        [pl] = report.placements
        svc = next(o for o in pl.objects if o.identity.endswith("/upstream"))
        assert svc.availability == Availability.NOT_TRACKABLE
        cond = next(c for c in pl.conditions if c.type == "Available")
        return cond.status, svc.available_since

    restarts.agent(T0).sync()
    assert available() == ("False", "2026-01-05T09:00:00Z")
    restarts.agent(T0 + timedelta(seconds=30)).sync()
    assert available() == ("False", "2026-01-05T09:00:00Z")
    restarts.agent(T0 + timedelta(seconds=61)).sync()
    assert available() == ("True", "2026-01-05T09:00:00Z")


# -- a report that is not this agent's own is never trusted ------------------------------------------
def plant(hub: Hub, files: dict[str, bytes], root: Path) -> None:
    """Write ``files`` as the tip of the cluster's report branch, as if some other writer had."""
    work = root / "planted"
    git(root, "init", "-q", str(work))
    for name, data in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "planted")
    git(work, "push", "-qf", str(hub.bare), f"HEAD:refs/heads/fleet/reports/{hub.cluster}")


def _old_drift_report(restarts: Restarts, member: Member, hub: Hub, tmp_path: Path, **change: Any) -> None:
    """A report of this member at T0 (a drift first seen then), rewritten by ``change``, planted."""
    restarts.agent(T0).sync()
    report, drifts = hub.report()
    plant(hub, report_files(replace(report, **change), drifts), tmp_path)


@pytest.mark.parametrize(
    "change",
    [{"cluster": "another-cluster"}, {"applied_bundle_commit": "f" * 40}],
    ids=["another-cluster", "another-fleet-or-member"],
)
def test_a_report_of_another_cluster_or_member_is_ignored_with_a_warning(
    sim_restarts: Restarts,
    sim_member: Member,
    hub: Hub,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, Any],
) -> None:
    hub.publish([(placement(type="ReportDiff"), missing_cm(sim_member))])
    _old_drift_report(sim_restarts, sim_member, hub, tmp_path, **change)

    with caplog.at_level(logging.WARNING, logger="fleetsync.agent"):
        summary = sim_restarts.agent(T0 + timedelta(hours=1)).sync()

    assert summary.errors == () and summary.report_commit is not None
    report, drifts = hub.report()
    assert report.cluster == hub.cluster and report.applied_bundle_commit != "f" * 40
    [drift] = drifts.values()
    assert drift.first_observed_time == "2026-01-05T10:00:00Z"  # not carried over from the planted one
    assert any("not carrying" in r.getMessage() for r in caplog.records)


def test_a_report_that_does_not_parse_is_ignored_with_a_warning(
    sim_restarts: Restarts, sim_member: Member, hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub.publish([(placement(type="ReportDiff"), missing_cm(sim_member))])
    plant(hub, {"report.yaml": b"kind: ClusterReport\ncluster: [not, a, name]\n"}, tmp_path)

    with caplog.at_level(logging.WARNING, logger="fleetsync.agent"):
        summary = sim_restarts.agent(T0).sync()

    assert summary.errors == () and summary.report_commit is not None
    report, drifts = hub.report()
    assert report.cluster == hub.cluster and len(drifts) == 1
    assert any("not carrying" in r.getMessage() for r in caplog.records)


def test_reading_the_last_report_is_bounded(hub: Hub, tmp_path: Path) -> None:
    plant(hub, {"report.yaml": b"x" * 4096, "drift/a.yaml": b"y" * 4096}, tmp_path)
    with GitSource(str(hub.bare), hub.cluster, tmp_path / "s") as source:
        with pytest.raises(ValueError, match="larger than 6000 bytes"):
            source.last_report(max_bytes=6000)
        files = source.last_report()
    assert files is not None and set(files) == {"report.yaml", "drift/a.yaml"}


def test_there_is_no_last_report_before_the_first(hub: Hub, tmp_path: Path) -> None:
    with GitSource(str(hub.bare), hub.cluster, tmp_path / "s") as source:
        assert source.last_report() is None


def test_a_restart_without_a_reachable_report_branch_publishes_nothing_that_would_reset_times(
    sim_restarts: Restarts, sim_member: Member, hub: Hub, tmp_path: Path
) -> None:
    """Until the last report has been read, the agent does not overwrite it with fresh times."""
    hub.publish([(placement(type="ReportDiff"), missing_cm(sim_member))])
    sim_restarts.agent(T0).sync()
    commits = hub.report_commits()
    agent = sim_restarts.agent(T0 + timedelta(minutes=5))
    source = agent.source
    assert isinstance(source, GitSource)
    source.url = str(tmp_path / "gone.git")  # the remote is unreachable for this pass
    summary = agent.sync()
    assert summary.report_commit is None
    assert any("last report" in e for e in summary.errors)
    source.url = str(hub.bare)  # back: the report is read, the times carried over
    summary = agent.sync()
    assert summary.errors == () and summary.report_commit is None
    assert hub.report_commits() == commits


def test_two_once_runs_in_a_row_keep_first_observed_time_and_commit_one_report(
    member: Member, hub: Hub, tmp_path: Path
) -> None:
    """The composition root end to end: each ``agent run --once`` is a new agent."""
    from typer.testing import CliRunner

    from fleetsync.cli import app

    hub.publish([(placement(type="ReportDiff"), missing_cm(member))])
    args = ["agent", "run", "--repo", str(hub.bare), "--cluster", hub.cluster, "--once"]
    args += ["--kubeconfig", str(member.kubeconfig), "--namespace", f"fs-{member.prefix}"]

    first = CliRunner().invoke(app, [*args, "--state-dir", str(tmp_path / "run-1")])
    assert first.exit_code == 1, first.output  # the diff is a finding
    [drift] = hub.report()[1].values()
    commits = hub.report_commits()
    # the next run must observe a later second, or an unchanged report would look the same anyway
    observed = parse_time(drift.observation_time)
    deadline = time.monotonic() + 5
    while datetime.now(UTC).replace(microsecond=0) <= observed and time.monotonic() < deadline:
        time.sleep(0.05)

    second = CliRunner().invoke(app, [*args, "--state-dir", str(tmp_path / "run-2")])
    assert second.exit_code == 1, second.output
    assert hub.report_commits() == commits
    [again] = hub.report()[1].values()
    assert again.first_observed_time == drift.first_observed_time


@pytest.mark.parametrize(
    ("cluster", "commit", "inventory", "trusted"),
    [
        ("member-1", "a" * 40, "a" * 40, True),
        ("member-1", "", "", True),  # a first report before any bundle, and no inventory yet
        ("member-2", "a" * 40, "a" * 40, False),
        ("member-1", "a" * 40, "b" * 40, False),  # another fleet, or another member
        ("member-1", "a" * 40, "", False),  # the member's inventory is gone: a new member
        ("member-1", "", "a" * 40, False),
    ],
)
def test_only_this_clusters_report_of_the_inventorys_bundle_is_trusted(
    cluster: str, commit: str, inventory: str, trusted: bool
) -> None:
    report = ClusterReport(cluster, "0.1.0", "2026-01-05T09:00:00Z", "sha256:x", commit)
    assert (not_our_report(report, "member-1", inventory) == "") == trusted
