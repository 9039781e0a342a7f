"""Status changes only when something real does: a stale heartbeat is news once, not every poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.hub.session import HubSession
from tests.support.fleethelpers import CLUSTERS, base_files, crp, joined_fleet
from tests.support.gitdaemon import git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
STATUS = "refs/heads/fleet/status"
WEB = "placements/ClusterResourcePlacement/web.yaml"
# PickFixed names eu-1: once it falls silent, its Scheduled condition says why it is not eligible
PICK_FIXED = crp().replace(
    "placementType: PickAll", "placementType: PickFixed\n    clusterNames: [eu-1, eu-2]"
)


def status_commits(path: Path) -> int:
    return int(git(path, "rev-list", "--count", STATUS))


@pytest.mark.parametrize("long_running", [False, True])
def test_a_hundred_idle_polls_with_a_stale_cluster_add_no_commit_to_the_status_branch(
    tmp_path: Path, long_running: bool
) -> None:
    fleet = joined_fleet(tmp_path / "fleet", NOW, base_files(placement=PICK_FIXED))
    session = HubSession() if long_running else None
    with HubRepo.local(fleet.path) as repo:

        def poll(now: datetime) -> list[str]:
            return list(reconcile_once(repo, now, session=session).written)

        def beat_all_but_eu_1(now: datetime) -> None:
            for c in CLUSTERS:
                if c != "eu-1":
                    fleet.beat(c, now)

        poll(NOW)
        when = NOW + timedelta(minutes=6)  # eu-1 fell silent at NOW: stale now
        beat_all_but_eu_1(when)
        poll(when)  # the news: eu-1 is not eligible
        before = status_commits(fleet.path)
        placement = fleet.read(STATUS, WEB)
        assert "no recent heartbeat signals (last received at 2026-11-25T03:00:00Z)" in placement
        for i in range(100):  # idle: only the clock moves (and the healthy agents beat)
            when += timedelta(seconds=7)
            if i % 8 == 0:
                beat_all_but_eu_1(when)
            assert poll(when) == [], f"poll {i} wrote status"
        assert status_commits(fleet.path) == before
        assert fleet.read(STATUS, WEB) == placement
