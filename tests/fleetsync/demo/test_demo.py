"""`fleetsync demo` end to end: template repo → bundles → agents → reports → placement status → drift.

The demo runs once per module through the real CLI (typer's CliRunner), against simulated members
(kubesim) and a bare remote in a temporary directory it keeps (``--keep``); the tests then read
what it left in Git, as a user would with ``git log`` — nothing is asserted on in-process objects.
The same demo runs with one template cluster mapped onto a real cluster when
FLEETSYNC_E2E_KUBECONFIG names one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync.cli.conventions import utcnow
from fleetsync.demo.fleet import Target, node_plan
from fleetsync.demo.story import TEMPLATE, detects_drift, drift_target, external_placements, resolve_targets
from fleetsync.ui.model import CommitLinks
from fleetsync.ui.serve import serving_ui
from fleetsync_contract.canonical import load
from fleetsync_contract.integrity import verify
from fleetsync_contract.report import parse_drift
from kubesim.server import KubeSim
from reconciler.errors import UserError
from reconciler.gitstore.repo import HubRepo
from reconciler.load.fleet import load_directory
from tests.support.browser import artefacts, chromium, screenshot

SPEC = load_directory(TEMPLATE).spec
CLUSTERS = sorted(SPEC.members)
EXTERNAL = external_placements(TEMPLATE)


def git(remote: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def yaml_at(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = load(text.encode() + b"\n")
    return doc


def status_doc(remote: Path, key: str, rev: str = "fleet/status") -> dict[str, Any]:
    doc: dict[str, Any] = yaml_at(git(remote, "show", f"{rev}:placements/{key}.yaml"))
    return doc


def per_cluster(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["clusterName"]: p for p in doc["status"].get("placementStatuses") or []}


def conditions(entry: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in entry.get("conditions") or []}


@dataclass(frozen=True)
class Run:
    exit_code: int
    output: str
    root: Path

    @property
    def remote(self) -> Path:
        return self.root / "remote.git"


@pytest.fixture(scope="module")
def demo() -> Iterator[Run]:
    before = set(threading.enumerate())
    result = CliRunner().invoke(app, ["demo", "--keep"])
    kept = re.search(r"^kept (\S+) ", result.output, re.MULTILINE)
    assert kept, result.output
    run = Run(result.exit_code, result.output, Path(kept.group(1)))
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leftover, f"the demo left threads running: {leftover}"
    yield run
    shutil.rmtree(run.root, ignore_errors=True)


@pytest.mark.slow
def test_the_demo_passes_every_stage_and_exits_zero(demo: Run) -> None:
    assert demo.exit_code == 0, demo.output
    for stage in ("repo:", "members:", "join:", "converge:", "staged:", "drift:"):
        assert f"==> {stage}" in demo.output
    assert "demo finished: every stage passed" in demo.output


@pytest.mark.slow
def test_the_kept_demo_ends_with_the_url_of_its_fleet_view_and_stops_serving_it(demo: Run) -> None:
    # CliRunner's stdin is empty: the view stops at once (the fixture checks no thread is left)
    url = re.search(r"^fleet view of the demo fleet: (http://127\.0\.0\.1:\d+/)$", demo.output, re.MULTILINE)
    assert url, demo.output
    assert demo.output.rstrip().endswith("Enter or Ctrl-C stops the view")
    with pytest.raises(OSError):
        urllib.request.urlopen(url.group(1), timeout=5)


@pytest.mark.slow
def test_the_demo_fleet_shows_in_a_real_browser_and_leaves_a_screenshot(demo: Run, tmp_path: Path) -> None:
    """What ``./dev demo --keep`` shows, in headless Chromium (tests/support/browser.py); the
    screenshot is docs/ui-fleet.png's source (docs/ui.md)."""
    with (
        chromium(tmp_path / "profile") as browser,
        HubRepo.local(demo.remote) as repo,
        serving_ui(("127.0.0.1", 0), repo, str(demo.remote), CommitLinks(None), now=utcnow) as server,
    ):
        browser.get(f"http://127.0.0.1:{server.port}/")
        rows = [r.text for r in browser.find_elements("css selector", "tbody th[scope=row]")]
        shot = artefacts(tmp_path) / "demo-fleet.png"
        screenshot(browser, shot)
    assert sorted(rows) == CLUSTERS
    assert shot.stat().st_size > 10_000, "the screenshot is an empty page"


# -- the staged rollout: the template's run, committed once the clusters joined -------------------
RUN = "checkout-2-8-1"
CHECKOUT = "ClusterResourcePlacement/checkout"


def run_stages(remote: Path) -> dict[str, list[str]]:
    doc = yaml_at(git(remote, "show", f"fleet/status:runs/ClusterStagedUpdateRun/_cluster/{RUN}.yaml"))
    run = conditions(doc["status"])
    assert (run["Initialized"], run["Succeeded"]) == ("True", "True"), run
    return {s["stageName"]: [c["clusterName"] for c in s["clusters"]] for s in doc["status"]["stagesStatus"]}


@pytest.mark.slow
def test_the_templates_staged_run_succeeds_and_puts_checkout_on_the_clusters_of_every_stage(
    demo: Run,
) -> None:
    stages = run_stages(demo.remote)
    assert stages == {
        "staging": ["staging-eu-1"],
        "canary": ["canary-us-1"],
        "production": ["prod-eu-1", "prod-eu-2", "prod-us-1", "prod-us-2"],  # rollout-order; gpu-us-1 tainted
    }
    placed = per_cluster(status_doc(demo.remote, CHECKOUT))
    assert sorted(placed) == sorted(c for cs in stages.values() for c in cs)
    for cluster, entry in placed.items():
        assert conditions(entry)["Available"] == "True", cluster
        files = git(demo.remote, "ls-tree", "-r", "--name-only", f"fleet/bundles/{cluster}").splitlines()
        assert any("checkout" in f for f in files if f.startswith("manifests/")), (cluster, files)


@pytest.mark.slow
def test_the_run_is_committed_after_the_clusters_joined_and_approved_with_fleetsync_approve(
    demo: Run,
) -> None:
    root = git(demo.remote, "rev-list", "--max-parents=0", "main")
    added = git(demo.remote, "log", "--format=%H", "main", "--", f"rollouts/{RUN}.yaml").splitlines()
    assert added and root not in added  # held back from the first commit: a run needs joined clusters
    approvals = git(demo.remote, "ls-tree", "--name-only", "main", "approvals/").splitlines()
    assert approvals == [f"approvals/{RUN}-after-production.yaml", f"approvals/{RUN}-before-canary.yaml"]
    story = [
        "run checkout-2-8-1: UpdateRunProgressing, stage staging: staging-eu-1 to become available",
        f"$ fleetsync approve {RUN} canary --before",
        "stage canary: canary-us-1 to become available",
        "demo clock +1h00m: the TimedWait after stage canary ends",
        "stage production: prod-eu-1 to become available",
        "stage production: prod-us-2 to become available",
        f"$ fleetsync approve {RUN} production --after",
        f"run {RUN}: UpdateRunSucceeded",
    ]
    at = [demo.output.find(line) for line in story]
    assert -1 not in at and at == sorted(at), list(zip(story, at, strict=True))


@pytest.mark.slow
def test_every_template_cluster_got_a_verified_bundle_branch(demo: Run) -> None:
    for cluster in CLUSTERS:
        tree = git(demo.remote, "ls-tree", "-r", "--name-only", f"fleet/bundles/{cluster}").splitlines()
        files = {
            p: git(demo.remote, "cat-file", "blob", f"fleet/bundles/{cluster}:{p}").encode() + b"\n"
            for p in tree
        }
        assert verify(files, cluster) == [], cluster


@pytest.mark.slow
def test_every_agent_pushed_a_report_and_a_heartbeat(demo: Run) -> None:
    refs = git(demo.remote, "for-each-ref", "--format=%(refname)").splitlines()
    for cluster in CLUSTERS:
        assert f"refs/heads/fleet/reports/{cluster}" in refs
        assert f"refs/fleet/heartbeats/{cluster}" in refs
        report = yaml_at(git(demo.remote, "show", f"fleet/reports/{cluster}:report.yaml"))
        bundle = yaml_at(git(demo.remote, "show", f"fleet/bundles/{cluster}:bundle.yaml"))
        assert report["appliedBundleId"] == bundle["bundleId"], cluster


@pytest.mark.slow
def test_each_agent_reported_what_its_cluster_declares_and_the_hub_published_it(demo: Run) -> None:
    for cluster in CLUSTERS:
        doc = yaml_at(git(demo.remote, "show", f"fleet/status:clusters/{cluster}.yaml"))
        props = doc["status"]["properties"]
        declared = SPEC.members[cluster]
        for name in ("kubernetes-fleet.io/node-count", "kubernetes.azure.com/per-cpu-core-cost"):
            assert props[name]["value"] == declared.properties[name].value, (cluster, name)
            assert props[name]["observationTime"], (cluster, name)  # observed by the agent, not copied
        assert declared.resource_usage is not None
        assert doc["status"]["resourceUsage"]["capacity"] == dict(declared.resource_usage.capacity)


@pytest.mark.slow
def test_placement_status_showed_applied_and_available_on_every_picked_cluster_before_the_drift(
    demo: Run,
) -> None:
    # The demo's last reconcile folds the drift in; the status commit before it is the converged fleet.
    rolled_out = [k for k in SPEC.placements if k not in EXTERNAL]
    assert rolled_out
    for key in rolled_out:
        doc = status_doc(demo.remote, key, "fleet/status~1")
        top = {c["type"]: c["status"] for c in doc["status"]["conditions"]}
        assert top["ClusterResourcePlacementApplied"] == "True", key
        assert top["ClusterResourcePlacementAvailable"] == "True", key
        picked = per_cluster(doc)
        assert picked, key
        for cluster, entry in picked.items():
            assert conditions(entry)["Applied"] == "True", (key, cluster)
            assert conditions(entry)["Available"] == "True", (key, cluster)


@pytest.mark.slow
def test_every_cluster_got_what_its_placements_picked(demo: Run) -> None:
    platform = per_cluster(status_doc(demo.remote, "ClusterResourcePlacement/platform"))
    assert sorted(platform) == CLUSTERS  # PickAll, tolerating the GPU taint
    monitoring = per_cluster(status_doc(demo.remote, "ClusterResourcePlacement/monitoring"))
    assert sorted(monitoring) == ["prod-eu-1", "prod-us-1"]  # PickFixed
    web = per_cluster(status_doc(demo.remote, "ClusterResourcePlacement/web"))
    assert len(web) == 3 and all(SPEC.members[c].labels["environment"] == "production" for c in web)


@pytest.mark.slow
def test_the_drift_commit_names_the_scaled_field_on_that_clusters_report_branch(demo: Run) -> None:
    scaled = re.search(
        r"^(\S+): (apps/Deployment/\S+) spec\.replicas (\d+) -> (\d+)", demo.output, re.MULTILINE
    )
    assert scaled, demo.output
    cluster, ident, hub, member = scaled.groups()
    message = git(demo.remote, "log", "-1", "--format=%B", f"fleet/reports/{cluster}")
    assert message.splitlines()[0] == f"drift: {cluster} {ident} /spec/replicas {hub}→{member}"
    _, _, namespace, name = ident.split("/", 3)
    placement = "ClusterResourcePlacement/web"
    path = f"drift/{placement}/apps/Deployment/{namespace}/{name}.yaml"
    drift = parse_drift(git(demo.remote, "show", f"fleet/reports/{cluster}:{path}").encode() + b"\n")
    assert drift.identity == ident and drift.placement == placement
    assert [(d.path, d.value_in_hub, d.value_in_member) for d in drift.details] == [
        ("/spec/replicas", hub, member)
    ]
    # ... and the hub folded it into the placement's status
    entry = per_cluster(status_doc(demo.remote, placement))[cluster]
    assert [(d["kind"], d["name"]) for d in entry["driftedPlacements"]] == [("Deployment", name)]


@pytest.mark.slow
def test_the_demo_prints_where_everything_landed(demo: Run) -> None:
    table = demo.output.split("where everything landed", 1)[1]
    for cluster in CLUSTERS:
        assert re.search(rf"^{re.escape(cluster)}\s+platform\s+\d+\s+True\s+True", table, re.MULTILINE), (
            cluster
        )
    assert "ClusterResourcePlacementAvailable" in table


# -- the parts of the demo that are pure functions ----------------------------------------------------
@pytest.mark.parametrize(
    ("contexts", "mapping", "expected"),
    [
        ((), (), {}),
        (("kind-a",), (), {CLUSTERS[0]: "kind-a"}),
        (("kind-a",), (("prod-eu-1", "kind-p"),), {"prod-eu-1": "kind-p", CLUSTERS[0]: "kind-a"}),
        ((), (("gpu-us-1", "gpu"),), {"gpu-us-1": "gpu"}),
    ],
)
def test_contexts_map_onto_template_clusters_in_name_order_after_explicit_maps(
    contexts: tuple[str, ...], mapping: tuple[tuple[str, str], ...], expected: dict[str, str]
) -> None:
    kubeconfig = "/k" if expected else None
    got = resolve_targets(CLUSTERS, kubeconfig, contexts, mapping)
    assert {c: t.context for c, t in got.items()} == expected
    assert all(t == Target(t.context, kubeconfig) for t in got.values())


@pytest.mark.parametrize(
    ("kubeconfig", "contexts", "mapping", "message"),
    [
        (None, (), (("nowhere", "x"),), "no cluster 'nowhere'"),
        (None, (), (("gpu-us-1", "a"), ("gpu-us-1", "b")), "mapped twice"),
        (None, tuple(f"c{i}" for i in range(len(CLUSTERS) + 1)), (), "template clusters left"),
        ("/k", (), (), "needs --context or --map"),
    ],
)
def test_a_mapping_that_cannot_be_honoured_is_a_user_error(
    kubeconfig: str | None, contexts: tuple[str, ...], mapping: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        resolve_targets(CLUSTERS, kubeconfig, contexts, mapping)


def test_simulated_nodes_reproduce_each_clusters_declared_count_capacity_and_cpu_cost() -> None:
    plan = node_plan(SPEC.members["prod-eu-1"])  # declares 12 nodes, 48 CPUs, 192Gi, 0.042 per core
    assert (plan.count, plan.cpu, plan.memory) == (12, "4", "16Gi")
    assert plan.hourly_price is not None and f"{plan.hourly_price / 4:.3f}" == "0.042"


@pytest.mark.parametrize(
    ("strategy", "reports"),
    [
        ({}, False),
        ({"type": "ClientSideApply", "whenToApply": "Always"}, False),
        ({"type": "ServerSideApply", "serverSideApplyConfig": {"force": True}}, False),
        ({"whenToApply": "IfNotDrifted"}, True),
        ({"comparisonOption": "FullComparison"}, True),
        ({"type": "ReportDiff"}, True),
        ({"type": "ServerSideApply", "serverSideApplyConfig": {"force": False}}, True),
    ],
)
def test_only_strategies_that_report_drift_are_chosen_for_the_drift_stage(
    strategy: dict[str, Any], reports: bool
) -> None:
    assert detects_drift(strategy) is reports


def test_the_drift_target_is_none_when_no_placed_deployment_reports_drift() -> None:
    assert drift_target({}, []) is None


@pytest.mark.slow
def test_the_demo_runs_on_contexts_of_a_kubeconfig_instead_of_its_own_simulators(tmp_path: Path) -> None:
    # Clusters the demo did not start, reachable only through one kubeconfig with a context each:
    # to the demo they are real clusters (so the drift is made with kubectl, not through kubesim).
    merged: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
    }
    with ExitStack() as stack:
        for cluster in CLUSTERS:
            sim = stack.enter_context(KubeSim())
            plan = node_plan(SPEC.members[cluster])
            for i in range(plan.count):
                sim.add_node(f"{cluster}-{i}", cpu=plan.cpu, memory=plan.memory)
            doc = json.loads(
                sim.write_kubeconfig(tmp_path / f"{cluster}.json", context=f"ctx-{cluster}").read_text()
            )
            for section in ("clusters", "users", "contexts"):
                merged[section] += doc[section]
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps(merged))
        args = ["demo", "--kubeconfig", str(kubeconfig), "--map", f"{CLUSTERS[-1]}=ctx-{CLUSTERS[-1]}"]
        for cluster in CLUSTERS[:-1]:
            args += ["--context", f"ctx-{cluster}"]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for cluster in CLUSTERS:
        assert f"  {cluster}: context ctx-{cluster}" in result.output
    assert "kubesim https://" not in result.output
    assert re.search(
        r"^  drift: \S+ apps/Deployment/\S+ /spec/replicas \d+→\d+$", result.output, re.MULTILINE
    )


@pytest.mark.e2e
@pytest.mark.skipif(
    not os.environ.get("FLEETSYNC_E2E_KUBECONFIG"),
    reason="FLEETSYNC_E2E_KUBECONFIG does not name a real cluster's kubeconfig",
)
def test_the_demo_runs_with_one_template_cluster_on_a_real_cluster() -> None:
    kubeconfig = os.environ["FLEETSYNC_E2E_KUBECONFIG"]
    context = (
        os.environ.get("FLEETSYNC_E2E_CONTEXT")
        or subprocess.run(
            ["kubectl", f"--kubeconfig={kubeconfig}", "config", "current-context"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    result = CliRunner().invoke(app, ["demo", "--kubeconfig", kubeconfig, "--map", f"prod-eu-1={context}"])
    assert result.exit_code == 0, result.output
    assert f"prod-eu-1: context {context}" in result.output


# -- failing stages ------------------------------------------------------------------------------
SMALL_FLEET = {
    "clusters/a.yaml": "apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\n"
    "metadata: {name: a, labels: {environment: test}}\nspec: {}\n",
    "placements/app.yaml": "apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ClusterResourcePlacement\n"
    "metadata: {name: app}\nspec:\n  resourceSelectors:\n"
    "  - {group: '', version: v1, kind: Namespace, name: app}\n"
    "  policy: {placementType: PickAll}\n",
    "app.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\n"
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app, namespace: app}\nspec:\n"
    "  replicas: 1\n  selector: {matchLabels: {app: app}}\n  template:\n"
    "    metadata: {labels: {app: app}}\n"
    "    spec: {containers: [{name: app, image: 'nginx:1.27'}]}\n",
}


def write_fleet(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.slow
def test_a_fleet_whose_placements_silently_reapply_fails_the_drift_stage_and_stops_everything(
    tmp_path: Path,
) -> None:
    before = set(threading.enumerate())
    result = CliRunner().invoke(app, ["demo", "--template", str(write_fleet(tmp_path, SMALL_FLEET))])
    assert result.exit_code == 3, result.output
    assert "converge: " not in result.output.split("demo failed:", 1)[1]
    assert "drift: no placed Deployment belongs to a placement that reports drift" in result.output
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive()]


def test_a_template_that_does_not_load_fails_the_repo_stage(tmp_path: Path) -> None:
    broken = write_fleet(tmp_path, {**SMALL_FLEET, "placements/app.yaml": "kind: [unclosed\n"})
    result = CliRunner().invoke(app, ["demo", "--template", str(broken)])
    assert result.exit_code == 3
    assert "demo failed: repo: " in result.output and "does not load" in result.output
