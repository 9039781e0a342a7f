"""The staged runs page's view model: each run's stages x clusters, its waits and approvals.

The run documents are parsed by the hub's own parser (reconciler/rollout/staged/documents.py) and
summarized by ``fleetsync get runs``' functions (reconciler/status/runs.py), so the page and the
table never disagree on where a run stands. What the page adds is structure a table cannot
carry: one cell per cluster of a stage, a TimedWait's end with the time remaining at ``now``
(the request's clock, injected), and each pending approval with the exact ``fleetsync approve``
command to copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetsync.ui.model import CommitLinks, Link
from fleetsync.ui.pages import NotFound
from fleetsync.ui.state import FleetState
from fleetsync_contract.report import format_time
from reconciler.api.staged import StageConfig, StageTaskType
from reconciler.rollout.staged.documents import parse_run_status
from reconciler.rollout.staged.model import (
    APPROVAL_APPROVED,
    APPROVAL_CREATED,
    STARTED,
    SUCCEEDED,
    WAIT_ELAPSED,
    ClusterStatus,
    StageStatus,
    find,
    is_true,
)
from reconciler.status.runs import stage_rows, summary


@dataclass(frozen=True, slots=True)
class Wait:
    kind: str  # Approval or TimedWait
    when: str  # before or after the stage
    until: str = ""  # a TimedWait's end
    remaining_seconds: int | None = None  # ... and how long until it, at the page's time
    approval: str = ""  # the approval request's name
    command: str = ""  # the `fleetsync approve ...` that gives it


@dataclass(frozen=True, slots=True)
class StageCluster:
    name: str
    state: str  # Succeeded, Updating, Failed or Waiting


@dataclass(frozen=True, slots=True)
class StageView:
    name: str
    state: str  # as `get runs NAME` prints it
    done: str  # n/m clusters
    waiting_for: str
    since: str
    clusters: tuple[StageCluster, ...]
    waits: tuple[Wait, ...]


@dataclass(frozen=True, slots=True)
class RunView:
    name: str
    placement: str
    placement_key: str
    state: str  # spec.state: Run, Stop, ... (stop/resume)
    index: str
    status: str
    stage: str
    waiting_for: str
    since: str
    fleet_commit: Link | None  # the fleet commit the run was initialized at
    stages: tuple[StageView, ...]


@dataclass(frozen=True, slots=True)
class RunsPage:
    status: Link | None
    now: str
    runs: tuple[RunView, ...]


def approve_command(run: Mapping[str, Any], stage: str, before: bool) -> str:
    meta = run.get("metadata") or {}
    ns = f" --namespace {meta['namespace']}" if meta.get("namespace") else ""
    return f"fleetsync approve {meta.get('name')} {stage} {'--before' if before else '--after'}{ns}"


def _cluster_state(c: ClusterStatus) -> str:
    done = find(c.conditions, SUCCEEDED)
    if done is not None:
        return "Succeeded" if is_true(c.conditions, SUCCEEDED) else "Failed"
    return "Updating" if is_true(c.conditions, STARTED) else "Waiting"


def _waits(
    run: Mapping[str, Any], st: StageStatus, config: StageConfig | None, now: datetime
) -> tuple[Wait, ...]:
    out: list[Wait] = []
    for t in st.before_tasks:
        if find(t.conditions, APPROVAL_CREATED) is not None and not is_true(t.conditions, APPROVAL_APPROVED):
            out.append(
                Wait(
                    "Approval",
                    "before",
                    approval=t.approval_request_name,
                    command=approve_command(run, st.name, True),
                )
            )
    ended = [find(c.conditions, SUCCEEDED) for c in st.clusters]
    end = max((c.last_transition_time for c in ended if c is not None), default=None)
    tasks = config.after_stage_tasks if config is not None else ()
    for i, t in enumerate(st.after_tasks):
        if t.type == StageTaskType.APPROVAL and not is_true(t.conditions, APPROVAL_APPROVED):
            out.append(
                Wait(
                    "Approval",
                    "after",
                    approval=t.approval_request_name,
                    command=approve_command(run, st.name, False),
                )
            )
        elif t.type == StageTaskType.TIMED_WAIT and not is_true(t.conditions, WAIT_ELAPSED):
            wait = tasks[i].wait_time if i < len(tasks) else None
            if wait is None or end is None or len([e for e in ended if e is not None]) != len(st.clusters):
                out.append(Wait("TimedWait", "after"))
                continue
            until = end + wait
            out.append(
                Wait("TimedWait", "after", format_time(until), max(0, int((until - now).total_seconds())))
            )
    return tuple(out)


def run_view(doc: Mapping[str, Any], now: datetime, links: CommitLinks) -> RunView:
    row = summary(doc)
    spec = doc.get("spec") or {}
    status = parse_run_status(doc.get("status") or {})
    stages = [
        (st, status.strategy[i] if i < len(status.strategy) else None) for i, st in enumerate(status.stages)
    ]
    if status.deletion_stage is not None:
        stages.append((status.deletion_stage, None))
    rows = stage_rows(doc)
    meta = doc.get("metadata") or {}
    placement = str(spec.get("placementName", ""))
    kind = "ResourcePlacement" if meta.get("namespace") else "ClusterResourcePlacement"
    key = f"{kind}/{meta['namespace']}/{placement}" if meta.get("namespace") else f"{kind}/{placement}"
    return RunView(
        name=row[0],
        placement=placement,
        placement_key=key,
        state=str(spec.get("state", "")),
        index=row[3],
        status=row[4],
        stage=row[5],
        waiting_for=row[6],
        since=row[7],
        fleet_commit=links.link(status.fleet_commit_used),
        stages=tuple(
            StageView(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                tuple(StageCluster(c.name, _cluster_state(c)) for c in st.clusters),
                _waits(doc, st, config, now),
            )
            for (st, config), r in zip(stages, rows, strict=True)
        ),
    )


def runs_page(state: FleetState, now: datetime, links: CommitLinks, name: str | None = None) -> RunsPage:
    docs = [
        d
        for d in state.runs
        if name is None
        or name
        in {
            (d.get("metadata") or {}).get("name"),
            f"{(d.get('metadata') or {}).get('namespace')}/{(d.get('metadata') or {}).get('name')}",
        }
    ]
    if name is not None and not docs:
        raise NotFound(f"staged update run {name!r} is not on the status branch")
    return RunsPage(
        links.link(state.status_commit), format_time(now), tuple(run_view(d, now, links) for d in docs)
    )
