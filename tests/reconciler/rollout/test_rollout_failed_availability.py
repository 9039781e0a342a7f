"""A cluster whose Deployment exceeded its progress deadline takes a fix (beyond KubeFleet).

Faithfully to KubeFleet, a cluster that is only "not available yet" holds a rolling update — with
``maxUnavailable: 100%`` nothing moves at all. An agent that reports ``Available=False`` with reason
``ProgressDeadlineExceeded`` says the content will never become available as it is: the binding
has failed, and a failed binding is always updated (KubeFleet's path for failed bindings,
reconciler/rollout/rolling.py), so the fix committed to Git reaches the crash-looping cluster.
Through the real hub loop and real git.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files, crp, joined_fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
STATUS = "refs/heads/fleet/status"
KEY = "ClusterResourcePlacement/web"


def reconcile(work: FleetWork, now: datetime) -> list[str]:
    with HubRepo.local(work.path) as repo:
        return sorted(r for r in reconcile_once(repo, now).written if "/bundles/" in r)


def bundles(*clusters: str) -> list[str]:
    return sorted(f"refs/heads/fleet/bundles/{c}" for c in clusters)


def stuck_fleet(root: Path, max_unavailable: str, reason: str, clusters: tuple[str, ...]) -> FleetWork:
    """Version 1 everywhere; ``clusters`` report it not available with ``reason``, the rest available."""
    work = joined_fleet(root, NOW, base_files(placement=crp(max_unavailable=max_unavailable)))
    reconcile(work, NOW)
    for c in CLUSTERS:
        if c in clusters:
            work.report(c, LATER, available=False, available_reason=reason)
        else:
            work.report(c, LATER)
        work.beat(c, LATER)
    return work


@pytest.mark.parametrize("max_unavailable", ["100%", "25%"])
def test_a_fix_rolls_out_to_every_cluster_past_its_progress_deadline(
    tmp_path: Path, max_unavailable: str
) -> None:
    work = stuck_fleet(tmp_path / "fleet", max_unavailable, "ProgressDeadlineExceeded", tuple(CLUSTERS))
    first = {c: work.bundle(c).bundle_id for c in CLUSTERS}
    work.commit(base_files(version="2", placement=crp(max_unavailable=max_unavailable)))
    assert reconcile(work, LATER) == bundles(*CLUSTERS)
    assert all(work.bundle(c).bundle_id != first[c] for c in CLUSTERS)


def test_the_failed_cluster_moves_while_the_healthy_ones_stay_within_max_unavailable(tmp_path: Path) -> None:
    work = stuck_fleet(tmp_path / "fleet", "25%", "ProgressDeadlineExceeded", ("us-2",))
    work.commit(base_files(version="2"))
    # us-2 has failed: it is always updated (it cannot become less available), and as the one
    # unavailable cluster it uses up maxUnavailable 25% of 4, so the three healthy ones wait.
    assert reconcile(work, LATER) == bundles("us-2")
    work.report("us-2", LATER)
    assert reconcile(work, LATER) == bundles("eu-1")


def test_the_placement_status_says_progress_deadline_exceeded_for_that_cluster(tmp_path: Path) -> None:
    work = stuck_fleet(tmp_path / "fleet", "25%", "ProgressDeadlineExceeded", ("us-2",))
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, LATER)
    status = work.read(STATUS, f"placements/{KEY}.yaml")
    us2 = status[status.index("clusterName: us-2") :]
    assert "reason: ProgressDeadlineExceeded" in us2
    assert "reason: ProgressDeadlineExceeded" not in status[: status.index("clusterName: us-2")]


@pytest.mark.parametrize("max_unavailable", ["100%", "25%"])
def test_clusters_only_not_yet_available_still_hold_the_rollout_as_kubefleet_does(
    tmp_path: Path, max_unavailable: str
) -> None:
    work = stuck_fleet(tmp_path / "fleet", max_unavailable, "SomeManifestsAreNotAvailable", tuple(CLUSTERS))
    work.commit(base_files(version="2", placement=crp(max_unavailable=max_unavailable)))
    assert reconcile(work, LATER) == []
