"""Stopping a staged update run (upstream's ``pkg/controllers/updaterun/stop.go``).

A run whose ``state`` is ``Stop`` starts no cluster; the clusters already updating finish, and
only then is the run Stopped (its current stage, or the deletion stage, says so). Apart from
reconciler/rollout/staged/execute.py, which runs the stages, because stopping is the one path
through a run that must never start anything: keeping it separate keeps that easy to check.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.rollout.staged.model import (
    DELETE_STAGE,
    PROGRESSING,
    STARTED,
    SUCCEEDED,
    ClusterProgress,
    Reason,
    StageStatus,
    find,
    is_false,
    is_true,
)
from reconciler.rollout.staged.work import (
    Aborted,
    Work,
    aggregate,
    current_stage,
    has_binding,
    put_stage,
    stuck_names,
)
from reconciler.status.conditions import Status


def stop(w: Work) -> None:
    """stop(): in-flight clusters finish, none starts; Stopped once nothing is in flight."""
    progressing = find(w.status.conditions, PROGRESSING)
    if progressing is not None and progressing.reason == Reason.STOPPED:
        return
    w.set_run(
        PROGRESSING,
        Status.UNKNOWN,
        Reason.STOPPING,
        "The update run is the process of stopping, waiting for all the updating clusters to finish updating "
        "before completing the stop process",
    )
    idx = current_stage(w.status)
    if idx < len(w.status.stages):
        st = w.status.stages[idx]
        clusters = list(st.clusters)
        updating = 0
        stuck: list[str] = []
        errors: list[str] = []
        for i, c in enumerate(clusters):
            if not is_true(c.conditions, STARTED) or find(c.conditions, SUCCEEDED) is not None:
                continue
            updating += 1
            obs = w.progress(c.name) or ClusterProgress()
            c, done = w.check_result(c, st.name, obs, errors)
            clusters[i] = c
            if done or is_false(c.conditions, SUCCEEDED):
                updating -= 1
            else:
                w.stuck_check(c, stuck)
        st = replace(st, clusters=tuple(clusters))
        put_stage(w, idx, st)
        if stuck:
            w.set_run(
                PROGRESSING,
                Status.FALSE,
                Reason.STUCK,
                f"The updateRun is stuck waiting for {stuck_names(stuck)} cluster(s) in stage {st.name} to "
                "finish updating, please check placement status for potential errors",
            )
        if errors:
            raise Aborted(aggregate(errors))
        if updating:
            put_stage(
                w,
                idx,
                w.stage_cond(
                    st,
                    Status.UNKNOWN,
                    Reason.STAGE_STOPPING,
                    "Waiting for all the updating clusters to finish updating before completing "
                    "the stop process",
                ),
            )
            return
        put_stage(w, idx, _stopped(w, st))
    else:
        d = w.status.deletion_stage or StageStatus(DELETE_STAGE)
        pending = [c for c in d.clusters if has_binding(w, c.name) and is_true(c.conditions, STARTED)]
        if pending:
            w.status = replace(
                w.status,
                deletion_stage=w.stage_cond(
                    d,
                    Status.UNKNOWN,
                    Reason.STAGE_STOPPING,
                    "Waiting for all the updating clusters to finish updating before completing the stop process",
                ),
            )
            return
        w.status = replace(w.status, deletion_stage=_stopped(w, d))
    w.set_run(PROGRESSING, Status.FALSE, Reason.STOPPED, "The update run has been stopped")


def _stopped(w: Work, st: StageStatus) -> StageStatus:
    return w.stage_cond(
        st,
        Status.FALSE,
        Reason.STAGE_STOPPED,
        "All the updating clusters have finished updating, the stage is now stopped, waiting to be resumed",
    )
