"""The hub loop against real git: bundles per cluster, one atomic update, nothing on a no-op."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetsync_contract.integrity import verify
from fleetsync_contract.report import (
    ClusterReport,
    Condition,
    Health,
    PlacementReport,
    dump_report,
    format_time,
)
from reconciler.errors import UserError
from reconciler.gitstore.refs import RefRace
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.inputs import LoadCache
from reconciler.hub.loop import ReconcileResult, reconcile_once
from reconciler.hub.run import Runner
from reconciler.hub.session import HubSession
from reconciler.load.fleet import LoadResult, load_directory
from reconciler.status.read import cli_get
from tests.support import TEMPLATE
from tests.support.fleethelpers import CLUSTERS, PLATFORM, FleetWork, base_files, crp, joined_fleet
from tests.support.gitdaemon import GitDaemon, git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
STATUS = "refs/heads/fleet/status"
KEY = "ClusterResourcePlacement/web"


def bundle_ref(cluster: str) -> str:
    return f"refs/heads/fleet/bundles/{cluster}"


@pytest.fixture
def fleet(tmp_path: Path) -> FleetWork:
    return joined_fleet(tmp_path / "fleet", NOW)


def reconcile(work: FleetWork, now: datetime = NOW) -> list[str]:
    with HubRepo.local(work.path) as repo:
        return list(reconcile_once(repo, now).written)


def hub_refs(work: FleetWork) -> dict[str, str]:
    return {r: s for r, s in work.refs().items() if r.startswith(("refs/heads/fleet/bundles/", STATUS))}


def test_a_fleet_reconciles_into_one_verified_bundle_branch_per_cluster_with_overrides(
    fleet: FleetWork,
) -> None:
    written = reconcile(fleet)
    assert sorted(written) == sorted([STATUS, *(bundle_ref(c) for c in CLUSTERS)])
    for cluster, region in CLUSTERS.items():
        files = {
            p: fleet.read(bundle_ref(cluster), p).encode() + b"\n" for p in fleet.tree(bundle_ref(cluster))
        }
        assert verify(files, cluster) == []
        assert sorted(p for p in files if p.startswith("manifests/")) == [
            f"manifests/{KEY}/core/ConfigMap/web/settings.yaml",
            f"manifests/{KEY}/core/Namespace/_cluster/web.yaml",
        ]
        settings = files[f"manifests/{KEY}/core/ConfigMap/web/settings.yaml"].decode()
        assert f"GREETING: hello from {cluster} in {region}" in settings
    status = fleet.read(STATUS, f"placements/{KEY}.yaml")
    assert "ClusterResourcePlacementScheduled" in status and 'observedResourceIndex: "0"' in status


def test_a_second_reconcile_writes_nothing_and_status_stays_byte_identical(fleet: FleetWork) -> None:
    reconcile(fleet)
    before = fleet.refs()
    assert reconcile(fleet, NOW + timedelta(seconds=30)) == []
    assert fleet.refs() == before


def test_a_commit_that_does_not_load_is_recorded_and_bundles_stay(fleet: FleetWork) -> None:
    reconcile(fleet)
    bundles = {r: s for r, s in hub_refs(fleet).items() if r != STATUS}
    # a repo-wide error (the settings file); one broken file fails only its objects (test_isolation.py)
    bad = fleet.commit({**base_files(version="2"), "fleetsync.yaml": "include: [unclosed\n"})
    assert reconcile(fleet, LATER) == [STATUS]
    assert {r: s for r, s in hub_refs(fleet).items() if r != STATUS} == bundles
    status = fleet.read(STATUS, "status.yaml")
    assert f"commit: {bad}" in status and "ok: false" in status and "fleetsync.yaml" in status
    assert reconcile(fleet, LATER + timedelta(minutes=1)) == []


def test_a_rolling_update_moves_clusters_in_batches_as_agents_report_available(fleet: FleetWork) -> None:
    reconcile(fleet)
    first = {c: fleet.bundle(c).bundle_id for c in CLUSTERS}
    fleet.commit(base_files(version="2"))
    # Nobody has reported the first version available: maxUnavailable 25% holds everyone.
    assert reconcile(fleet, LATER) == [STATUS]
    for c in CLUSTERS:
        fleet.report(c, LATER)
        fleet.beat(c, LATER)
    written = reconcile(fleet, LATER)
    moved = [r for r in written if r.startswith("refs/heads/fleet/bundles/")]
    assert moved == [bundle_ref("eu-1")]  # one of four at a time, in name order
    assert fleet.bundle("eu-1").bundle_id != first["eu-1"]
    assert fleet.bundle("us-2").bundle_id == first["us-2"]
    status = fleet.read(STATUS, f"placements/{KEY}.yaml")
    assert "RolloutNotStartedYet" in status


def test_a_placement_that_stops_selecting_a_cluster_removes_its_objects_with_removals(
    fleet: FleetWork,
) -> None:
    reconcile(fleet)
    fleet.commit(
        base_files(placement=crp(affinity_region="europe", max_unavailable="100%")),
        "europe only\n\nFleetsync-Allow-Prune: us-1, us-2",
    )
    for c in CLUSTERS:
        fleet.report(c, LATER)
        fleet.beat(c, LATER)
    written = reconcile(fleet, LATER)
    assert sorted(written) == sorted([STATUS, bundle_ref("us-1"), bundle_ref("us-2")])
    us = fleet.bundle("us-1")
    assert us.files == ()
    assert {(r.identity, r.reason) for r in us.removals} == {
        ("/ConfigMap/web/settings", "ClusterUnselected"),
        ("/Namespace//web", "ClusterUnselected"),
    }


def test_a_cluster_that_leaves_the_fleet_keeps_its_last_bundle(fleet: FleetWork) -> None:
    reconcile(fleet)
    before = fleet.refs()[bundle_ref("us-2")]
    fleet.commit(base_files(version="2", clusters={c: r for c, r in CLUSTERS.items() if c != "us-2"}))
    reconcile(fleet, LATER)
    assert fleet.refs()[bundle_ref("us-2")] == before
    assert "clusters/us-2.yaml" not in fleet.tree(STATUS)


def test_a_hub_killed_between_writing_objects_and_moving_refs_leaves_nothing_visible(
    fleet: FleetWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: HubRepo, updates: object) -> None:
        raise KeyboardInterrupt("killed")

    with HubRepo.local(fleet.path) as repo:
        monkeypatch.setattr(HubRepo, "publish", crash)
        with pytest.raises(KeyboardInterrupt):
            reconcile_once(repo, NOW)
        monkeypatch.undo()
        assert hub_refs(fleet) == {}
        result = reconcile_once(repo, NOW)
    assert len(result.written) == 1 + len(CLUSTERS)
    git(fleet.path, "fsck", "--no-dangling")


def test_a_force_pushed_fleet_repo_is_followed_and_bundle_history_only_grows(fleet: FleetWork) -> None:
    reconcile(fleet)
    old_bundle = fleet.refs()[bundle_ref("eu-1")]
    git(fleet.path, "checkout", "-q", "--orphan", "rewritten")
    rewritten = fleet.commit(base_files(version="rewritten", placement=crp(max_unavailable="100%")))
    git(fleet.path, "branch", "-qf", "main", "rewritten")
    for c in CLUSTERS:
        fleet.report(c, LATER)
        fleet.beat(c, LATER)
    reconcile(fleet, LATER)
    assert fleet.bundle("eu-1").source_commit == rewritten
    git(fleet.path, "merge-base", "--is-ancestor", old_bundle, bundle_ref("eu-1"))


def test_two_hubs_racing_one_wins_the_other_rereads_and_converges(
    git_daemon: GitDaemon, tmp_path: Path
) -> None:
    bare = git_daemon.create("fleet.git")
    work = joined_fleet(tmp_path / "fleet", NOW)
    git(work.path, "push", "-q", str(bare), "main", "refs/fleet/heartbeats/*:refs/fleet/heartbeats/*")
    url = git_daemon.url("fleet.git")
    with HubRepo.cached(tmp_path / "hub-a", url) as a, HubRepo.cached(tmp_path / "hub-b", url) as b:
        won: list[tuple[str, ...]] = []

        def race(message: str) -> None:  # hub A publishes while hub B is about to
            if message.startswith("publishing") and not won:
                won.append(reconcile_once(a, NOW + timedelta(seconds=1)).written)

        result = reconcile_once(b, NOW, progress=race)
        assert len(won[0]) == 1 + len(CLUSTERS)
        assert result.attempts == 2 and result.written == ()  # B re-read and found A's identical work
        assert reconcile_once(a, NOW).noop
        with pytest.raises(RefRace):  # without re-reading, a stale hub cannot overwrite

            def again(message: str) -> None:
                if message.startswith("publishing"):
                    git(
                        work.path,
                        "push",
                        "-qf",
                        str(bare),
                        f"{work.refs()['refs/heads/main']}:refs/heads/fleet/status",
                    )

            work.commit(base_files(version="3"))
            git(work.path, "push", "-q", str(bare), "main")
            reconcile_once(b, LATER, progress=again, max_attempts=1)


PROD = ("prod-eu-1", "prod-eu-2", "prod-us-1", "prod-us-2")


@pytest.fixture
def template(tmp_path: Path) -> FleetWork:
    work = FleetWork(tmp_path / "fleet")
    shutil.copytree(TEMPLATE, work.path, dirs_exist_ok=True)
    git(work.path, "add", "-A")
    git(work.path, "commit", "-qm", "fork the template")
    for c in sorted(p.stem for p in (work.path / "clusters").glob("*.yaml")):
        work.beat(c, NOW)
    return work


def placed(work: FleetWork, cluster: str) -> set[str]:
    """placement key -> objects on a cluster's bundle branch, as `placement identity` strings."""
    return {f"{f.placement.split('/')[-1]} {f.identity}" for f in work.bundle(cluster).files}


def test_the_template_fleet_reconciles_as_a_kubefleet_user_would_predict(template: FleetWork) -> None:
    written = reconcile(template)
    clusters = sorted(p.stem for p in (template.path / "clusters").glob("*.yaml"))
    assert sorted(written) == sorted([STATUS, *(bundle_ref(c) for c in clusters)])
    platform = {
        "platform /Namespace//platform",
        "platform /ConfigMap/platform/cluster-defaults",
        "platform rbac.authorization.k8s.io/ClusterRole//fleet-team-viewer",
    }
    monitoring = {o for o in placed(template, "prod-eu-1") if o.startswith("monitoring ")}
    assert "monitoring /Namespace//monitoring" in monitoring
    for c in clusters:
        objects = placed(template, c)
        assert platform <= objects, c  # PickAll, the tainted GPU cluster tolerated
        assert (monitoring <= objects) == (c in ("prod-eu-1", "prod-us-1")), c  # PickFixed
        # External: the template's run rolls checkout out stage by stage; staging comes first.
        assert any(o.startswith("checkout ") for o in objects) == (c == "staging-eu-1"), c
    assert "runs/ClusterStagedUpdateRun/_cluster/checkout-2-8-1.yaml" in template.tree(STATUS)
    assert reconcile(template, NOW + timedelta(seconds=30)) == []


def test_the_template_web_app_lands_on_three_production_clusters_with_its_overrides(
    template: FleetWork,
) -> None:
    reconcile(template)
    with_web = [c for c in PROD if any(o.startswith("web ") for o in placed(template, c))]
    assert len(with_web) == 3


def run_hub_until(runner: Runner, action: Callable[[], str]) -> list[ReconcileResult]:
    """Run the hub in a thread; after its first reconcile run ``action`` (it returns a new fleet
    commit) and wait, with a deadline, for a reconcile of that commit."""
    results: list[ReconcileResult] = []
    seen = threading.Condition()

    def record(r: ReconcileResult) -> None:
        with seen:
            results.append(r)
            seen.notify_all()

    runner.on_result = record
    thread = threading.Thread(target=runner.start, daemon=True)
    thread.start()
    try:
        with seen:
            assert seen.wait_for(lambda: len(results) >= 1, timeout=30)
        commit = action()
        with seen:
            assert seen.wait_for(lambda: any(r.source_commit == commit for r in results), timeout=30)
    finally:
        runner.stop()
        thread.join(timeout=10)
    return results


def test_a_commit_in_a_watched_local_repo_triggers_a_reconcile(fleet: FleetWork) -> None:
    with HubRepo.local(fleet.path) as repo:
        runner = Runner(repo, interval=3600, clock=lambda: NOW, watch=fleet.path / ".git")
        run_hub_until(runner, lambda: fleet.commit(base_files(version="2")))


def test_get_reads_placements_and_clusters_from_the_status_branch_like_kubectl(fleet: FleetWork) -> None:
    reconcile(fleet)
    with HubRepo.local(fleet.path) as repo:
        table = cli_get(repo, "placements", None, "table").splitlines()
        assert table[0].split() == [
            "NAME",
            "KIND",
            "SCHEDULED",
            "APPLIED",
            "AVAILABLE",
            "RESOURCE-INDEX",
            "CLUSTERS",
        ]
        assert table[1].split() == ["web", "ClusterResourcePlacement", "True", "Unknown", "0", "4"]
        one = json.loads(cli_get(repo, "placements", "web", "json"))
        assert one["kind"] == "ClusterResourcePlacement" and one["status"]["observedResourceIndex"] == "0"
        listed = json.loads(cli_get(repo, "clusters", None, "json"))
        assert listed["kind"] == "List" and [c["metadata"]["name"] for c in listed["items"]] == sorted(
            CLUSTERS
        )
        with pytest.raises(UserError, match="not found"):
            cli_get(repo, "clusters", "nope", "yaml")


def test_a_cluster_held_back_for_one_placement_keeps_its_old_files_while_another_placement_moves(
    fleet: FleetWork,
) -> None:
    platform_crp = crp(name="platform", max_unavailable="100%").replace(
        "name: web\n  policy", "name: platform\n  policy"
    )

    def files(version: str, level: str) -> dict[str, str]:
        return {
            **base_files(version=version),
            "apps/platform.yaml": PLATFORM.format(level=level),
            "placements/platform.yaml": platform_crp,
        }

    fleet.commit(files("1", "a"))
    reconcile(fleet)
    fleet.commit(files("2", "b"))
    for c in CLUSTERS:
        fleet.report(c, LATER)
        fleet.beat(c, LATER)
    reconcile(fleet, LATER)
    settings = f"manifests/{KEY}/core/ConfigMap/web/settings.yaml"
    defaults = "manifests/ClusterResourcePlacement/platform/core/ConfigMap/platform/defaults.yaml"
    assert 'VERSION: "2"' in fleet.read(bundle_ref("eu-1"), settings)  # web: the one cluster of this batch
    assert 'VERSION: "1"' in fleet.read(bundle_ref("us-2"), settings)  # web: held, files as they were
    for c in CLUSTERS:
        assert "LEVEL: b" in fleet.read(bundle_ref(c), defaults)  # platform: maxUnavailable 100%
    web = {bp.key: bp.resource_index for bp in fleet.bundle("us-2").placements}
    assert web == {KEY: 0, "ClusterResourcePlacement/platform": 1}


def test_a_long_running_hub_does_not_parse_an_unchanged_fleet_tree_twice(fleet: FleetWork) -> None:
    cache = LoadCache(size=1)
    with HubRepo.local(fleet.path) as repo:
        head = repo.source_commit()
        assert head is not None
        first = cache.load(repo, head).result
        assert cache.load(repo, head).result is first
        other = fleet.commit(base_files(version="2"))
        assert cache.load(repo, other).result is not first
        assert cache.load(repo, head).result is not first  # size 1: the older tree was let go


PARAM_POLICY = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: banned-version
  annotations: {fleetsync.io/default-action: Deny}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["configmaps"]
  validations:
    - expression: "!has(object.data.VERSION) || object.data.VERSION != params.data.banned"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: banned-version
spec:
  policyName: banned-version
  validationActions: [Deny]
  paramRef: {name: banned, namespace: web}
"""
BANNED = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: banned, namespace: web}}\ndata: {{banned: '{v}'}}\n"
)


def test_a_policy_set_is_compiled_once_while_the_repo_policies_stay_even_if_a_message_says_paramref(
    fleet: FleetWork,
) -> None:
    mentions = DENY_BIG_CONFIGMAPS.replace(
        '"VERSION must not be forbidden"', '"VERSION must not be forbidden (this policy has no paramRef)"'
    )
    loads = LoadCache()
    with HubRepo.local(fleet.path) as repo:
        first = loads.load(repo, fleet.commit({**base_files(), "policies/deny.yaml": mentions})).policies
        second = loads.load(
            repo, fleet.commit({**base_files(version="2"), "policies/deny.yaml": mentions})
        ).policies
    assert first is not None and second is first  # compiling CEL is most of a load: not again


def test_a_binding_with_a_param_ref_sees_its_parameter_object_change_in_the_next_commit(
    fleet: FleetWork,
) -> None:
    loads = LoadCache()
    with HubRepo.local(fleet.path) as repo:
        commit = fleet.commit(
            {
                **base_files(),
                "policies/banned.yaml": PARAM_POLICY,
                "apps/web/banned.yaml": BANNED.format(v="1"),
            }
        )
        first = loads.load(repo, commit).policies
        commit = fleet.commit(
            {
                **base_files(),
                "policies/banned.yaml": PARAM_POLICY,
                "apps/web/banned.yaml": BANNED.format(v="2"),
            }
        )
        second = loads.load(repo, commit).policies
    assert first is not None and second is not None
    assert first.params[("v1", "ConfigMap", "web", "banned")]["data"] == {"banned": "1"}
    assert second.params[("v1", "ConfigMap", "web", "banned")]["data"] == {"banned": "2"}


def test_a_reconcile_without_a_session_remembers_nothing_and_one_with_a_session_loads_a_tree_once(
    fleet: FleetWork,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import reconciler.hub.inputs as inputs

    loads: list[Path] = []
    real = load_directory

    def counted(path: Path) -> LoadResult:
        loads.append(path)
        return real(path)

    monkeypatch.setattr(inputs, "load_directory", counted)
    with HubRepo.local(fleet.path) as repo:  # one repo object, as a caller that keeps it open has
        reconcile_once(repo, NOW)
        assert reconcile_once(repo, LATER).noop
        assert len(loads) == 2  # no hidden cache behind the repo object: each call starts afresh
        session = HubSession()
        reconcile_once(repo, NOW, session=session)
        for i in range(3):
            assert reconcile_once(repo, LATER + timedelta(seconds=i), session=session).noop
        assert len(loads) == 3


def test_a_placement_version_follows_content_whatever_digests_earlier_clusters_left() -> None:
    from dataclasses import replace

    from reconciler.api.meta import ObjectMeta, Origin
    from reconciler.api.placement import Placement, ResourceSelector
    from reconciler.hub.overrides import OverriddenObject, OverrideResult
    from reconciler.hub.render import placement_version

    web = Placement(
        "ClusterResourcePlacement",
        "placement.kubernetes-fleet.io/v1beta1",
        ObjectMeta("web", ""),
        Origin("fleet.yaml", 1),
        (ResourceSelector("", "v1", "Namespace", "web"),),
    )
    ns = OverriddenObject(
        "",
        "v1",
        "Namespace",
        "",
        "web",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}},
    )
    cm = OverriddenObject(
        "",
        "v1",
        "ConfigMap",
        "web",
        "settings",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "web"},
            "data": {"mode": "on"},
        },
    )

    def version(index: int, *objects: Any, digests: dict[str, str]) -> str:
        return placement_version(web, index, OverrideResult(tuple(objects)), digests)

    digests: dict[str, str] = {}
    shared = version(0, ns, cm, digests=digests)
    assert version(0, ns, cm, digests={}) == shared  # the digests are a memo, never an input
    mine = replace(cm, manifest={**cm.manifest, "data": {"mode": "eu-1"}}, patched=True)
    theirs = replace(cm, manifest={**cm.manifest, "data": {"mode": "us-1"}}, patched=True)
    assert len({version(0, ns, mine, digests=digests), version(0, ns, theirs, digests=digests), shared}) == 3
    older = replace(cm, manifest={**cm.manifest, "data": {"mode": "off"}})  # snapshot 1's object
    assert version(1, ns, older, digests=digests) == version(1, ns, older, digests={})
    assert version(0, ns, cm, digests=digests) == shared


def test_a_deleted_placement_removes_its_objects_from_every_bundle(fleet: FleetWork) -> None:
    reconcile(fleet)
    fleet.commit(
        {k: v for k, v in base_files().items() if k != "placements/web.yaml"},
        "delete web\n\nFleetsync-Allow-Prune: all",
    )
    written = reconcile(fleet, LATER)
    assert sorted(written) == sorted([STATUS, *(bundle_ref(c) for c in CLUSTERS)])
    for c in CLUSTERS:
        bundle = fleet.bundle(c)
        assert bundle.files == () and bundle.placements == ()
        assert {r.reason for r in bundle.removals} == {"PlacementDeleted"}
    assert not any(p.startswith("placements/") for p in fleet.tree(STATUS))


def test_a_malformed_report_or_an_unusable_ref_name_costs_only_that_input(fleet: FleetWork) -> None:
    fleet._put("refs/heads/fleet/reports/eu-1", "report.yaml", b"kind: [not a report\n")
    fleet._put("refs/heads/fleet/reports/-x", "report.yaml", b"")
    assert STATUS in reconcile(fleet)
    assert len(fleet.bundle("eu-1").files) == 2


EVICTION = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacementEviction
metadata:
  name: evict-us-1
spec:
  placementName: web
  clusterName: us-1
"""
TAINT = """  taints:
    - {key: maintenance, value: "true", effect: NoSchedule}
"""


def test_an_executed_eviction_takes_the_placement_off_a_tainted_cluster_once(fleet: FleetWork) -> None:
    reconcile(fleet)
    files = base_files()
    files["clusters/us-1.yaml"] += TAINT
    fleet.commit({**files, "evictions/us-1.yaml": EVICTION}, "evict\n\nFleetsync-Allow-Prune: us-1")
    written = reconcile(fleet, LATER)
    assert sorted(written) == [bundle_ref("us-1"), STATUS]
    assert {(r.identity, r.reason) for r in fleet.bundle("us-1").removals} == {
        ("/ConfigMap/web/settings", "ClusterUnselected"),
        ("/Namespace//web", "ClusterUnselected"),
    }
    doc = fleet.read(STATUS, "evictions/evict-us-1.yaml")
    assert "reason: ClusterResourcePlacementEvictionExecuted" in doc
    assert "- evict-us-1" in fleet.read(STATUS, "status.yaml")
    assert reconcile(fleet, LATER + timedelta(seconds=30)) == []  # terminal: never evaluated again


DENY_BIG_CONFIGMAPS = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: no-forbidden-greeting
  annotations: {fleetsync.io/default-action: Deny}
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["configmaps"]
  validations:
    - expression: "!has(object.data.VERSION) || object.data.VERSION != 'forbidden'"
      message: "VERSION must not be forbidden"
"""


def test_a_deny_policy_violation_holds_the_cluster_on_its_previous_bundle(fleet: FleetWork) -> None:
    fleet.commit(
        {**base_files(placement=crp(max_unavailable="100%")), "policies/deny.yaml": DENY_BIG_CONFIGMAPS}
    )
    reconcile(fleet)
    before = {c: fleet.bundle(c).bundle_id for c in CLUSTERS}
    fleet.commit(
        {
            **base_files(version="forbidden", placement=crp(max_unavailable="100%")),
            "policies/deny.yaml": DENY_BIG_CONFIGMAPS,
        }
    )
    for c in CLUSTERS:
        fleet.report(c, LATER)
        fleet.beat(c, LATER)
    assert reconcile(fleet, LATER) == [STATUS]
    assert {c: fleet.bundle(c).bundle_id for c in CLUSTERS} == before
    status = fleet.read(STATUS, f"placements/{KEY}.yaml")
    assert "policy: no-forbidden-greeting" in status and "blocked by policy no-forbidden-greeting" in status
    assert reconcile(fleet, LATER + timedelta(seconds=30)) == []


def status_commits(work: FleetWork) -> int:
    return int(git(work.path, "rev-list", "--count", STATUS))


@pytest.mark.parametrize("long_running", [False, True])
def test_heartbeats_alone_never_grow_the_status_branch_and_a_stale_one_changes_it_once(
    fleet: FleetWork, long_running: bool
) -> None:
    kept = HubRepo.local(fleet.path)
    session = HubSession()

    def reconcile_at(now: datetime) -> list[str]:
        if long_running:  # one hub process: its session and quiet passes are in play
            return list(reconcile_once(kept, now, session=session).written)
        return reconcile(fleet, now)

    with kept:
        reconcile_at(NOW)
        before = status_commits(fleet)
        when = NOW
        for _ in range(6):  # every agent beats, nothing else happens
            when += timedelta(seconds=30)
            for c in CLUSTERS:
                fleet.beat(c, when)
            assert reconcile_at(when) == []
        assert status_commits(fleet) == before
        for _ in range(12):  # eu-1 falls silent; the others keep beating past the 5 minute timeout
            when += timedelta(seconds=30)
            for c in CLUSTERS:
                if c != "eu-1":
                    fleet.beat(c, when)
            reconcile_at(when)
        assert status_commits(fleet) == before + 1
        doc = fleet.read(STATUS, "clusters/eu-1.yaml")
        assert "fleetsync.io/eligible: 'false'" in doc or 'fleetsync.io/eligible: "false"' in doc


def test_get_clusters_shows_the_last_heartbeat_read_live_from_the_heartbeat_refs(fleet: FleetWork) -> None:
    reconcile(fleet)
    fleet.beat("eu-1", LATER)
    with HubRepo.local(fleet.path) as repo:
        listed = json.loads(cli_get(repo, "clusters", None, "json"))
        beats = {
            c["metadata"]["name"]: c["status"]["agentStatus"][0]["lastReceivedHeartbeat"]
            for c in listed["items"]
        }
        assert beats == {
            c: "2026-11-25T03:01:00Z" if c == "eu-1" else "2026-11-25T03:00:00Z" for c in CLUSTERS
        }
        assert "LAST-HEARTBEAT" in cli_get(repo, "clusters", None, "table").splitlines()[0]
        assert "2026-11-25T03:01:00Z" in cli_get(repo, "clusters", "eu-1", "table")
    assert "lastReceivedHeartbeat" not in fleet.read(STATUS, "clusters/eu-1.yaml")


def test_objects_written_in_one_pass_land_in_one_pack_that_git_verifies(fleet: FleetWork) -> None:
    files = {f"manifests/d{i % 7}/f{i}.yaml": f"value: {i}\n".encode() * (i % 40 + 1) for i in range(200)}
    with HubRepo.local(fleet.path) as repo:
        with repo.batch():
            commit = repo.write_commit(repo.write_tree(files), [], "many", NOW)
            assert repo.read_files(commit, "manifests/d3") == {p: d for p, d in files.items() if "/d3/" in p}
            again = repo.write_commit(repo.write_tree({"one.yaml": b"x: 1\n"}), [commit], "more", NOW)
        assert repo.read_files(again) == {"one.yaml": b"x: 1\n"}
        assert repo.read_files(commit) == files
    assert len(list((fleet.path / ".git" / "objects" / "pack").glob("pack-*.idx"))) == 1
    git(fleet.path, "fsck", "--strict", "--no-dangling")
    assert git(fleet.path, "cat-file", "-t", again) == "commit"


def test_reading_earlier_commits_inside_a_pass_does_not_split_its_pack(fleet: FleetWork) -> None:
    """The loop reads each cluster's previous bundle between writes; those reads must not flush
    the pass's pending objects (a git process and a pack or loose objects per cluster)."""
    with HubRepo.local(fleet.path) as repo:
        before = repo.write_commit(repo.write_tree({"old.yaml": b"v: 0\n"}), [], "before", NOW)
        packs = set((fleet.path / ".git" / "objects" / "pack").glob("pack-*.idx"))
        with repo.batch():  # a and b together: 106 objects, written as one pack when first read
            first = repo.write_commit(
                repo.write_tree({f"a/f{i}.yaml": f"a: {i}\n".encode() for i in range(50)}), [], "a", NOW
            )
            assert repo.read_file(before, "old.yaml") == b"v: 0\n"
            assert repo.read_files(before) == {"old.yaml": b"v: 0\n"}
            assert repo.tree_id(before)
            assert not stored(fleet, first)  # still pending: the reads above wrote nothing
            second = repo.write_commit(
                repo.write_tree({f"b/f{i}.yaml": f"b: {i}\n".encode() for i in range(50)}), [first], "b", NOW
            )
            assert repo.read_file(first, "a/f7.yaml") == b"a: 7\n"  # a pending commit is readable
            assert stored(fleet, first) and stored(fleet, second)  # ...by writing what is pending
        assert repo.read_file(second, "b/f3.yaml") == b"b: 3\n"
    assert len(set((fleet.path / ".git" / "objects" / "pack").glob("pack-*.idx")) - packs) == 1
    git(fleet.path, "fsck", "--strict", "--no-dangling")


def stored(work: FleetWork, sha: str) -> bool:
    return subprocess.run(["git", "-C", str(work.path), "cat-file", "-e", sha], check=False).returncode == 0


def report_untrackable(work: FleetWork, cluster: str, since: datetime) -> None:
    """Available, but only since ``since`` and not trackable: the rollout waits it out."""
    bundle = work.bundle(cluster)
    stamp = format_time(since)
    placements = tuple(
        PlacementReport(
            p.key,
            p.resource_index,
            bundle.bundle_id,
            (
                Condition("Applied", "True", "AllManifestsApplied", "", stamp),
                Condition("Available", "True", "WorkNotTrackable", "", stamp),
            ),
            (),
        )
        for p in bundle.placements
    )
    rep = ClusterReport(
        cluster, "0.1.0", stamp, bundle.bundle_id, health=Health(True, "", stamp), placements=placements
    )
    work._put(f"refs/heads/fleet/reports/{cluster}", "report.yaml", dump_report(rep))


def test_a_long_running_hub_moves_a_rollout_when_its_unavailable_period_ends_without_new_input(
    fleet: FleetWork,
) -> None:
    session = HubSession()  # one hub process: quiet passes are in play
    with HubRepo.local(fleet.path) as kept:
        reconcile_once(kept, NOW, session=session)
        since = NOW + timedelta(minutes=1)
        for c in CLUSTERS:
            report_untrackable(fleet, c, since)
            fleet.beat(c, since)
        fleet.commit(base_files(version="2"))
        first = reconcile_once(kept, since, session=session)
        assert first.requeue_after == timedelta(seconds=60)  # untrackable: wait unavailablePeriodSeconds
        assert not [r for r in first.written if r.startswith("refs/heads/fleet/bundles/")]
        for later in (10, 30, 59):  # nothing new arrives; passes are no-ops until the wait ends
            assert reconcile_once(kept, since + timedelta(seconds=later), session=session).written == ()
        moved = reconcile_once(kept, since + timedelta(seconds=61), session=session).written
        assert bundle_ref("eu-1") in moved
