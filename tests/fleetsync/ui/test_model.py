"""The view models' pure parts, table-driven: cell states, filters, commit links, a run's waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.bench_ui import fleet_state
from fleetsync.ui.model import CellState, CommitLinks, FilterError, Filters, cell_state, matrix, parse_filters
from fleetsync.ui.runs import runs_page
from fleetsync.ui.state import FleetState
from fleetsync_contract.canonical import dump
from reconciler.rollout.staged.documents import run_doc, run_path
from reconciler.status.runs import run_docs
from tests.support.stagedfixtures import Fleet, strategy


def entry(*conds: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "clusterName": "c",
        "conditions": [{"type": t, "status": s, "reason": ""} for t, s in conds],
        **extra,
    }


SCHEDULED = ("Scheduled", "True")
STARTED = ("RolloutStarted", "True")
DRIFT = [{"kind": "Deployment", "name": "web", "observedDrifts": [{"path": "/spec/replicas"}]}]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, CellState.NOT_SELECTED),
        (entry(("Scheduled", "False")), CellState.NOT_SELECTED),
        (entry(SCHEDULED, ("RolloutStarted", "False")), CellState.HELD),
        (entry(SCHEDULED, ("RolloutStarted", "Unknown")), CellState.HELD),
        (entry(SCHEDULED, STARTED, ("WorkSynchronized", "True"), ("Applied", "Unknown")), CellState.PENDING),
        (entry(SCHEDULED, STARTED, ("Applied", "True"), ("Available", "False")), CellState.APPLIED),
        (entry(SCHEDULED, STARTED, ("Applied", "True"), ("Available", "True")), CellState.AVAILABLE),
        (entry(SCHEDULED, STARTED, ("Applied", "False")), CellState.FAILED),
        (
            entry(
                SCHEDULED,
                STARTED,
                ("Applied", "True"),
                ("Available", "False"),
                failedPlacements=[{"condition": {"type": "Available", "reason": "ProgressDeadlineExceeded"}}],
            ),
            CellState.FAILED,
        ),
        (entry(SCHEDULED, STARTED, ("Applied", "False"), driftedPlacements=DRIFT), CellState.DRIFTED),
        (entry(SCHEDULED, ("RolloutStarted", "False"), driftedPlacements=DRIFT), CellState.DRIFTED),
        (entry(SCHEDULED, STARTED, ("DiffReported", "True"), diffedPlacements=DRIFT), CellState.DIFFED),
        (entry(SCHEDULED, STARTED, ("DiffReported", "True")), CellState.REPORTED),
    ],
)
def test_a_cells_state_is_read_off_its_placement_status(
    status: dict[str, Any] | None, expected: CellState
) -> None:
    assert cell_state(status) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, Filters()),
        ({"label": ["env=prod"]}, Filters(labels=(("env", "prod"),))),
        (
            {"label": ["gpu"], "state": ["failed", "drifted"]},
            Filters((("gpu", None),), (CellState.FAILED, CellState.DRIFTED)),
        ),
        ({"label": [""], "state": [""]}, Filters()),  # the form's empty fields
        ({"state": ["held"]}, Filters(states=(CellState.HELD,))),
    ],
)
def test_filters_come_from_plain_query_parameters(query: dict[str, list[str]], expected: Filters) -> None:
    assert parse_filters(query) == expected


@pytest.mark.parametrize(
    "query",
    [{"state": ["purple"]}, {"label": ["x" * 400]}, {"label": ["a=b"] * 20}],
)
def test_filters_out_of_vocabulary_or_bounds_are_refused(query: dict[str, list[str]]) -> None:
    with pytest.raises(FilterError):
        parse_filters(query)


def test_a_label_key_alone_matches_every_value_and_key_value_only_that_value() -> None:
    state = fleet_state(30, 2)  # region-0..6, environment production|staging
    only_key = matrix(state, Filters(labels=(("region", None),)), CommitLinks())
    assert len(only_key.rows) == 30
    one = matrix(state, Filters(labels=(("region", "region-3"),)), CommitLinks())
    assert {r.cluster for r in one.rows} == {f"member-{i:04d}" for i in range(30) if i % 7 == 3}


@pytest.mark.parametrize(
    ("pattern", "sha", "url"),
    [
        (None, "a" * 40, ""),
        (
            "https://github.com/org/fleet/commit/{sha}",
            "b" * 40,
            "https://github.com/org/fleet/commit/" + "b" * 40,
        ),
    ],
)
def test_a_commit_link_uses_the_url_pattern_or_shows_the_short_sha(
    pattern: str | None, sha: str, url: str
) -> None:
    link = CommitLinks(pattern).link(sha)
    assert link is not None and (link.short, link.url) == (sha[:12], url)


@pytest.mark.parametrize(
    "pattern", ["https://github.com/org/fleet/commit/", "javascript:x{sha}", "ftp://h/{sha}"]
)
def test_a_commit_url_pattern_must_be_http_with_a_sha_placeholder(pattern: str) -> None:
    with pytest.raises(ValueError):
        CommitLinks(pattern)


@pytest.mark.parametrize("sha", ["", "not-a-sha", "ABCDEF0123", "a" * 65])
def test_only_a_commit_id_becomes_a_link(sha: str) -> None:
    assert CommitLinks("https://h/{sha}").link(sha) is None


STAGES = """
- name: canary
  labelSelector: {matchLabels: {ring: canary}}
  afterStageTasks: [{type: TimedWait, waitTime: 1h}, {type: Approval}]
- name: prod
  labelSelector: {matchLabels: {ring: prod}}
"""


def test_a_timed_wait_shows_its_end_and_the_time_remaining_and_the_approval_its_command() -> None:
    fleet = Fleet(strategy(STAGES), {"can-1": {"ring": "canary"}, "prod-1": {"ring": "prod"}})
    fleet.step()
    fleet.available("can-1")
    fleet.step(timedelta(minutes=2))  # canary done at 03:02: the wait ends at 04:02
    files = {
        run_path(fleet.run.kind, fleet.run.namespace, fleet.run.name): dump(run_doc(fleet.run, fleet.status))
    }
    state = FleetState(runs=tuple(run_docs(files)))
    (run,) = runs_page(state, datetime(2026, 11, 25, 3, 32, tzinfo=UTC), CommitLinks()).runs
    (canary, prod, _delete) = run.stages
    wait, approval = canary.waits
    assert (wait.kind, wait.until, wait.remaining_seconds) == ("TimedWait", "2026-11-25T04:02:00Z", 1800)
    assert (approval.kind, approval.command) == ("Approval", "fleetsync approve r1 canary --after")
    assert [(c.name, c.state) for c in prod.clusters] == [("prod-1", "Waiting")]
