"""``plan`` runs the hub's failure isolation (issue 15, docs/plan.md "Objects that fail"): an
object or a file with an error keeps base's state, the rest of the change is shown as the hub
publishes it, a failure the change introduces blocks the merge, and only a repo-wide error is
"head does not load". Each case also runs the same head through the hub and checks that plan
and hub agree on what is published."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.plan import run as plan_cmd
from reconciler.plan.build import ExitCode
from tests.support.fleethelpers import CLUSTERS, PLATFORM, FleetWork, base_files, crp, joined_fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
WEB = "placement.kubernetes-fleet.io/ClusterResourcePlacement//web"

RUN = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata:
  name: web-run
spec:
  placementName: web
  stagedRolloutStrategyName: rings
---
apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata:
  name: rings
spec:
  stages:
    - name: all
      labelSelector: {}
"""


def web_crp(period: str = "60") -> str:
    """web, every cluster at once; ``period`` is its unavailablePeriodSeconds."""
    return crp(max_unavailable="100%").replace(
        "      maxSurge: 25%\n", f"      maxSurge: 25%\n      unavailablePeriodSeconds: {period}\n"
    )


def files(level: str = "a", version: str = "1", period: str = "60") -> dict[str, str]:
    """Two teams' placements: web (tests/support/fleethelpers.py) and platform."""
    platform = web_crp().replace("name: web\n  policy", "name: platform\n  policy")
    return {
        **base_files(version=version, placement=web_crp(period)),
        "apps/platform.yaml": PLATFORM.format(level=level),
        "placements/platform.yaml": platform.replace("name: web\n", "name: platform\n"),
    }


@pytest.fixture
def fleet(tmp_path: Path) -> FleetWork:
    """The hub rendered the first commit and every agent reported it applied."""
    work = joined_fleet(tmp_path / "fleet", NOW, files())
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, NOW)
    for c in CLUSTERS:
        work.report(c, NOW)
        work.beat(c, NOW)
    return work


def plan(work: FleetWork, output: str = "json") -> tuple[Any, int]:
    out, err, code = plan_cmd.run(work.path, "HEAD~1", "HEAD", output, LATER)
    assert code < 3, err
    return (json.loads(out) if output == "json" else out), code


def planned(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(cluster, identity, action) of every object change the plan shows."""
    return {
        (c, o["identity"], o["action"]) for g in doc["groups"] for c in g["clusters"] for o in g["objects"]
    }


def published(work: FleetWork) -> dict[str, dict[str, str]]:
    """cluster -> identity -> content hash, of every bundle the hub has published."""
    return {c: {f.identity: f.sha256 for f in work.bundle(c).files} for c in CLUSTERS}


def hub_publishes(work: FleetWork) -> set[tuple[str, str, str]]:
    """Run the hub on the newest commit: (cluster, identity, action) of what its bundles change."""
    before = published(work)
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, LATER)
    after = published(work)
    out: set[tuple[str, str, str]] = set()
    for c in CLUSTERS:
        b, a = before[c], after[c]
        out |= {(c, i, "added") for i in a.keys() - b.keys()}
        out |= {(c, i, "removed") for i in b.keys() - a.keys()}
        out |= {(c, i, "changed") for i in a.keys() & b.keys() if a[i] != b[i]}
    return out


def test_a_placement_with_a_bad_duration_keeps_its_version_the_rest_shows_and_the_merge_blocks(
    fleet: FleetWork,
) -> None:
    fleet.commit(files(level="b", version="2", period="1m"))  # web breaks; platform changes too
    doc, code = plan(fleet)
    assert code == ExitCode.CHECKS_FAILED
    assert doc["head"]["loaded"] is True  # rendered, as the hub renders it
    shown = planned(doc)
    assert shown == {(c, "/ConfigMap/platform/defaults", "changed") for c in CLUSTERS}
    [failed] = doc["failedObjects"]
    assert (failed["identity"], failed["scope"], failed["new"]) == (WEB, "object", True)
    assert "unavailablePeriodSeconds" in failed["errors"][0]["field"]
    assert failed["outcome"] == "keeps its previous version"
    md, _ = plan(fleet, "markdown")
    assert "head does not load" not in md and "CHECKS FAIL" in md
    assert "#### Objects that fail (the hub keeps their previous version)" in md
    assert "ClusterResourcePlacement/web" in md and "keeps its previous version" in md
    assert "LEVEL" in md  # the other placement's diff
    assert hub_publishes(fleet) == shown


def test_objects_of_a_yaml_file_that_does_not_parse_are_not_shown_as_removed(fleet: FleetWork) -> None:
    fleet.commit({**files(level="b", version="2"), "apps/web/namespace.yaml": "kind: [unclosed\n"})
    doc, code = plan(fleet)
    assert code == ExitCode.CHECKS_FAILED
    shown = planned(doc)
    assert not any(action == "removed" for _, _, action in shown)
    assert {i for _, i, _ in shown} == {"/ConfigMap/platform/defaults", "/ConfigMap/web/settings"}
    [failed] = doc["failedObjects"]
    assert (failed["file"], failed["scope"], failed["new"]) == ("apps/web/namespace.yaml", "file", True)
    assert failed["kept"] == ["/Namespace//web"] and failed["outcome"] == "keeps its previous version"
    text, _ = plan(fleet, "text")
    assert "apps/web/namespace.yaml" in text and "/Namespace//web" in text
    assert hub_publishes(fleet) == shown


def test_a_repo_wide_error_is_still_head_does_not_load(fleet: FleetWork) -> None:
    fleet.commit({**files(level="b"), "fleetsync.yaml": "include: [unclosed\n"})
    doc, code = plan(fleet)
    assert code == ExitCode.CHECKS_FAILED
    assert doc["head"]["loaded"] is False and doc["groups"] == []
    assert [(f["file"], f["new"]) for f in doc["validation"] if f["severity"] == "error"] == [
        ("fleetsync.yaml", True)
    ]
    md, _ = plan(fleet, "markdown")
    assert "head does not load (CHECKS FAIL)" in md and "fleetsync.yaml" in md
    assert hub_publishes(fleet) == set()  # the hub holds the whole commit


def test_an_error_base_already_had_is_listed_but_does_not_block(fleet: FleetWork) -> None:
    fleet.commit(files(level="a", period="1m"), "web breaks")
    fleet.commit(files(level="b", period="1m"), "platform moves on")
    doc, code = plan(fleet)
    assert code == ExitCode.CHANGES
    assert [(f["identity"], f["new"]) for f in doc["failedObjects"]] == [(WEB, False)]
    assert planned(doc) == {(c, "/ConfigMap/platform/defaults", "changed") for c in CLUSTERS}
    md, _ = plan(fleet, "markdown")
    assert "already in base" in md and "checks pass" in md


def test_a_staged_run_that_cannot_initialize_blocks_the_merge(fleet: FleetWork) -> None:
    fleet.commit({**files(level="a"), "runs/web-run.yaml": RUN})  # web is RollingUpdate, not External
    doc, code = plan(fleet)
    assert code == ExitCode.CHECKS_FAILED
    [web] = doc["placements"]
    [run] = web["runs"]
    assert run["reason"] == "UpdateRunInitializedFailed" and "external rollout strategy" in run["error"]
    assert run["blocking"] is True
    md, _ = plan(fleet, "markdown")
    assert "fails to initialize" in md and "CHECKS FAIL" in md


def test_a_new_object_that_is_already_broken_is_not_rendered_and_blocks(fleet: FleetWork) -> None:
    extra = (
        web_crp("1m")
        .replace("name: web\n  policy", "name: extra\n  policy")
        .replace("name: web\n", "name: extra\n")
    )
    fleet.commit({**files(level="b"), "placements/extra.yaml": extra})
    doc, code = plan(fleet)
    assert code == ExitCode.CHECKS_FAILED
    [failed] = doc["failedObjects"]
    assert failed["identity"] == "placement.kubernetes-fleet.io/ClusterResourcePlacement//extra"
    assert (failed["outcome"], failed["new"]) == ("not rendered: it has no previous version", True)
    shown = planned(doc)
    assert shown == {(c, "/ConfigMap/platform/defaults", "changed") for c in CLUSTERS}
    assert hub_publishes(fleet) == shown


def test_an_error_an_edit_moves_to_another_line_is_still_not_new(fleet: FleetWork) -> None:
    fleet.commit(files(level="a", period="1m"), "web breaks")
    moved = files(level="b", period="1m")
    moved["placements/web.yaml"] = "# the web team's placement\n" + moved["placements/web.yaml"]
    fleet.commit(moved, "a comment above the error, and platform moves on")
    doc, code = plan(fleet)
    assert code == ExitCode.CHANGES
    [failed] = doc["failedObjects"]
    assert failed["new"] is False and failed["errors"][0]["line"] == 19
    assert [f["new"] for f in doc["failures"]] == [False]  # the frozen placement, not new either


def test_a_run_that_base_already_failed_to_initialize_does_not_block(fleet: FleetWork) -> None:
    fleet.commit({**files(level="a"), "runs/web-run.yaml": RUN}, "a run on a RollingUpdate placement")
    fleet.commit({**files(level="b"), "runs/web-run.yaml": RUN}, "platform moves on")
    doc, code = plan(fleet)
    assert code == ExitCode.CHANGES
    assert all(not p["runs"] for p in doc["placements"])
    assert [f["new"] for f in doc["validation"] if f["severity"] == "error"] == [False]


def test_fixing_a_placement_the_hub_kept_shows_only_what_changes_on_its_clusters(fleet: FleetWork) -> None:
    fleet.commit(files(period="1m"), "web breaks: the hub keeps its version")
    fleet.commit(files(version="2"), "web fixed, with a new setting")
    doc, code = plan(fleet)
    assert code == ExitCode.CHANGES
    shown = planned(doc)
    assert shown == {(c, "/ConfigMap/web/settings", "changed") for c in CLUSTERS}  # nothing "added"
    assert all(not p["picked"] for p in doc["placements"])
    assert hub_publishes(fleet) == shown


def test_an_override_with_an_error_keeps_applying_its_last_good_rules(fleet: FleetWork) -> None:
    head = files(level="b")
    head["apps/web/override.yaml"] = head["apps/web/override.yaml"].replace("op: replace", "op: bogus")
    fleet.commit(head)
    doc, code = plan(fleet)
    assert code == ExitCode.CHECKS_FAILED
    [failed] = doc["failedObjects"]
    assert failed["identity"] == "placement.kubernetes-fleet.io/ResourceOverride/web/greeting"
    assert failed["outcome"] == "keeps its previous version"
    shown = planned(doc)
    assert shown == {(c, "/ConfigMap/platform/defaults", "changed") for c in CLUSTERS}  # greeting unchanged
    assert hub_publishes(fleet) == shown
