"""``fleetsync get runs [NAME]``: where each staged update run stands, read from ``fleet/status``.

The run files are KubeFleet-shaped (reconciler/rollout/staged/documents.py), so ``-o yaml|json`` prints them
as they are. The table answers what a person asks during a rollout: which stage, waiting for
what (an approval and the command that gives it, a TimedWait and when it ends, clusters that
have not become available yet), and since when. With a NAME the table adds one row per stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fleetsync_contract.report import format_time
from reconciler.api.staged import StageConfig, StageTaskType
from reconciler.gitstore.repo import HubRepo
from reconciler.rollout.staged.documents import parse_run_status
from reconciler.rollout.staged.model import (
    APPROVAL_APPROVED,
    APPROVAL_CREATED,
    DELETE_STAGE,
    INITIALIZED,
    PROGRESSING,
    STARTED,
    SUCCEEDED,
    WAIT_ELAPSED,
    RunStatus,
    StageStatus,
    find,
    is_true,
)
from reconciler.status.read import read_status, render, status_docs

RUNS_DIR = "runs/"
HEADERS = ["NAME", "PLACEMENT", "STATE", "RESOURCE-INDEX", "STATUS", "STAGE", "WAITING-FOR", "SINCE"]
STAGE_HEADERS = ["STAGE", "STATUS", "CLUSTERS", "WAITING-FOR", "SINCE"]


def run_docs(files: Mapping[str, bytes], name: str | None = None) -> list[dict[str, Any]]:
    """The run documents on the status branch, optionally only NAME (or NAMESPACE/NAME)."""
    return status_docs(files, RUNS_DIR, "run", name)


def _t(when: datetime | None) -> str:
    return format_time(when) if when is not None else ""


def _approval_hint(run: Mapping[str, Any], stage: str, before: bool) -> str:
    meta = run.get("metadata") or {}
    ns = f" --namespace {meta['namespace']}" if meta.get("namespace") else ""
    return f"fleetsync approve {meta.get('name')} {stage} {'--before' if before else '--after'}{ns}"


def stage_waits(run: Mapping[str, Any], st: StageStatus, config: StageConfig | None) -> tuple[str, str]:
    """(what the stage waits for, since when); ("", "") when it waits for nothing."""
    for t in st.before_tasks:
        created = find(t.conditions, APPROVAL_CREATED)
        if created is not None and not is_true(t.conditions, APPROVAL_APPROVED):
            return (
                f"approval {t.approval_request_name} ({_approval_hint(run, st.name, True)})",
                _t(created.last_transition_time),
            )
    flight = [
        c for c in st.clusters if is_true(c.conditions, STARTED) and find(c.conditions, SUCCEEDED) is None
    ]
    if flight:
        since = min(find(c.conditions, STARTED).last_transition_time for c in flight)  # type: ignore[union-attr]
        verb = "to be removed" if st.name == DELETE_STAGE else "to become available"
        return f"{', '.join(c.name for c in flight)} {verb}", _t(since)
    done = [c for c in st.clusters if is_true(c.conditions, SUCCEEDED)]
    if st.succeeded or not st.clusters or len(done) != len(st.clusters):
        return "", ""
    end = max(find(c.conditions, SUCCEEDED).last_transition_time for c in done)  # type: ignore[union-attr]
    waits: list[str] = []
    tasks = config.after_stage_tasks if config is not None else ()
    for i, t in enumerate(st.after_tasks):
        if t.type == StageTaskType.APPROVAL and not is_true(t.conditions, APPROVAL_APPROVED):
            waits.append(f"approval {t.approval_request_name} ({_approval_hint(run, st.name, False)})")
        elif (
            t.type == StageTaskType.TIMED_WAIT and not is_true(t.conditions, WAIT_ELAPSED) and i < len(tasks)
        ):
            wait = tasks[i].wait_time
            if wait is not None:
                waits.append(f"TimedWait until {format_time(end + wait)}")
    return "; ".join(waits), _t(end) if waits else ""


def _stage_state(st: StageStatus) -> str:
    done = find(st.conditions, SUCCEEDED)
    if done is not None:
        return done.reason
    progressing = find(st.conditions, PROGRESSING)
    return progressing.reason if progressing is not None else "NotStarted"


def _all_stages(status: RunStatus) -> list[tuple[StageStatus, StageConfig | None]]:
    out: list[tuple[StageStatus, StageConfig | None]] = [
        (st, status.strategy[i] if i < len(status.strategy) else None) for i, st in enumerate(status.stages)
    ]
    if status.deletion_stage is not None:
        out.append((status.deletion_stage, None))
    return out


def summary(doc: Mapping[str, Any]) -> list[str]:
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    name = f"{meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
    status = parse_run_status(doc.get("status") or {})
    row = [
        name,
        str(spec.get("placementName", "")),
        str(spec.get("state", "")),
        status.resource_snapshot_index_used,
    ]
    init = find(status.conditions, INITIALIZED)
    if init is None or not status.initialized:
        return [*row, init.reason if init else "NotInitialized", "", init.message if init else "", ""]
    verdict = find(status.conditions, SUCCEEDED) or find(status.conditions, PROGRESSING) or init
    for st, config in _all_stages(status):
        if not st.succeeded:
            waits, since = stage_waits(doc, st, config)
            if verdict.type == SUCCEEDED and verdict.status != "True":
                waits, since = verdict.message, _t(verdict.last_transition_time)
            return [*row, verdict.reason, st.name, waits, since]
    return [*row, verdict.reason, "", "", ""]


def stage_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    status = parse_run_status(doc.get("status") or {})
    rows: list[list[str]] = []
    for st, config in _all_stages(status):
        done = sum(1 for c in st.clusters if is_true(c.conditions, SUCCEEDED))
        waits, since = stage_waits(doc, st, config)
        rows.append([st.name, _stage_state(st), f"{done}/{len(st.clusters)}", waits, since])
    return rows


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows
    )


def table(docs: Sequence[Mapping[str, Any]], single: bool) -> str:
    text = _table([HEADERS, *(summary(d) for d in docs)])
    if single and len(docs) == 1:
        text += "\n" + _table([STAGE_HEADERS, *stage_rows(docs[0])])
    return text


def cli_get_runs(repo: HubRepo, name: str | None, output: str) -> str:
    docs = run_docs(read_status(repo), name)
    if output == "table":
        return (
            table(docs, single=name is not None) if docs else "No staged update runs on the status branch.\n"
        )
    return render("runs", docs, output, single=name is not None)
