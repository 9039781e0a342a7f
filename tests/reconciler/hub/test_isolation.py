"""One bad object must not freeze the fleet: the hub fails the object (or the file), not the commit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import CLUSTERS, PLATFORM, FleetWork, base_files, crp, joined_fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
STATUS = "refs/heads/fleet/status"
WEB = "ClusterResourcePlacement/web"
PLATFORM_KEY = "ClusterResourcePlacement/platform"
SETTINGS = f"manifests/{WEB}/core/ConfigMap/web/settings.yaml"
DEFAULTS = f"manifests/{PLATFORM_KEY}/core/ConfigMap/platform/defaults.yaml"


def platform_crp() -> str:
    return (
        crp(name="platform", max_unavailable="100%")
        .replace("name: web\n  policy", "name: platform\n  policy")
        .replace("name: web\n", "name: platform\n")
    )


def files(level: str = "a", version: str = "1", web: str | None = None) -> dict[str, str]:
    return {
        **base_files(version=version, placement=web if web is not None else crp(max_unavailable="100%")),
        "apps/platform.yaml": PLATFORM.format(level=level),
        "placements/platform.yaml": platform_crp(),
    }


def bundle_ref(cluster: str) -> str:
    return f"refs/heads/fleet/bundles/{cluster}"


def reconcile(work: FleetWork, now: datetime) -> list[str]:
    with HubRepo.local(work.path) as repo:
        return list(reconcile_once(repo, now).written)


def agents_report(work: FleetWork, now: datetime) -> None:
    for c in CLUSTERS:
        work.report(c, now)
        work.beat(c, now)


@pytest.fixture
def fleet(tmp_path: Path) -> FleetWork:
    work = joined_fleet(tmp_path / "fleet", NOW, files())
    reconcile(work, NOW)
    agents_report(work, NOW)
    return work


def test_a_placement_with_a_bad_field_keeps_its_last_bundle_while_another_placement_moves(
    fleet: FleetWork,
) -> None:
    bad_web = crp(max_unavailable="lots")  # not an int or a percentage: the web placement fails
    fleet.commit(files(level="b", version="2", web=bad_web))
    written = reconcile(fleet, LATER)
    assert sorted(written) == sorted([STATUS, *(bundle_ref(c) for c in CLUSTERS)])
    for c in CLUSTERS:
        assert "LEVEL: b" in fleet.read(bundle_ref(c), DEFAULTS)  # the other team's change is out
        assert 'VERSION: "1"' in fleet.read(bundle_ref(c), SETTINGS)  # web: its last good render
        assert {p.key for p in fleet.bundle(c).placements} == {WEB, PLATFORM_KEY}
    web = fleet.read(STATUS, f"placements/{WEB}.yaml")
    assert "InvalidResourceSelectors" in web and "maxUnavailable" in web
    # as in KubeFleet, only the Scheduled condition changes: where it is placed stays visible
    assert all(f"clusterName: {c}" in web for c in CLUSTERS) and "name: settings" in web
    status = fleet.read(STATUS, "status.yaml")
    assert "maxUnavailable" in status  # the error is in lastLoad too
    agents_report(fleet, LATER)
    reconcile(fleet, LATER + timedelta(minutes=1))
    assert reconcile(fleet, LATER + timedelta(minutes=2)) == []  # and nothing flaps


def test_a_placement_broken_for_two_commits_still_keeps_its_last_good_render(fleet: FleetWork) -> None:
    bad_web = crp(max_unavailable="lots")
    fleet.commit(files(level="b", web=bad_web))
    reconcile(fleet, LATER)
    agents_report(fleet, LATER)
    fleet.commit(files(level="c", web=bad_web))
    reconcile(fleet, LATER + timedelta(minutes=1))
    for c in CLUSTERS:
        assert "LEVEL: c" in fleet.read(bundle_ref(c), DEFAULTS)
        assert 'VERSION: "1"' in fleet.read(bundle_ref(c), SETTINGS)
    fleet.commit(files(level="c", version="3"))  # fixed: the web placement moves again
    agents_report(fleet, LATER + timedelta(minutes=2))
    reconcile(fleet, LATER + timedelta(minutes=2))
    for c in CLUSTERS:
        assert 'VERSION: "3"' in fleet.read(bundle_ref(c), SETTINGS)
    assert "InvalidResourceSelectors" not in fleet.read(STATUS, f"placements/{WEB}.yaml")


def test_objects_of_a_file_that_does_not_parse_are_never_pruned(fleet: FleetWork) -> None:
    broken = {**files(level="b", version="2"), "apps/web/namespace.yaml": "kind: [unclosed\n"}
    fleet.commit(broken)
    reconcile(fleet, LATER)
    for c in CLUSTERS:
        bundle = fleet.bundle(c)
        assert bundle.removals == ()
        paths = {f.path for f in bundle.files}
        assert f"manifests/{WEB}/core/Namespace/_cluster/web.yaml" in paths
        assert 'VERSION: "2"' in fleet.read(bundle_ref(c), SETTINGS)  # the rest of the file set moved
        assert "LEVEL: b" in fleet.read(bundle_ref(c), DEFAULTS)
    status = fleet.read(STATUS, "status.yaml")
    assert "apps/web/namespace.yaml" in status and "invalid YAML" in status


def test_a_broken_file_stays_kept_across_commits_until_it_is_fixed(fleet: FleetWork) -> None:
    broken = {**files(level="b"), "apps/platform.yaml": "kind: [unclosed\n"}
    fleet.commit(broken)
    reconcile(fleet, LATER)
    agents_report(fleet, LATER)
    fleet.commit({**broken, "apps/web/settings.yaml": base_files(version="5")["apps/web/settings.yaml"]})
    reconcile(fleet, LATER + timedelta(minutes=1))
    for c in CLUSTERS:
        assert fleet.bundle(c).removals == ()
        assert "LEVEL: a" in fleet.read(bundle_ref(c), DEFAULTS)  # kept as last rendered
        assert 'VERSION: "5"' in fleet.read(bundle_ref(c), SETTINGS)


def test_a_repo_wide_error_still_holds_the_whole_commit(fleet: FleetWork) -> None:
    bundles = {c: fleet.refs()[bundle_ref(c)] for c in CLUSTERS}
    bad = fleet.commit({**files(level="b", version="2"), "fleetsync.yaml": "include: [unclosed\n"})
    assert reconcile(fleet, LATER) == [STATUS]
    assert {c: fleet.refs()[bundle_ref(c)] for c in CLUSTERS} == bundles
    status = fleet.read(STATUS, "status.yaml")
    assert f"commit: {bad}" in status and "ok: false" in status and "fleetsync.yaml" in status


@pytest.mark.parametrize(
    "settings",
    ["policies: [no-such-policy]\n", "policies: [no-latest-tag, not-shipped]\n"],
    ids=["unknown", "one-unknown"],
)
def test_a_policy_that_cannot_be_enforced_holds_the_commit(fleet: FleetWork, settings: str) -> None:
    """Rendering without a rule the fleet asked for would place what that rule denies."""
    bundles = {c: fleet.refs()[bundle_ref(c)] for c in CLUSTERS}
    bad = fleet.commit({**files(level="b", version="2"), "fleetsync.yaml": settings})
    assert reconcile(fleet, LATER) == [STATUS]
    assert {c: fleet.refs()[bundle_ref(c)] for c in CLUSTERS} == bundles
    status = fleet.read(STATUS, "status.yaml")
    assert f"commit: {bad}" in status and "ok: false" in status and "no policy named" in status


def test_a_broken_member_cluster_holds_the_commit(fleet: FleetWork) -> None:
    bundles = {c: fleet.refs()[bundle_ref(c)] for c in CLUSTERS}
    broken = {**files(level="b"), "clusters/eu-1.yaml": "kind: [unclosed\n"}
    fleet.commit(broken)
    assert reconcile(fleet, LATER) == [STATUS]
    assert {c: fleet.refs()[bundle_ref(c)] for c in CLUSTERS} == bundles
    assert "ok: false" in fleet.read(STATUS, "status.yaml")


RUN = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata:
  name: web-run
spec:
  placementName: web
  stagedRolloutStrategyName: rings
"""
STRATEGY = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata:
  name: rings
spec:
  stages:
    - name: all
      labelSelector: {}
"""


def test_a_run_on_a_rolling_update_placement_fails_initialization_as_validate_says(
    fleet: FleetWork,
) -> None:
    from reconciler.load.validate import validate_path

    fleet.commit({**files(level="b"), "runs/run.yaml": RUN, "runs/strategy.yaml": STRATEGY})
    [error] = [f for f in validate_path(fleet.path).findings if f.severity == "error"]
    assert error.file == "runs/run.yaml" and "External" in error.message and error.scope == "object"
    reconcile(fleet, LATER)
    for c in CLUSTERS:
        assert "LEVEL: b" in fleet.read(bundle_ref(c), DEFAULTS)  # the run fails alone
    run = fleet.read(STATUS, "runs/ClusterStagedUpdateRun/_cluster/web-run.yaml")
    assert "UpdateRunInitializedFailed" in run and "external rollout strategy" in run
    assert 'status: "False"' in run or "status: 'False'" in run
    assert "External" in fleet.read(STATUS, "status.yaml")  # validate's finding, in lastLoad


def test_the_hub_records_exactly_the_errors_validate_prints(fleet: FleetWork) -> None:
    from reconciler.load.validate import validate_path
    from reconciler.status.memory import parse_memory

    fleet.commit(
        {
            **files(level="b", web=crp(max_unavailable="lots")),
            "apps/web/namespace.yaml": "kind: [unclosed\n",
            "runs/run.yaml": RUN.replace("web", "platform"),
            "runs/strategy.yaml": STRATEGY,
        }
    )
    reconcile(fleet, LATER)
    memory = parse_memory(fleet.read(STATUS, "status.yaml").encode() + b"\n")
    assert memory.source_commit == memory.last_load.commit and memory.last_load.ok  # rendered
    hub = {(f.file, f.line, f.message) for f in memory.last_load.findings}
    validate = {
        (f.file, f.line, f.message) for f in validate_path(fleet.path).findings if f.severity == "error"
    }
    assert hub == validate and len(hub) == 3


def external_web(extra: str = "") -> str:
    head = crp().split("  strategy:")[0]
    return head + "  strategy:\n    type: External\n" + extra


def test_a_broken_external_placement_keeps_its_runs_status_and_its_bundles(tmp_path: Path) -> None:
    run_files = {"runs/run.yaml": RUN, "runs/strategy.yaml": STRATEGY}
    work = joined_fleet(tmp_path / "fleet", NOW, {**files(web=external_web()), **run_files})
    reconcile(work, NOW)
    agents_report(work, NOW)
    reconcile(work, NOW)
    run_path = "runs/ClusterStagedUpdateRun/_cluster/web-run.yaml"
    before = work.read(STATUS, run_path)
    assert "UpdateRunInitializedSuccessfully" in before
    bundles = {c: work.refs()[bundle_ref(c)] for c in CLUSTERS}
    broken = external_web("  revisionHistoryLimit: 0\n")
    work.commit({**files(level="b", web=broken), **run_files})
    reconcile(work, LATER)
    assert work.read(STATUS, run_path) == before  # frozen with its placement, not dropped
    assert "revisionHistoryLimit" in work.read(STATUS, f"placements/{WEB}.yaml")
    for c in CLUSTERS:
        assert work.refs()[bundle_ref(c)] != bundles[c]  # the platform placement moved
        assert "LEVEL: b" in work.read(bundle_ref(c), DEFAULTS)


def test_a_long_running_hub_goes_quiet_on_a_commit_with_a_failed_object(fleet: FleetWork) -> None:
    from reconciler.hub.session import HubSession

    fleet.commit(files(level="b", web=crp(max_unavailable="lots")))
    session = HubSession()
    with HubRepo.local(fleet.path) as repo:
        reconcile_once(repo, LATER, session=session)
        reconcile_once(repo, LATER, session=session)  # settles: nothing written
        assert session.quiet(repo, repo.source_commit() or "", LATER + timedelta(seconds=5)) is not None


def test_an_update_kubefleet_refuses_keeps_that_placement_while_the_rest_moves_and_stays_refused(
    fleet: FleetWork,
) -> None:
    pick_n = crp(max_unavailable="100%").replace(
        "placementType: PickAll", "placementType: PickN\n    numberOfClusters: 2"
    )
    fleet.commit(files(level="b", version="2", web=pick_n))
    with HubRepo.local(fleet.path) as repo:
        result = reconcile_once(repo, LATER)
    assert result.loaded
    assert any("placementType is immutable" in f.message for f in result.findings)
    for c in CLUSTERS:
        assert "LEVEL: b" in fleet.read(bundle_ref(c), DEFAULTS)
        assert 'VERSION: "1"' in fleet.read(bundle_ref(c), SETTINGS)  # all four, not PickN's two
    assert "placementType is immutable" in fleet.read(STATUS, f"placements/{WEB}.yaml")
    agents_report(fleet, LATER)
    fleet.commit(files(level="c", version="3", web=pick_n))  # a later commit does not sneak it in
    reconcile(fleet, LATER + timedelta(minutes=1))
    for c in CLUSTERS:
        assert "LEVEL: c" in fleet.read(bundle_ref(c), DEFAULTS)
        assert 'VERSION: "1"' in fleet.read(bundle_ref(c), SETTINGS)
    assert "placementType is immutable" in fleet.read(STATUS, f"placements/{WEB}.yaml")
    agents_report(fleet, LATER + timedelta(minutes=1))
    reconcile(fleet, LATER + timedelta(minutes=2))
    assert reconcile(fleet, LATER + timedelta(minutes=3)) == []  # settled, still refused
    assert 'VERSION: "1"' in fleet.read(bundle_ref("eu-1"), SETTINGS)


def test_hub_reconcile_renders_a_commit_with_a_failed_object_and_exits_1_naming_it(fleet: FleetWork) -> None:
    from reconciler.hub.run import cli_reconcile

    fleet.commit(files(level="b", web=crp(max_unavailable="lots")))
    with HubRepo.local(fleet.path) as repo:
        text, code = cli_reconcile(repo, LATER)
    assert code == 1 and "1 error(s), the failed objects keep their last good state" in text
    assert "wrote 5 ref(s)" in text  # the platform placement's change went out
    assert "placements/web.yaml" in text and "maxUnavailable" in text


def test_an_override_with_an_error_goes_on_applying_its_last_good_rules(fleet: FleetWork) -> None:
    broken = files(level="b", version="2")
    broken["apps/web/override.yaml"] = broken["apps/web/override.yaml"].replace("op: replace", "op: bogus")
    fleet.commit(broken)
    reconcile(fleet, LATER)
    for c, region in CLUSTERS.items():
        settings = fleet.read(bundle_ref(c), SETTINGS)
        assert 'VERSION: "2"' in settings  # the resource moved on
        assert f"GREETING: hello from {c} in {region}" in settings  # through the last good override
    assert "apps/web/override.yaml" in fleet.read(STATUS, "status.yaml")
    assert "placement.kubernetes-fleet.io/ResourceOverride/web/greeting" in fleet.read(STATUS, "kept.yaml")
    fleet.commit(files(level="b", version="2"))  # fixed: nothing is kept any more
    reconcile(fleet, LATER + timedelta(minutes=1))
    assert "kept.yaml" not in fleet.tree(STATUS)


def test_an_override_of_a_missing_placement_applies_to_nothing_with_a_warning_in_status(
    fleet: FleetWork,
) -> None:
    from reconciler.status.memory import parse_memory

    dangling = files(level="b")
    dangling["apps/web/other.yaml"] = (
        dangling["apps/web/override.yaml"]
        .replace("name: greeting", "name: other")
        .replace("name: settings", "name: x")
        + "  placement:\n    name: nowhere\n    scope: Namespaced\n"
    )
    fleet.commit(dangling)
    reconcile(fleet, LATER)
    memory = parse_memory(fleet.read(STATUS, "status.yaml").encode() + b"\n")
    [warning] = memory.last_load.findings
    assert warning.severity == "warning" and "applies to nothing" in warning.message
    for c in CLUSTERS:
        assert "LEVEL: b" in fleet.read(bundle_ref(c), DEFAULTS)
