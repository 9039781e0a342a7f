"""Prune safety on the hub (Config Sync's KNV2006): a commit that empties a cluster's bundle, or
takes more than ``pruneMaxShare`` of it, is not published until a commit of the change confirms
it with the trailer ``Fleetsync-Allow-Prune``; the status branch says why meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.hub.prunesafety import allowed_by, judge
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files, crp, joined_fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
STATUS = "refs/heads/fleet/status"


def bundle_ref(cluster: str) -> str:
    return f"refs/heads/fleet/bundles/{cluster}"


@pytest.fixture
def fleet(tmp_path: Path) -> FleetWork:
    work = joined_fleet(tmp_path / "fleet", NOW)
    reconcile(work)
    return work


def reconcile(work: FleetWork, now: datetime = NOW) -> list[str]:
    with HubRepo.local(work.path) as repo:
        return list(reconcile_once(repo, now).written)


def without_web(message: str = "delete web") -> tuple[dict[str, str], str]:
    return {k: v for k, v in base_files().items() if k != "placements/web.yaml"}, message


def test_an_unconfirmed_emptying_keeps_every_bundle_and_says_why_in_status(fleet: FleetWork) -> None:
    before = {c: fleet.refs()[bundle_ref(c)] for c in CLUSTERS}
    fleet.commit(*without_web())
    assert reconcile(fleet, LATER) == [STATUS]
    assert {c: fleet.refs()[bundle_ref(c)] for c in CLUSTERS} == before  # the agents delete nothing
    doc = fleet.read(STATUS, "prune/eu-1.yaml")
    assert "reason: PruneConfirmationRequired" in doc
    assert "removes all 2 object(s): the cluster is left with none" in doc
    assert "Fleetsync-Allow-Prune: eu-1" in doc
    assert reconcile(fleet, LATER + timedelta(seconds=30)) == []  # an idle hub rewrites nothing


def test_a_later_commit_with_the_trailer_lets_the_removal_through(fleet: FleetWork) -> None:
    fleet.commit(*without_web())
    reconcile(fleet, LATER)
    fleet.commit(*without_web("confirm\n\nFleetsync-Allow-Prune: eu-1, eu-2"))
    written = reconcile(fleet, LATER + timedelta(minutes=1))
    assert sorted(written) == sorted([STATUS, bundle_ref("eu-1"), bundle_ref("eu-2")])
    assert fleet.bundle("eu-1").files == ()
    tree = fleet.tree(STATUS)
    assert "prune/eu-1.yaml" not in tree and "prune/us-1.yaml" in tree  # us-* still wait


def test_undoing_the_removal_clears_the_refusal(fleet: FleetWork) -> None:
    fleet.commit(*without_web())
    reconcile(fleet, LATER)
    fleet.commit(base_files(), "undo")
    reconcile(fleet, LATER + timedelta(minutes=1))
    assert not any(p.startswith("prune/") for p in fleet.tree(STATUS))


def test_the_trailer_in_an_earlier_commit_of_the_same_change_counts(fleet: FleetWork) -> None:
    fleet.commit(base_files(version="2"), "first\n\nFleetsync-Allow-Prune: all")
    fleet.commit(*without_web())
    written = reconcile(fleet, LATER)
    assert sorted(written) == sorted([STATUS, *(bundle_ref(c) for c in CLUSTERS)])


def test_only_the_clusters_that_lose_too_much_wait(fleet: FleetWork) -> None:
    fleet.commit(base_files(placement=crp(affinity_region="europe", max_unavailable="100%")), "europe only")
    for c in CLUSTERS:
        fleet.report(c, LATER)
        fleet.beat(c, LATER)
    written = reconcile(fleet, LATER)
    assert bundle_ref("us-1") not in written  # emptied: held
    assert "prune/us-1.yaml" in fleet.tree(STATUS) and "prune/eu-1.yaml" not in fleet.tree(STATUS)


@pytest.mark.parametrize(
    ("message", "allowed"),
    [
        ("x\n\nFleetsync-Allow-Prune: eu-1", {"eu-1"}),
        ("x\n\nfleetsync-allow-prune: ALL", {"all"}),
        ("x\n\nFleetsync-Allow-Prune: eu-1, us-2\nFleetsync-Allow-Prune: us-1", {"eu-1", "us-1", "us-2"}),
        ("x\n\nFleetsync-Allow-Prune: ../etc -rf Bad_Name", set()),  # not cluster names: ignored
        ("Fleetsync-Allow-Prune eu-1", set()),  # no colon: not the trailer
    ],
)
def test_the_trailer_names_clusters_or_all(message: str, allowed: set[str]) -> None:
    assert allowed_by([message]) == allowed


@pytest.mark.parametrize(
    ("before", "after", "share", "refused"),
    [
        (4, 0, 0.5, True),  # emptied
        (4, 1, 0.5, True),  # 3 of 4 > 50%
        (4, 2, 0.5, None),  # 2 of 4 is the share, not more
        (4, 3, 0.2, True),  # the repo's own share
        (4, 0, 1.0, True),  # emptying is asked about whatever the share
    ],
)
def test_the_verdict_follows_the_share_and_emptying(
    before: int, after: int, share: float, refused: bool | None
) -> None:
    names = [f"o-{i}" for i in range(before)]
    verdict = judge("c", names, names[:after], share, ())
    assert (verdict.refused if verdict else None) == refused
    confirmed = judge("c", names, names[:after], share, ("c",))
    assert confirmed is None or not confirmed.refused


def test_removing_more_than_the_repo_share_is_held_too(tmp_path: Path) -> None:
    settings = {
        "fleetsync.yaml": "apiVersion: fleetsync.io/v1alpha1\nkind: FleetSettings\npruneMaxShare: 0.25\n"
    }
    work = joined_fleet(tmp_path / "fleet", NOW, {**base_files(), **settings})
    reconcile(work)
    files = {k: v for k, v in base_files().items() if k != "apps/web/settings.yaml"}
    work.commit({**files, **settings}, "drop the ConfigMap")
    for c in CLUSTERS:
        work.report(c, LATER)
        work.beat(c, LATER)
    written = reconcile(work, LATER)
    assert not any(r.startswith("refs/heads/fleet/bundles/") for r in written)
    held = [p for p in work.tree(STATUS) if p.startswith("prune/")]
    assert held  # the clusters the rollout moved first
    assert "removes 1 of 2 object(s) (more than 25%); 1 remain" in work.read(STATUS, held[0])
