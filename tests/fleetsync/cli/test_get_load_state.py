"""``fleetsync get placements|clusters|runs`` says first which fleet commit its status is about:
an empty table must never pass for "all is well" when the hub never ran or the newest commit
did not load (exit 1 then; the failure is no longer visible only in status.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import FleetWork, base_files, joined_fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.fixture
def fleet(tmp_path: Path) -> FleetWork:
    return joined_fleet(tmp_path / "fleet", NOW)


def get(work: FleetWork, kind: str = "placements", *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["get", kind, *args, "--repo", str(work.path)])
    return result.exit_code, result.stdout, result.stderr


def reconcile(work: FleetWork) -> str:
    with HubRepo.local(work.path) as repo:
        return reconcile_once(repo, NOW).source_commit


@pytest.mark.parametrize("kind", ["placements", "clusters", "runs"])
def test_get_before_the_hub_ever_ran_says_nothing_is_rendered_and_exits_1(
    fleet: FleetWork, kind: str
) -> None:
    code, _, err = get(fleet, kind)
    assert code == 1
    assert err.splitlines()[0] == "status: the hub has not rendered any commit yet (no fleet/status)"


def test_get_names_the_rendered_commit_and_exits_0(fleet: FleetWork) -> None:
    commit = reconcile(fleet)
    code, out, err = get(fleet)
    assert code == 0, err
    assert err.splitlines()[0] == f"status: commit {commit[:12]} rendered (the newest the hub read)"
    assert out.splitlines()[1].startswith("web ")


def test_get_after_a_commit_that_does_not_load_shows_why_and_the_last_good_render_and_exits_1(
    fleet: FleetWork,
) -> None:
    good = reconcile(fleet)
    # a repo-wide error: one broken placement file would hold back only its own objects
    bad = fleet.commit({**base_files(version="2"), "fleetsync.yaml": "include: [unclosed\n"})
    reconcile(fleet)
    code, out, err = get(fleet)
    assert code == 1
    line = err.splitlines()[0]
    assert line.startswith(
        f"status: commit {good[:12]} rendered; the newest commit {bad[:12]} failed to load: "
    )
    assert "fleetsync.yaml" in line
    assert out.splitlines()[1].startswith("web ")  # the last good render is still shown
    code, out, _ = get(fleet, "placements", "-o", "json")
    assert code == 1 and out.startswith("{")  # machine output stays parseable: the line is on stderr
