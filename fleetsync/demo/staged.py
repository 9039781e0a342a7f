"""The demo's staged rollout: the template's update runs are committed once the clusters have
joined, then driven stage by stage as a person would — agents sync, approvals are commits, and
TimedWaits pass on the demo's own clock.

A staged update run initializes on the first reconcile that sees it, from the clusters its
placement has bound then; a run committed before any agent reported binds nothing and fails
initialization for good (KubeFleet semantics, kept). So the demo holds the template's run files
back from the first commit and commits them after *converge*, as a KubeFleet user creates a run
for clusters that are already members. What the run waits for is read back from its file on
``fleet/status`` (never from the hub's memory) and answered by one pure decision,
``next_step``: sync the clusters in flight, commit the approval ``fleetsync approve`` would
commit, or move the demo's clock past a TimedWait (a real fleet waits the soak time; the demo
says that it skipped it). The clock is shared by the hub and the agents, and every agent beats
right after a jump, so no heartbeat looks stale because the demo skipped time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fleetsync.demo.fleet import DEMO_IDENTITY, LocalFleet
from fleetsync.demo.view import LANDING_HEADERS, Output, landing_rows, landings, unsettled
from fleetsync_contract.canonical import dump, load
from reconciler.api.staged import StageConfig, StageTaskType
from reconciler.errors import FleetsyncError
from reconciler.load.fleet import load_directory
from reconciler.rollout.staged.approve import Approval, approval_document, check_target
from reconciler.rollout.staged.documents import parse_run_status, run_path
from reconciler.rollout.staged.model import (
    APPROVAL_APPROVED,
    APPROVAL_CREATED,
    STARTED,
    SUCCEEDED,
    WAIT_ELAPSED,
    RunStatus,
    StageStatus,
    find,
    is_true,
)
from reconciler.status.runs import summary

RUN_KINDS = ("ClusterStagedUpdateRun", "StagedUpdateRun")
MAX_STEPS = 40  # hub passes per run: each stage needs a few, production one per cluster


class DemoClock:
    """The injected clock plus the time the demo skipped; hub and agents share one."""

    def __init__(self, base: Callable[[], datetime]):
        self._base = base
        self.skipped = timedelta(0)

    def __call__(self) -> datetime:
        return self._base() + self.skipped

    def advance(self, delta: timedelta) -> None:
        self.skipped += max(delta, timedelta(0))


# -- which files wait for the clusters ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HeldRuns:
    """The template's files that hold only staged update runs (path -> text), and those runs as
    (kind, namespace, name): the demo commits them after the clusters joined."""

    files: Mapping[str, str] = field(default_factory=dict)
    runs: tuple[tuple[str, str, str], ...] = ()


def held_runs(template: Path) -> HeldRuns:
    """A file that also declares other objects is not held back (they must not wait)."""
    loaded = load_directory(template)
    only_runs: dict[str, bool] = {}
    for doc in loaded.documents.values():
        kind = doc.data.get("kind") if isinstance(doc.data, Mapping) else None
        only_runs[doc.file] = only_runs.get(doc.file, True) and kind in RUN_KINDS
    files = {f: (template / f).read_text() for f, ok in sorted(only_runs.items()) if ok}
    runs = sorted((r.kind, r.namespace, r.name) for r in loaded.spec.runs.values() if r.origin.file in files)
    return HeldRuns(files, tuple(runs))


# -- what a run waits for -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Step:
    """What moves a run on: ``action`` is done | failed | sync | approve | wait | hub."""

    action: str
    clusters: tuple[str, ...] = ()  # sync
    stage: str = ""  # approve
    before: bool = False  # approve
    wait: timedelta = timedelta(0)  # wait
    why: str = ""  # failed


def _after_tasks(st: StageStatus, config: StageConfig | None, now: datetime) -> Step | None:
    ends = [find(c.conditions, SUCCEEDED) for c in st.clusters]
    end = max((c.last_transition_time for c in ends if c is not None), default=now)
    tasks = config.after_stage_tasks if config is not None else ()
    for i, t in enumerate(st.after_tasks):
        if t.type == StageTaskType.APPROVAL and not is_true(t.conditions, APPROVAL_APPROVED):
            return Step("approve", stage=st.name)
        if t.type == StageTaskType.TIMED_WAIT and not is_true(t.conditions, WAIT_ELAPSED) and i < len(tasks):
            wait = tasks[i].wait_time or timedelta(0)
            return Step("wait", stage=st.name, wait=end + wait - now)
    return None


def _stage_step(st: StageStatus, config: StageConfig | None, now: datetime) -> Step:
    for t in st.before_tasks:
        if find(t.conditions, APPROVAL_CREATED) is not None and not is_true(t.conditions, APPROVAL_APPROVED):
            return Step("approve", stage=st.name, before=True)
    flight = tuple(
        c.name
        for c in st.clusters
        if is_true(c.conditions, STARTED) and find(c.conditions, SUCCEEDED) is None
    )
    if flight:
        return Step("sync", clusters=flight, stage=st.name)
    if st.clusters and all(is_true(c.conditions, SUCCEEDED) for c in st.clusters):
        return _after_tasks(st, config, now) or Step("hub")
    return Step("hub")


def next_step(status: RunStatus, now: datetime) -> Step:
    """What the run waits for now, read from its status on ``fleet/status``."""
    if status.init_failed or not status.initialized:
        init = "; ".join(c.message for c in status.conditions)
        return Step("failed", why=init) if status.init_failed else Step("hub")
    verdict = find(status.conditions, SUCCEEDED)
    if verdict is not None:
        return Step("done") if verdict.status == "True" else Step("failed", why=verdict.message)
    configs = {s.name: s for s in status.strategy}
    stages = [*status.stages, *([status.deletion_stage] if status.deletion_stage else [])]
    for st in stages:
        if not st.succeeded:
            return _stage_step(st, configs.get(st.name), now)
    return Step("hub")


# -- driving it -----------------------------------------------------------------------------------
class RunFailed(FleetsyncError):
    """A staged update run of the demo failed or did not finish within its steps."""


@dataclass
class RunShown:
    """What the demo did for one run: the clusters each stage moved and the approvals it committed."""

    name: str
    stages: dict[str, list[str]] = field(default_factory=dict)  # stage -> clusters, in order moved
    approvals: list[str] = field(default_factory=list)  # the fleetsync approve commands
    skipped: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class Driver:
    """The demo's hands: one hub pass, one agent pass over some clusters, a line of output."""

    fleet: LocalFleet
    clock: DemoClock
    hub: Callable[[], object]
    agents: Callable[[Sequence[str] | None], object]
    out: Output

    def say(self, text: str) -> None:
        self.out.line(text)


def run_doc(fleet: LocalFleet, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    data = fleet.inputs().status_files.get(run_path(kind, namespace, name))
    doc = load(data) if data is not None else None
    return doc if isinstance(doc, dict) else None


def commit_approval(d: Driver, run: str, step: Step, namespace: str = "") -> str:
    """The commit ``fleetsync approve RUN STAGE`` makes (after the same checks), by the demo's
    identity; the command it stands for."""
    assert d.fleet.repo is not None
    a = Approval(run, step.stage, step.before, namespace)
    spec = load_directory(d.fleet.repo.work).spec
    check_target(a, spec.runs, spec.strategies)
    who = f"{DEMO_IDENTITY.name} <{DEMO_IDENTITY.email}>"
    text = dump(approval_document(a, who, d.clock())).decode()
    gate = "--before" if step.before else "--after"
    command = f"fleetsync approve {run} {step.stage} {gate}" + (f" -n {namespace}" if namespace else "")
    commit = d.fleet.repo.commit(
        {a.path: text},
        f"approve {a.kind} {a.name}: {'before' if step.before else 'after'} stage {step.stage} of run {run}",
    )
    d.say(f"$ {command}    -> {a.path} committed ({commit[:12]})")
    return command


def drive(d: Driver, kind: str, namespace: str, name: str) -> RunShown:
    """Hub, then whatever the run waits for, until it succeeds; RunFailed when it cannot."""
    shown = RunShown(name)
    row: list[str] = []
    for _ in range(MAX_STEPS):
        d.hub()
        doc = run_doc(d.fleet, kind, namespace, name)
        if doc is None:
            raise RunFailed(f"the hub wrote no status for run {name}")
        row = summary(doc)
        d.say(
            f"run {name}: {row[4]}"
            + (f", stage {row[5]}" if row[5] else "")
            + (f": {row[6]}" if row[6] else "")
        )
        step = next_step(parse_run_status(doc.get("status") or {}), d.clock())
        if step.action == "done":
            return shown
        if step.action == "failed":
            raise RunFailed(f"run {name} failed: {step.why}")
        if step.action == "sync":
            for c in step.clusters:
                if c not in shown.stages.setdefault(step.stage, []):
                    shown.stages[step.stage].append(c)
            d.agents(step.clusters)  # applies the run's snapshot and reports
            d.agents(step.clusters)  # the next poll: reports the workloads' availability
        elif step.action == "approve":
            shown.approvals.append(commit_approval(d, name, step, namespace))
        elif step.action == "wait" and step.wait > timedelta(0):
            d.clock.advance(step.wait)
            shown.skipped += step.wait
            d.say(
                f"demo clock +{_human(step.wait)}: the TimedWait after stage {step.stage} ends (a real fleet waits)"
            )
            d.fleet.beat()  # every agent beats at the new time: no heartbeat looks stale
    raise RunFailed(f"run {name} did not finish in {MAX_STEPS} hub passes: {' '.join(row[4:7])}")


def _human(delta: timedelta) -> str:
    minutes = -int(-delta.total_seconds() // 60)  # rounded up
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def roll_out(d: Driver, held: HeldRuns, external: Sequence[str]) -> list[RunShown]:
    """Commit the held-back runs now that the clusters are members, drive each to success, and
    show where the ``external`` placements landed; RunFailed unless every placement settled."""
    if not held.runs:
        d.say("staged: the template has no staged update run")
        return []
    names = ", ".join(name for _, _, name in held.runs)
    assert d.fleet.repo is not None
    with d.out.stage(f"staged: commit {names} now that the clusters have joined, and roll it out"):
        commit = d.fleet.repo.commit(
            dict(held.files), f"start staged update run {names}: the clusters have joined"
        )
        d.say(f"committed {', '.join(held.files)} ({commit[:12]})")
        shown = [drive(d, *run) for run in held.runs]
    for run in shown:
        for stage, clusters in run.stages.items():
            d.say(f"run {run.name}: stage {stage} rolled out to {', '.join(clusters)}")
    inputs = d.fleet.inputs()
    rows = [x for x in landings(inputs) if x.placement in external]
    d.out.table("where the staged placements landed (fleet/status)", LANDING_HEADERS, landing_rows(rows))
    problems = unsettled(inputs, [])
    if problems:
        raise RunFailed("after the staged runs: " + "; ".join(problems[:5]))
    return shown
