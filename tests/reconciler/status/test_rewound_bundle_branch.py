"""A bundle branch someone reset to an older commit: the hub does not build on it (its agent would
refuse everything from then on), says so on the MemberCluster with the fix, and carries on once
the branch is restored (docs/hub.md, "A bundle branch that was reset")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import CLUSTERS, base_files, crp, joined_fleet
from tests.support.gitdaemon import git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
STATUS = "refs/heads/fleet/status"
EU_1 = "refs/heads/fleet/bundles/eu-1"


def files(version: str) -> dict[str, str]:
    return base_files(version, placement=crp(max_unavailable="100%"))


def descends(path: Path, older: str, newer: str) -> bool:
    return git(path, "rev-list", newer).splitlines().count(older) == 1


def test_a_reset_bundle_branch_is_reported_and_not_built_on_until_it_is_restored(tmp_path: Path) -> None:
    fleet = joined_fleet(tmp_path / "fleet", NOW, files("1"))

    def report_all() -> None:
        for c in CLUSTERS:
            fleet.report(c, NOW)

    with HubRepo.local(fleet.path) as repo:
        reconcile_once(repo, NOW)
        report_all()
        first = fleet.refs()[EU_1]
        fleet.commit(files("2"), "version 2")
        reconcile_once(repo, NOW + timedelta(seconds=10))
        report_all()
        published = fleet.refs()[EU_1]  # what eu-1's agent may have applied already
        assert published != first
        git(fleet.path, "update-ref", EU_1, first)  # someone resets the branch

        fleet.commit(files("3"), "version 3")
        written = reconcile_once(repo, NOW + timedelta(seconds=20)).written
        assert EU_1 not in written and fleet.refs()[EU_1] == first  # nothing built on the reset tip
        assert "refs/heads/fleet/bundles/eu-2" in written  # the other clusters move on
        doc = fleet.read(STATUS, "clusters/eu-1.yaml")
        assert "BundleBranchRewritten" in doc and published in doc and "git push --force" in doc
        assert EU_1 not in reconcile_once(repo, NOW + timedelta(seconds=30)).written
        assert fleet.read(STATUS, "clusters/eu-1.yaml") == doc  # said once, not every pass

        git(fleet.path, "update-ref", EU_1, published)  # the documented recovery
        written = reconcile_once(repo, NOW + timedelta(seconds=40)).written
        assert EU_1 in written and descends(fleet.path, published, fleet.refs()[EU_1])
        assert 'VERSION: "3"' in fleet.read(
            EU_1, "manifests/ClusterResourcePlacement/web/core/ConfigMap/web/settings.yaml"
        )
        assert "BundleBranchRewritten" not in fleet.read(STATUS, "clusters/eu-1.yaml")
