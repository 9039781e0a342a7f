"""A hub replica that stops leading in the middle of a reconcile publishes nothing more.

Git's atomic ref update refuses a stale leader's publish (``RefRace``), but ``reconcile_once``
then re-reads the refs and tries again: without a leadership check at every stage boundary the
replica that lost the Lease would publish on its second attempt, on top of the new leader's refs
and computed at its own, older time. Both replicas would have published.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.gitstore.refs import RefUpdate
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.hub.run import Runner
from tests.support.fleethelpers import base_files, joined_fleet

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_a_replica_that_lost_the_lease_does_not_retry_its_refused_publish(tmp_path: Path) -> None:
    work = joined_fleet(tmp_path / "fleet", T0)
    leading = [True]
    published: list[str] = []
    with HubRepo.local(work.path) as repo_a, HubRepo.local(work.path) as repo_b:
        assert reconcile_once(repo_a, T0).written
        work.commit(base_files(version="2"))
        publish = repo_a.publish

        def taken_over(updates: Sequence[RefUpdate]) -> None:
            if leading[0]:  # a stalls right before its publish; b takes the Lease and publishes
                leading[0] = False
                assert reconcile_once(repo_b, T0 + timedelta(hours=1)).written
            else:
                published.append("a")
            publish(updates)  # refused the first time (RefRace): b moved the refs

        repo_a.publish = taken_over  # type: ignore[method-assign]
        status = work.refs()["refs/heads/fleet/status"]
        Runner(repo_a, clock=lambda: T0 + timedelta(seconds=1), leading=lambda: leading[0]).tick()
        assert published == []  # a did not try again once it no longer led
        assert work.refs()["refs/heads/fleet/status"] != status  # b's publish stands
        assert reconcile_once(repo_b, T0 + timedelta(hours=1)).written == ()  # and nothing of a's
