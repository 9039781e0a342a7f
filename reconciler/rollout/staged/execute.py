"""Executing a staged update run: one pure step per reconcile, KubeFleet's state machine.

``advance_run`` takes the run's stored status, what the placement and each cluster's binding
look like now, the approval requests committed to the fleet repo and the clock, and returns the
new status plus what the hub loop must do: which clusters to move to the run's resource
snapshot now (``bind``), which obsolete bindings to drop (``remove``, the deletion stage), the
approval requests to record, and when to wake up again (a TimedWait ends, a cluster would count
as stuck). KubeFleet's controller reconciles again immediately whenever a stage completes;
here the step repeats until the status stops changing, so one hub reconcile goes as far as the
inputs allow and a no-op reconcile stays byte-identical.

The rules are upstream's (``pkg/controllers/updaterun/{execution,stop,validation}.go``): a
stage waits for its before-stage Approval; at most ``maxConcurrency`` clusters update at once
(a percentage of the stage's clusters, rounded down, at least 1); a cluster succeeds when its
binding is Available (or DiffReported) for the run's snapshot; after ``STUCK_THRESHOLD`` the run
says ``UpdateRunStuck``; after-stage TimedWait (counted from the stage's end) and Approval run
in parallel; ``Stop`` lets in-flight clusters finish and starts none; a changed policy, cluster
count or apply strategy abandons the run. One deliberate difference: a cluster whose agent
reports a failed apply fails the run (KubeFleet retries it forever and ends up "stuck"), so a
broken bundle stops the rollout with a reason instead of a timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from reconciler.api.staged import ApprovalRequest, RunState, StageConfig, StagedUpdateRun, StageTaskType
from reconciler.rollout.staged.documents import approval_kind, approval_requests, keep_transition_times
from reconciler.rollout.staged.model import (
    ABORTED,
    DELETE_STAGE,
    PROGRESSING,
    STARTED,
    SUCCEEDED,
    WAIT_ELAPSED,
    ClusterProgress,
    ClusterStatus,
    PlacementFacts,
    Reason,
    RunStatus,
    StageStatus,
    find,
    is_false,
    is_true,
    max_concurrency,
)
from reconciler.rollout.staged.stop import stop
from reconciler.rollout.staged.work import (
    MAX_STEPS,
    Aborted,
    Work,
    abandon_reason,
    aggregate,
    current_stage,
    has_binding,
    put_stage,
    stuck_names,
)
from reconciler.status.conditions import Status


@dataclass(frozen=True, slots=True)
class RunStep:
    status: RunStatus
    bind: tuple[
        str, ...
    ] = ()  # move these clusters to the run's snapshot, frozen overrides and apply strategy
    remove: tuple[str, ...] = ()  # deletion stage: drop the placement from these clusters
    approval_requests: tuple[dict[str, Any], ...] = ()  # to record on fleet/status
    wake_at: datetime | None = None  # reconcile again then, even if nothing else changed


def approvals_for(run: StagedUpdateRun, requests: Iterable[ApprovalRequest]) -> dict[str, ApprovalRequest]:
    """The approval requests in the fleet repo that can approve this run's tasks, by name."""
    kind = approval_kind(run.kind)
    return {r.name: r for r in requests if r.kind == kind and r.namespace == run.namespace}


def _execute_stage(w: Work, idx: int) -> bool:
    """One stage under ``Run``; True when it completed and the next one may start now."""
    st, config = w.status.stages[idx], w.status.strategy[idx]
    if not st.clusters:
        _skip_stage(w, idx, st)
        return True
    st, approved = _before_tasks(w, idx, st)
    if not approved:
        return False
    st, finished, stuck, errors = _update_clusters(w, st, config)
    put_stage(w, idx, st)
    if stuck:
        w.set_run(
            PROGRESSING,
            Status.FALSE,
            Reason.STUCK,
            f"The updateRun is stuck waiting for {stuck_names(stuck)} cluster(s) in stage {st.name} to finish "
            "updating, please check placement status for potential errors",
        )
    elif w.run.state == RunState.RUN:
        w.progressing()
    if errors:
        raise Aborted(aggregate(errors))
    if finished != len(st.clusters):
        return False
    return _complete_stage(w, idx, st, config)


def _skip_stage(w: Work, idx: int, st: StageStatus) -> None:
    """A stage without clusters succeeds at once, marked skipped."""
    message = "Stage skipped because it has no clusters"
    st = replace(st, start_time=st.start_time or w.now, end_time=st.end_time or w.now)
    st = w.stage_cond(st, Status.FALSE, Reason.STAGE_SKIPPED, message)
    st = replace(st, conditions=w.cond(st.conditions, SUCCEEDED, Status.TRUE, Reason.STAGE_SKIPPED, message))
    put_stage(w, idx, st)


def _before_tasks(w: Work, idx: int, st: StageStatus) -> tuple[StageStatus, bool]:
    """The before-stage tasks (Approval only, as upstream) in order; False while one waits."""
    before = list(st.before_tasks)
    for i, t in enumerate(before):
        if t.type != StageTaskType.APPROVAL:
            raise Aborted(f"{ABORTED}: found unsupported task type in before stage tasks: {t.type}")
        before[i], approved = w.approval(t, st.name)
        st = replace(st, before_tasks=tuple(before))
        put_stage(w, idx, st)
        if not approved:
            put_stage(
                w,
                idx,
                w.stage_cond(
                    st,
                    Status.FALSE,
                    Reason.STAGE_WAITING,
                    "Not all before-stage tasks are completed, waiting for approval",
                ),
            )
            w.waiting("before-stage", st.name)
            return st, False
    return st, True


def _update_clusters(
    w: Work, st: StageStatus, config: StageConfig
) -> tuple[StageStatus, int, list[str], list[str]]:
    """Start or check up to maxConcurrency clusters of the stage, in its order → the stage, how
    many clusters finished, the stuck ones and the errors that abort the run."""
    limit = max_concurrency(config.max_concurrency, len(st.clusters))
    index = w.status.resource_index
    clusters = list(st.clusters)
    finished = updating = 0
    stuck: list[str] = []
    errors: list[str] = []
    i = 0
    while i < len(clusters) and updating < limit:
        c = clusters[i]
        i += 1
        if is_true(c.conditions, SUCCEEDED):
            finished += 1
            continue
        updating += 1
        if is_false(c.conditions, SUCCEEDED):
            errors.append(f"{ABORTED}: the cluster `{c.name}` in the stage {st.name} has failed")
            continue
        obs = w.progress(c.name)
        if obs is None:
            errors.append(
                f"{ABORTED}: the binding for cluster `{c.name}` in stage `{st.name}` is not found in the "
                "toBeUpdatedBindings map"
            )
            continue
        if not is_true(c.conditions, STARTED):
            clusters[i - 1] = _start_cluster(w, c, st.name, obs, index, errors)
            st = w.stage_started(replace(st, clusters=tuple(clusters)))
            continue
        if obs.resource_index != index or not obs.bound:
            clusters[i - 1] = _overtaken(w, c, st.name, errors)
            continue
        c, done = w.check_result(c, st.name, obs, errors)
        clusters[i - 1] = c
        if done:
            finished += 1
            updating -= 1
        elif not is_false(c.conditions, SUCCEEDED):
            w.stuck_check(c, stuck)
    return replace(st, clusters=tuple(clusters)), finished, stuck, errors


def _start_cluster(
    w: Work, c: ClusterStatus, stage: str, obs: ClusterProgress, index: int, errors: list[str]
) -> ClusterStatus:
    """A cluster starts: its binding moves to the run's snapshot (or, already there, its result
    is checked at once)."""
    if obs.resource_index != index or not obs.bound:
        w.bind.append(c.name)
    else:
        c, _ = w.check_result(c, stage, obs, errors)
    return w.started(c)


def _overtaken(w: Work, c: ClusterStatus, stage: str, errors: list[str]) -> ClusterStatus:
    """An updating cluster whose binding no longer points at the run's snapshot fails."""
    message = (
        f"the binding of the updating cluster `{c.name}` in the stage `{stage}` is not up-to-date "
        f"with the desired status, please check the status of binding `{w.run.placement_name}-"
        f"{c.name}` and see if there is a concurrent updateRun referencing the same placement and "
        "updating the same cluster"
    )
    failed = w.cluster(c, SUCCEEDED, Status.FALSE, Reason.CLUSTER_FAILED, message)
    errors.append(f"{ABORTED}: {message}")
    return failed


def _complete_stage(w: Work, idx: int, st: StageStatus, config: StageConfig) -> bool:
    """handleStageCompletion: every cluster is updated; the after-stage tasks decide."""
    w.waiting("after-stage", st.name)
    st = w.stage_cond(
        st,
        Status.FALSE,
        Reason.STAGE_WAITING,
        "All clusters in the stage are updated, waiting for after-stage tasks to complete",
    )
    passed, st = _after_tasks(w, st, config.after_stage_tasks)
    if not passed:
        put_stage(w, idx, st)
        return False
    w.progressing()
    put_stage(w, idx, w.stage_succeeded(st))
    return True


def _after_tasks(w: Work, st: StageStatus, tasks: Iterable[Any]) -> tuple[bool, StageStatus]:
    passed = True
    after = list(st.after_tasks)
    for i, task in enumerate(tasks):
        if task.type == StageTaskType.TIMED_WAIT:
            end = _stage_end(st, w.now) + task.wait_time
            if end > w.now:
                passed = False
                w.waits.append(end)
            else:
                after[i] = replace(
                    after[i],
                    conditions=w.cond(
                        after[i].conditions,
                        WAIT_ELAPSED,
                        Status.TRUE,
                        Reason.WAIT_ELAPSED,
                        "Wait time elapsed",
                    ),
                )
        else:
            after[i], approved = w.approval(after[i], st.name)
            passed = passed and approved
    return passed, replace(st, after_tasks=tuple(after))


def _stage_end(st: StageStatus, now: datetime) -> datetime:
    """When the stage's last cluster succeeded: a TimedWait counts from there.

    KubeFleet reads the stage's Progressing transition time, which moves at the same moment;
    the clusters' Succeeded times are stored once and never move, so a restarted hub or a
    reconcile that passes through other states in between counts from the same instant."""
    ends = [c.last_transition_time for cl in st.clusters if (c := find(cl.conditions, SUCCEEDED)) is not None]
    return max(ends) if ends else now


def _execute_delete(w: Work) -> bool:
    """The deletion stage: drop obsolete bindings; True when none is left."""
    d = w.status.deletion_stage or StageStatus(DELETE_STAGE)
    if d.start_time is None:
        w.progressing()
    d = w.stage_started(d)
    clusters = list(d.clusters)
    remaining = 0
    for i, c in enumerate(clusters):
        if has_binding(w, c.name):
            if is_true(c.conditions, SUCCEEDED):
                raise Aborted(
                    f"{ABORTED}: the deleted cluster `{c.name}` in the deleting stage still has a binding"
                )
            if c.name not in w.remove:
                w.remove.append(c.name)
            clusters[i] = w.started(c)
            remaining += 1
            w.waits.append(w.now)  # the removal is applied by this reconcile: look again right after it
        else:
            clusters[i] = w.succeeded(w.started(c) if not is_true(c.conditions, STARTED) else c)
    d = replace(d, clusters=tuple(clusters))
    if remaining == 0:
        d = w.stage_succeeded(d)
    w.status = replace(w.status, deletion_stage=d)
    return remaining == 0


def _step(w: Work) -> None:
    if w.run.state == RunState.STOP:
        stop(w)
        return
    progressing = find(w.status.conditions, PROGRESSING)
    if not (
        progressing is not None
        and progressing.status == Status.FALSE
        and progressing.reason in (Reason.WAITING, Reason.STUCK)
    ):
        w.progressing()
    idx = current_stage(w.status)
    if idx < len(w.status.stages):
        _execute_stage(w, idx)
        return
    if _execute_delete(w):
        w.set_run(PROGRESSING, Status.FALSE, Reason.SUCCEEDED, "All stages are completed")
        w.set_run(SUCCEEDED, Status.TRUE, Reason.SUCCEEDED, "All stages are completed successfully")


def _abort(w: Work, message: str) -> None:
    idx = current_stage(w.status)
    if idx < len(w.status.stages):
        put_stage(w, idx, w.stage_failed(w.status.stages[idx], message))
    elif w.status.deletion_stage is not None:
        w.status = replace(w.status, deletion_stage=w.stage_failed(w.status.deletion_stage, message))
    w.fail(message)


def fail_run(run: StagedUpdateRun, status: RunStatus, message: str, now: datetime) -> RunStatus:
    """Abort a run from outside the state machine (its current stage and the run fail)."""
    w = Work(run, status, {}, {}, now.replace(microsecond=0))
    _abort(w, message)
    return keep_transition_times(status, w.status)


def advance_run(
    run: StagedUpdateRun,
    status: RunStatus,
    placement: PlacementFacts | None,
    clusters: Mapping[str, ClusterProgress],
    approvals: Mapping[str, ApprovalRequest],
    now: datetime,
) -> RunStep:
    """Step an initialized run as far as the inputs allow (see the module docstring).

    ``clusters`` holds every binding the placement has now (any state), keyed by cluster;
    ``approvals`` the approval requests of the fleet repo by name (``approvals_for``).
    """
    now = now.replace(microsecond=0)
    if not status.initialized or status.finished or run.state == RunState.INITIALIZE:
        return RunStep(status, approval_requests=approval_requests(run, status, approvals))
    w = Work(run, status, clusters, approvals, now)
    problem = abandon_reason(status, placement)
    if problem is not None:
        w.fail(problem)
        w.status = keep_transition_times(status, w.status)
        return RunStep(w.status, approval_requests=approval_requests(run, w.status, approvals))
    for _ in range(MAX_STEPS):
        before = w.status
        w.waits.clear()
        try:
            _step(w)
        except Aborted as e:
            _abort(w, str(e))
        if w.status == before or w.status.finished:
            break
    wake = min(w.waits) if w.waits and not w.status.finished else None
    w.status = keep_transition_times(status, w.status)
    return RunStep(
        w.status, tuple(w.bind), tuple(w.remove), approval_requests(run, w.status, approvals), wake
    )
