"""The view's pages, asserted from a fleet the real hub and agents built (conftest.py).

Each test reads the remote as ``fleetsync ui`` does (read_state over a HubRepo) and asserts what
a person relies on: the matrix's states and indexes, the placement's decisions and drifts, the
cluster's field-level drift, the staged run's approval command, links to the commits, and that a
Secret's value reaches no page, in HTML or JSON.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from html import unescape
from typing import Any

import pytest

from fleetsync.ui.app import UiApp
from fleetsync.ui.model import CellState, CommitLinks, Filters, matrix
from fleetsync.ui.pages import NO_REASON, cluster_page, decisions, placement_page
from fleetsync.ui.runs import runs_page
from fleetsync.ui.state import FleetState, read_state
from reconciler.gitstore.refs import GitFailure
from reconciler.gitstore.repo import HubRepo
from reconciler.rollout.rolling import BindingState
from reconciler.scheduler.plugins.clusteraffinity import REQUIRED_NOT_MATCHED
from reconciler.status.members import ELIGIBLE_ANNOTATION, INELIGIBLE_REASON_ANNOTATION
from reconciler.status.memory import BindingRecord, PlacementMemory
from tests.fleetsync.ui.conftest import SECRET_IN_HUB, SECRET_VALUE, BuiltFleet

URL = "https://git.example.com/fleet/commit/{sha}"
LINKS = CommitLinks(URL)
WEB = "ClusterResourcePlacement/web"
SHOP = "ClusterResourcePlacement/shop"
API = "ClusterResourcePlacement/api"
AFFINITY_NOT_MATCHED = REQUIRED_NOT_MATCHED.format(n=1)


@pytest.fixture
def state(hub: HubRepo, built: BuiltFleet) -> FleetState:
    return read_state(hub, str(built.remote))


@pytest.fixture
def app(state: FleetState, built: BuiltFleet) -> UiApp:
    return UiApp(lambda: state, LINKS, built.clock)


def git(built: BuiltFleet, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(built.remote), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def cells(state: FleetState, filters: Filters | None = None) -> dict[tuple[str, str], tuple[CellState, str]]:
    m = matrix(state, filters or Filters(), LINKS)
    return {
        (row.cluster, col.key): (cell.state, cell.index)
        for row in m.rows
        for col, cell in zip(m.columns, row.cells, strict=True)
    }


def html(app: UiApp, target: str) -> str:
    r = app.handle(target)
    assert r.code == 200 and r.content_type.startswith("text/html"), (target, r.code, r.body[:300])
    return r.body.decode()


def api(app: UiApp, target: str) -> Any:
    r = app.handle(target)
    assert r.code == 200 and r.content_type == "application/json", (target, r.code)
    return json.loads(r.body)


def test_the_matrix_shows_each_placement_on_each_cluster_with_its_state_and_index(state: FleetState) -> None:
    got = cells(state)
    assert got[("dev-1", WEB)] == (CellState.NOT_SELECTED, "")  # web requires environment=production
    assert got[("canary-1", WEB)] == (CellState.AVAILABLE, "0")
    assert got[("prod-1", WEB)] == (CellState.DRIFTED, "0")  # scaled behind its agent's back
    assert got[("dev-1", SHOP)] == (CellState.AVAILABLE, "0")  # the run's first stage
    assert got[("canary-1", SHOP)][0] == CellState.AVAILABLE
    assert got[("prod-1", SHOP)] == (CellState.HELD, "")  # waits for canary's approval


def test_the_matrix_filters_by_label_and_by_state(state: FleetState, app: UiApp) -> None:
    assert {c for c, _ in cells(state, Filters(labels=(("environment", "production"),)))} == {
        "canary-1",
        "prod-1",
    }
    assert {c for c, _ in cells(state, Filters(states=(CellState.DRIFTED,)))} == {"prod-1"}
    page = html(app, "/?label=ring%3Ddev")
    assert ">dev-1</a>" in page and ">prod-1</a>" not in page
    page = html(app, "/?state=held")
    assert ">prod-1</a>" in page and ">dev-1</a>" not in page
    assert app.handle("/?state=purple").code == 400


def test_several_label_filters_apply_together_and_each_is_shown_with_a_link_that_removes_it(
    state: FleetState, app: UiApp
) -> None:
    production = Filters(labels=(("environment", "production"),))
    assert {c for c, _ in cells(state, production)} == {"canary-1", "prod-1"}
    assert {c for c, _ in cells(state, Filters(labels=(("ring", "dev"),)))} == {"dev-1"}
    assert cells(state, Filters(labels=(("environment", "production"), ("ring", "dev")))) == {}
    assert {c for c, _ in cells(state, Filters(labels=(("environment", "production"), ("ring", None))))} == {
        "canary-1",
        "prod-1",
    }
    page = html(app, "/?label=environment%3Dproduction&label=ring%3Dprod&state=drifted")
    assert re.findall(r'<th scope="row"><a href="/clusters/[^"]+">([^<]+)</a>', page) == ["prod-1"]
    assert '<input id="f-label-1" name="label" value="environment=production">' in page
    assert '<input id="f-label-2" name="label" value="ring=prod">' in page
    assert '<input id="f-label" name="label" value="">' in page  # room for one more
    assert 'id="f-state-drifted" name="state" value="drifted" checked' in page
    removals = re.findall(r'<code>([^<]+)</code> <a href="([^"]+)">remove', page)
    assert removals == [
        ("environment=production", "/?label=ring%3Dprod&amp;state=drifted"),
        ("ring=prod", "/?label=environment%3Dproduction&amp;state=drifted"),
        ("drifted", "/?label=environment%3Dproduction&amp;label=ring%3Dprod"),
    ]
    without_ring = html(app, "/?label=environment%3Dproduction&state=drifted")
    assert re.findall(r'<th scope="row"><a href="/clusters/[^"]+">([^<]+)</a>', without_ring) == ["prod-1"]
    assert "Filters applied" not in html(app, "/")


def test_every_state_in_the_html_has_a_word_and_an_icon_not_only_a_colour(app: UiApp) -> None:
    page = html(app, "/")
    for word in ("Drifted", "Available", "Held by rollout", "Not selected"):
        assert re.search(rf'<td class="st-[a-z-]+"><span aria-hidden="true">[^<]+</span> {word}', page), word
    assert '<th scope="col">' in page and '<th scope="row">' in page


def test_the_fleet_page_links_the_status_and_fleet_commits_with_the_url_pattern(
    app: UiApp, built: BuiltFleet
) -> None:
    status = git(built, "rev-parse", "fleet/status")
    fleet = git(built, "rev-parse", "main")
    page = html(app, "/")
    assert f'href="https://git.example.com/fleet/commit/{status}"' in page
    assert f'href="https://git.example.com/fleet/commit/{fleet}"' in page
    bare = UiApp(app.state, CommitLinks(None), app.now).handle("/").body.decode()
    assert f'<code title="{status}">{status[:12]}</code>' in bare and "git.example.com" not in bare


def test_the_placement_page_shows_decisions_overrides_and_field_level_drift(state: FleetState) -> None:
    page = placement_page(state, WEB, LINKS)
    assert [c.cluster for c in page.clusters] == ["canary-1", "prod-1"]
    assert all("Successfully scheduled" in c.decision for c in page.clusters)
    assert page.snapshot is not None and page.index == "0"
    (prod,) = [c for c in page.clusters if c.cluster == "prod-1"]
    deploy = [d for d in prod.drifted if d.identity == "apps/Deployment/web/frontend"]
    assert [(x.path, x.hub, x.member) for d in deploy for x in d.changes] == [("/spec/replicas", "2", "5")]
    assert {f.identity for f in prod.failed} >= {"apps/Deployment/web/frontend"}
    assert page.conditions[0].type == "ClusterResourcePlacementScheduled"


def test_the_placement_page_says_for_every_cluster_whether_it_was_picked_why_and_with_which_score(
    state: FleetState, app: UiApp
) -> None:
    page = placement_page(state, WEB, LINKS)
    got = {d.cluster: d for d in page.decisions}
    assert [d.cluster for d in page.decisions] == ["canary-1", "prod-1", "dev-1"]  # picked first
    assert (got["prod-1"].picked, got["prod-1"].state, got["prod-1"].index) == (True, CellState.DRIFTED, "0")
    assert 'in "prod-1"' in got["prod-1"].reason and "picked by scheduling policy" in got["prod-1"].reason
    assert got["prod-1"].score == "affinity 0, topology spread 0"  # the binding the hub remembers
    assert (got["dev-1"].picked, got["dev-1"].state) == (False, CellState.NOT_SELECTED)
    # eligible: the required affinity left it out, as the policy snapshot records
    assert got["dev-1"].reason == f"ClusterUnschedulable, {AFFINITY_NOT_MATCHED}"
    assert page.policy_snapshot == "web-0"
    body = html(app, "/placements/" + WEB)
    row = re.search(r'<tr><th scope="row"><a href="/clusters/dev-1">dev-1</a></th>(.*?)</tr>', body)
    assert row and "Not picked" in row.group(1) and AFFINITY_NOT_MATCHED in row.group(1)
    assert "<code>fleetsync schedule</code> explains the others" not in body  # every reason is known
    row = re.search(r'<tr><th scope="row"><a href="/clusters/prod-1">prod-1</a></th>(.*?)</tr>', body)
    assert row and "Picked" in row.group(1) and "affinity 0, topology spread 0" in row.group(1)


def test_an_eligible_cluster_a_pickn_placement_left_out_shows_the_scheduler_s_reason_and_score(
    state: FleetState, app: UiApp
) -> None:
    page = placement_page(state, API, LINKS)
    got = {d.cluster: d for d in page.decisions}
    assert [d.cluster for d in page.decisions] == ["prod-1", "canary-1", "dev-1"]  # descending name wins
    assert got["prod-1"].picked and not got["canary-1"].picked
    reason = 'Cluster "canary-1" does not score high enough (affinity score: 0, topology spread score: 0)'
    assert (got["canary-1"].reason, got["canary-1"].score) == (reason, "affinity 0, topology spread 0")
    assert got["dev-1"].reason == f"ClusterUnschedulable, {AFFINITY_NOT_MATCHED}"
    body = html(app, "/placements/" + API)
    row = re.search(r'<tr><th scope="row"><a href="/clusters/canary-1">canary-1</a></th>(.*?)</tr>', body)
    assert row and "Not picked" in row.group(1)
    assert reason in unescape(row.group(1)) and "affinity 0, topology spread 0" in row.group(1)
    assert "<code>api-0</code>" in body  # the policy snapshot the reasons come from
    assert api(app, "/placements/" + API + "?format=json")["policy_snapshot"] == "api-0"


def test_without_a_policy_snapshot_the_page_says_no_reason_is_recorded_and_where_to_ask(
    state: FleetState, built: BuiltFleet
) -> None:
    """A status branch written before the hub recorded policy snapshots."""
    before = replace(state, policy_snapshots={})
    app = UiApp(lambda: before, LINKS, built.clock)
    got = {d.cluster: d for d in placement_page(before, API, LINKS).decisions}
    assert (got["canary-1"].reason, got["canary-1"].score) == (NO_REASON, "")
    body = html(app, "/placements/" + API)
    row = re.search(r'<tr><th scope="row"><a href="/clusters/canary-1">canary-1</a></th>(.*?)</tr>', body)
    assert row and NO_REASON in row.group(1)
    assert "<code>fleetsync schedule</code> explains the others" in body


def test_a_cluster_not_picked_says_why_when_the_status_branch_knows() -> None:
    """Ineligible clusters carry the hub's reason; a binding the scheduler dropped says so, with its score."""
    picked = {
        "a": {"clusterName": "a", "conditions": [{"type": "Scheduled", "status": "True", "message": "m"}]}
    }
    clusters = [
        {"metadata": {"name": n, "annotations": a}}
        for n, a in (
            ("c", {ELIGIBLE_ANNOTATION: "false", INELIGIBLE_REASON_ANNOTATION: "no heartbeat for 10m"}),
            ("b", {}),
            ("a", {}),
            ("d", {}),
            ("e", {}),
        )
    ]
    memory = PlacementMemory(
        WEB,
        bindings=(
            BindingRecord("a", BindingState.BOUND, 0, score={"affinityScore": 3, "priorityScore": 1}),
            BindingRecord("b", BindingState.UNSCHEDULED, 0, score={"affinityScore": 1}, bound_time="T"),
        ),
    )
    rows = {d.cluster: (d.picked, d.reason, d.score) for d in decisions(picked, clusters, memory)}
    assert list(rows) == ["a", "b", "c", "d", "e"]
    assert rows["a"] == (True, "m", "affinity 3, topology spread 1")
    assert (
        rows["b"][0] is False
        and "no longer picked: its binding is Unscheduled (bound since T)" in rows["b"][1]
    )
    assert rows["b"][2] == "affinity 1"
    assert rows["c"] == (False, "ineligible: no heartbeat for 10m", "")
    assert rows["d"] == (False, NO_REASON, "")
    snapshot = {
        "status": {
            "targetClusters": [
                {"clusterName": "a", "selected": True, "reason": "picked"},
                {"clusterName": "b", "selected": False, "reason": "filtered"},
                {"clusterName": "c", "selected": False, "reason": "stale"},
                {
                    "clusterName": "e",
                    "selected": False,
                    "reason": "low",
                    "clusterScore": {"affinityScore": 2},
                },
            ]
        }
    }
    rows = {d.cluster: (d.picked, d.reason, d.score) for d in decisions(picked, clusters, memory, snapshot)}
    assert rows["a"] == (True, "m", "affinity 3, topology spread 1")  # a picked one keeps its own
    assert rows["b"][1].endswith("its objects are being removed; filtered") and rows["b"][2] == "affinity 1"
    assert rows["c"] == (False, "ineligible: no heartbeat for 10m", "")  # the cluster's current state first
    assert rows["d"] == (False, NO_REASON, "")  # beyond the 20 the snapshot keeps
    assert rows["e"] == (False, "low", "affinity 2")


def test_the_cluster_page_shows_health_heartbeat_properties_placements_and_drift(
    state: FleetState, built: BuiltFleet
) -> None:
    page = cluster_page(state, "prod-1", LINKS)
    assert {a.type: a.status for a in page.agent} == {"Joined": "True", "Healthy": "True"}
    assert page.heartbeat and page.heartbeat_period == "60"
    assert dict((n, v) for n, v, _ in page.properties)["kubernetes-fleet.io/node-count"]
    assert {p.key: p.state for p in page.placements} == {
        SHOP: CellState.HELD,
        WEB: CellState.DRIFTED,
        API: CellState.AVAILABLE,  # the one production cluster api picked
    }
    replicas = [x for d in page.drifts for x in d.changes if x.path == "/spec/replicas"]
    assert [(x.hub, x.member) for x in replicas] == [("2", "5")]
    assert page.report is not None and page.report.sha == git(built, "rev-parse", "fleet/reports/prod-1")


def test_the_runs_page_shows_stages_clusters_and_the_approve_command(state: FleetState, app: UiApp) -> None:
    (run,) = runs_page(state, app.now(), LINKS).runs
    assert run.status == "UpdateRunWaiting" and run.stage == "canary"
    stages = {s.name: s for s in run.stages}
    assert [(c.name, c.state) for c in stages["dev"].clusters] == [("dev-1", "Succeeded")]
    assert [(c.name, c.state) for c in stages["prod"].clusters] == [("prod-1", "Waiting")]
    (wait,) = stages["canary"].waits
    assert (wait.kind, wait.command) == ("Approval", "fleetsync approve shop-v1 canary --after")
    assert "<code>fleetsync approve shop-v1 canary --after</code>" in html(app, "/runs")


@pytest.mark.parametrize(
    "target",
    ["/", "/placements/ClusterResourcePlacement/web", "/clusters/prod-1", "/runs", "/runs/shop-v1"],
)
def test_every_page_has_a_json_twin_and_no_page_shows_a_secret_value(app: UiApp, target: str) -> None:
    page = html(app, target)
    twin = api(app, "/api" + target)
    assert twin == api(app, target + "?format=json")
    for text in (page, json.dumps(twin)):
        assert SECRET_VALUE not in text and SECRET_IN_HUB not in text
    if target == "/clusters/prod-1":
        assert "(redacted for security reasons)" in page


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("/placements/ClusterResourcePlacement/nope", 404),
        ("/clusters/nope", 404),
        ("/runs/nope", 404),
        ("/etc", 404),
    ],
)
def test_unknown_pages_are_404_in_html_and_json(app: UiApp, target: str, code: int) -> None:
    assert app.handle(target).code == code
    r = app.handle("/api" + target)
    assert r.code == code and "error" in json.loads(r.body)


def test_markup_in_a_status_document_is_shown_as_text(state: FleetState, built: BuiltFleet) -> None:
    doc = dict(state.clusters[0])
    doc["metadata"] = {**doc["metadata"], "labels": {"team": "<script>alert(1)</script>"}}
    evil = FleetState(placements=state.placements, clusters=(doc, *state.clusters[1:]))
    page = (
        UiApp(lambda: evil, LINKS, built.clock).handle(f"/clusters/{doc['metadata']['name']}").body.decode()
    )
    assert "team=&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page


def test_oversized_requests_are_refused_not_dropped(app: UiApp) -> None:
    assert app.handle("/?" + "&".join(f"label=k{i}" for i in range(100))).code == 400
    assert app.handle("/?" + "&".join(f"label=k{i}" for i in range(20))).code == 400  # > 16 filters
    assert app.handle("/clusters/" + "x" * 5000).code == 414


def test_a_git_failure_while_reading_is_a_503_page_not_a_crash(built: BuiltFleet) -> None:
    def unreachable() -> FleetState:
        raise GitFailure("cannot fetch from https://***@git.example.com/fleet.git: timed out")

    r = UiApp(unreachable, LINKS, built.clock).handle("/")
    assert r.code == 503 and b"cannot read the hub refs" in r.body
