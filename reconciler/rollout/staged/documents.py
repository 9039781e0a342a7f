"""Staged update runs on ``fleet/status``: the run and approval-request documents, KubeFleet-shaped.

A run file is what ``kubectl get csur NAME -o yaml`` shows on a KubeFleet hub (spec, and a
status with KubeFleet's field names); reading it back gives the exact ``RunStatus`` a restarted
hub continues from, strategy snapshot included (durations in Go's ``1h0m0s`` form). Approval
requests are recorded beside the runs, as KubeFleet's controller would create them, with the
approver's ``Approved`` condition and the hub's ``ApprovalAccepted`` once a stage used them.

``keep_transition_times`` makes a step's result stable: one reconcile may pass a condition
through other states (Waiting → Progressing → Waiting), and only a change against the stored
status may move its time, so a reconcile with unchanged inputs writes identical bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from fleetsync_contract.report import format_time, parse_time
from reconciler.api.meta import LabelSelector, Requirement
from reconciler.api.staged import (
    AREQ_KIND,
    CAREQ_KIND,
    CSUR_KIND,
    SUR_KIND,
    ApprovalRequest,
    StageConfig,
    StagedUpdateRun,
    StageTask,
    StageTaskType,
)
from reconciler.errors import UserError
from reconciler.rollout.staged.model import (
    AFTER_STAGE,
    API_VERSION,
    APPROVAL_ACCEPTED,
    APPROVAL_APPROVED,
    APPROVAL_CREATED,
    APPROVED,
    BEFORE_STAGE,
    DELETE_STAGE,
    DELETE_STAGE_LABEL_VALUE,
    IS_LATEST_LABEL,
    TARGET_RUN_LABEL,
    TARGET_STAGE_LABEL,
    TASK_TYPE_LABEL,
    ClusterStatus,
    Reason,
    RunCondition,
    RunStatus,
    StageStatus,
    TaskStatus,
    approval_name,
    find,
    max_concurrency,
)
from reconciler.status.conditions import Status


# -- the strategy snapshot as KubeFleet's StageConfig document ------------------------------------
def format_duration(d: timedelta) -> str:
    """Go's ``time.Duration.String()`` for whole seconds (``1h0m0s``, ``1m30s``, ``45s``)."""
    total = int(d.total_seconds())
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(h|m|s)")
_UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UserError(f"not a duration: {text!r}")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def _task_doc(t: StageTask) -> dict[str, Any]:
    out: dict[str, Any] = {"type": str(t.type)}
    if t.wait_time is not None:
        out["waitTime"] = format_duration(t.wait_time)
    return out


def stage_config_doc(s: StageConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"name": s.name, "maxConcurrency": s.max_concurrency}
    if s.label_selector is not None:
        out["labelSelector"] = s.label_selector.to_dict()
    if s.sorting_label_key is not None:
        out["sortingLabelKey"] = s.sorting_label_key
    if s.before_stage_tasks:
        out["beforeStageTasks"] = [_task_doc(t) for t in s.before_stage_tasks]
    if s.after_stage_tasks:
        out["afterStageTasks"] = [_task_doc(t) for t in s.after_stage_tasks]
    return out


def _selector(doc: Any) -> LabelSelector | None:
    if not isinstance(doc, Mapping):
        return None
    labels = {str(k): str(v) for k, v in (doc.get("matchLabels") or {}).items()}
    reqs = tuple(
        Requirement(
            str(e.get("key", "")), str(e.get("operator", "")), tuple(str(v) for v in e.get("values") or ())
        )
        for e in doc.get("matchExpressions") or ()
        if isinstance(e, Mapping)
    )
    return LabelSelector(MappingProxyType(labels), reqs)


def _tasks(docs: Any) -> tuple[StageTask, ...]:
    out: list[StageTask] = []
    for t in docs or ():
        wait = t.get("waitTime")
        out.append(StageTask(StageTaskType(str(t["type"])), parse_duration(str(wait)) if wait else None))
    return tuple(out)


def stage_config_from_doc(doc: Mapping[str, Any]) -> StageConfig:
    mc = doc.get("maxConcurrency", 1)
    return StageConfig(
        name=str(doc["name"]),
        label_selector=_selector(doc.get("labelSelector")),
        sorting_label_key=str(doc["sortingLabelKey"]) if doc.get("sortingLabelKey") is not None else None,
        max_concurrency=mc if isinstance(mc, int) else str(mc),
        after_stage_tasks=_tasks(doc.get("afterStageTasks")),
        before_stage_tasks=_tasks(doc.get("beforeStageTasks")),
    )


# -- status <-> document ------------------------------------------------------------------------
def _cond_docs(conds: Sequence[RunCondition]) -> list[dict[str, Any]]:
    return [
        {
            "type": c.type,
            "status": str(c.status),
            "reason": c.reason,
            "message": c.message,
            "lastTransitionTime": format_time(c.last_transition_time),
        }
        for c in conds
    ]


def _conds(docs: Any) -> tuple[RunCondition, ...]:
    return tuple(
        RunCondition(
            str(c["type"]),
            Status(str(c["status"])),
            str(c.get("reason", "")),
            str(c.get("message", "")),
            parse_time(str(c["lastTransitionTime"])),
        )
        for c in docs or ()
    )


def _stage_doc(s: StageStatus, config: StageConfig | None = None) -> dict[str, Any]:
    """One ``stagesStatus`` entry; with the stage's ``config``, fleetsync's addition
    ``maxConcurrency``: the number of clusters it updates at once (a percentage resolved against
    the stage's clusters), where the strategy snapshot keeps the value as written."""
    clusters: list[dict[str, Any]] = []
    for c in s.clusters:
        cd: dict[str, Any] = {"clusterName": c.name}
        if c.cluster_overrides:
            cd["clusterResourceOverrideSnapshots"] = list(c.cluster_overrides)
        if c.resource_overrides:
            cd["resourceOverrideSnapshots"] = [{"namespace": ns, "name": n} for ns, n in c.resource_overrides]
        if c.conditions:
            cd["conditions"] = _cond_docs(c.conditions)
        clusters.append(cd)
    out: dict[str, Any] = {"stageName": s.name, "clusters": clusters}
    if config is not None:
        out["maxConcurrency"] = max_concurrency(config.max_concurrency, len(s.clusters))
    for key, tasks in (("beforeStageTaskStatus", s.before_tasks), ("afterStageTaskStatus", s.after_tasks)):
        if tasks:
            out[key] = [
                {
                    "type": str(t.type),
                    **({"approvalRequestName": t.approval_request_name} if t.approval_request_name else {}),
                    "conditions": _cond_docs(t.conditions),
                }
                for t in tasks
            ]
    if s.start_time is not None:
        out["startTime"] = format_time(s.start_time)
    if s.end_time is not None:
        out["endTime"] = format_time(s.end_time)
    out["conditions"] = _cond_docs(s.conditions)
    return out


def _stage(doc: Mapping[str, Any]) -> StageStatus:
    clusters = tuple(
        ClusterStatus(
            str(c["clusterName"]),
            tuple(str(x) for x in c.get("clusterResourceOverrideSnapshots") or ()),
            tuple(
                (str(x.get("namespace", "")), str(x["name"]))
                for x in c.get("resourceOverrideSnapshots") or ()
            ),
            _conds(c.get("conditions")),
        )
        for c in doc.get("clusters") or ()
    )

    def tasks(key: str) -> tuple[TaskStatus, ...]:
        return tuple(
            TaskStatus(
                StageTaskType(str(t["type"])),
                str(t.get("approvalRequestName", "")),
                _conds(t.get("conditions")),
            )
            for t in doc.get(key) or ()
        )

    start, end = doc.get("startTime"), doc.get("endTime")
    return StageStatus(
        str(doc["stageName"]),
        clusters,
        tasks("beforeStageTaskStatus"),
        tasks("afterStageTaskStatus"),
        parse_time(str(start)) if start else None,
        parse_time(str(end)) if end else None,
        _conds(doc.get("conditions")),
    )


def _config(s: RunStatus, stage: str) -> StageConfig | None:
    return next((c for c in s.strategy if c.name == stage), None)


def run_status_doc(s: RunStatus) -> dict[str, Any]:
    """The ``status`` of the run object, KubeFleet's field names."""
    out: dict[str, Any] = {"conditions": _cond_docs(s.conditions)}
    if not s.initialized and not s.stages:
        return out
    out.update(
        {
            "policySnapshotIndexUsed": s.policy_snapshot_index_used,
            "policyObservedClusterCount": s.policy_observed_cluster_count,
            "resourceSnapshotIndexUsed": s.resource_snapshot_index_used,
            "appliedStrategy": dict(s.applied_strategy),
            "stagedUpdateStrategySnapshot": {"stages": [stage_config_doc(c) for c in s.strategy]},
            "stagesStatus": [_stage_doc(st, _config(s, st.name)) for st in s.stages],
        }
    )
    if s.deletion_stage is not None:
        out["deletionStageStatus"] = _stage_doc(s.deletion_stage)
    if s.fleet_commit_used:
        out["fleetCommitUsed"] = s.fleet_commit_used
    return out


def parse_run_status(doc: Mapping[str, Any]) -> RunStatus:
    """Read back ``run_status_doc`` output (a run file on fleet/status); UserError when malformed."""
    try:
        deletion = doc.get("deletionStageStatus")
        snapshot = doc.get("stagedUpdateStrategySnapshot") or {}
        return RunStatus(
            conditions=_conds(doc.get("conditions")),
            policy_snapshot_index_used=str(doc.get("policySnapshotIndexUsed", "")),
            policy_observed_cluster_count=int(doc.get("policyObservedClusterCount", 0)),
            resource_snapshot_index_used=str(doc.get("resourceSnapshotIndexUsed", "")),
            applied_strategy=MappingProxyType(dict(doc.get("appliedStrategy") or {})),
            strategy=tuple(stage_config_from_doc(c) for c in snapshot.get("stages") or ()),
            stages=tuple(_stage(st) for st in doc.get("stagesStatus") or ()),
            deletion_stage=_stage(deletion) if isinstance(deletion, Mapping) else None,
            fleet_commit_used=str(doc.get("fleetCommitUsed", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"malformed staged update run status: {e}") from e


def run_path(kind: str, namespace: str, name: str) -> str:
    """``runs/<kind>/<namespace>/<name>.yaml``; a cluster-scoped run's namespace is ``_cluster``."""
    return f"runs/{kind}/{namespace or '_cluster'}/{name}.yaml"


def run_doc(run: StagedUpdateRun, status: RunStatus) -> dict[str, Any]:
    """The run as ``kubectl get csur NAME -o yaml`` shows it: identity, spec and status."""
    metadata: dict[str, Any] = {"name": run.name}
    if run.namespace:
        metadata["namespace"] = run.namespace
    spec = {
        "placementName": run.placement_name,
        "resourceSnapshotIndex": run.resource_snapshot_index,
        "stagedRolloutStrategyName": run.strategy_name,
        "state": str(run.state),
    }
    return {
        "apiVersion": API_VERSION,
        "kind": run.kind,
        "metadata": metadata,
        "spec": spec,
        "status": run_status_doc(status),
    }


def approval_kind(run_kind: str) -> str:
    return AREQ_KIND if run_kind == SUR_KIND else CAREQ_KIND


def approval_labels(run: str, stage: str, before: bool) -> dict[str, str]:
    return {
        TARGET_STAGE_LABEL: DELETE_STAGE_LABEL_VALUE if stage == DELETE_STAGE else stage,
        TARGET_RUN_LABEL: run,
        TASK_TYPE_LABEL: BEFORE_STAGE if before else AFTER_STAGE,
        IS_LATEST_LABEL: "true",
    }


def approval_request_doc(
    run_kind: str, namespace: str, run: str, stage: str, before: bool, conditions: Sequence[RunCondition] = ()
) -> dict[str, Any]:
    """A ClusterApprovalRequest / ApprovalRequest as KubeFleet's controller creates it."""
    metadata: dict[str, Any] = {
        "name": approval_name(run, stage, before),
        "labels": approval_labels(run, stage, before),
    }
    if namespace:
        metadata["namespace"] = namespace
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": approval_kind(run_kind),
        "metadata": metadata,
        "spec": {"parentStageRollout": run, "targetStage": stage},
    }
    if conditions:
        doc["status"] = {"conditions": _cond_docs(conditions)}
    return doc


def approval_request_path(kind: str, namespace: str, name: str) -> str:
    """Where the hub records an approval request on fleet/status (beside the runs)."""
    return f"approvalrequests/{kind}/{namespace or '_cluster'}/{name}.yaml"


def _keep(old: tuple[RunCondition, ...], new: tuple[RunCondition, ...]) -> tuple[RunCondition, ...]:
    prev = {c.type: c for c in old}
    return tuple(
        replace(c, last_transition_time=p.last_transition_time)
        if (p := prev.get(c.type)) is not None and p.status == c.status
        else c
        for c in new
    )


def _keep_stage(old: StageStatus | None, new: StageStatus) -> StageStatus:
    if old is None or old.name != new.name:
        return new
    clusters = (
        tuple(
            replace(c, conditions=_keep(o.conditions, c.conditions)) if o.name == c.name else c
            for o, c in zip(old.clusters, new.clusters, strict=False)
        )
        + new.clusters[len(old.clusters) :]
    )
    before = tuple(
        replace(t, conditions=_keep(o.conditions, t.conditions))
        for o, t in zip(old.before_tasks, new.before_tasks, strict=False)
    )
    after = tuple(
        replace(t, conditions=_keep(o.conditions, t.conditions))
        for o, t in zip(old.after_tasks, new.after_tasks, strict=False)
    )
    return replace(
        new,
        clusters=clusters,
        before_tasks=before or new.before_tasks,
        after_tasks=after or new.after_tasks,
        conditions=_keep(old.conditions, new.conditions),
    )


def keep_transition_times(old: RunStatus, new: RunStatus) -> RunStatus:
    """A condition's time moves only when its status differs from the stored one (one reconcile
    may pass through other states in between, e.g. Waiting → Progressing → Waiting)."""
    stages = (
        tuple(_keep_stage(o, n) for o, n in zip(old.stages, new.stages, strict=False))
        + new.stages[len(old.stages) :]
    )
    deletion = new.deletion_stage
    if deletion is not None:
        deletion = _keep_stage(old.deletion_stage, deletion)
    return replace(
        new, conditions=_keep(old.conditions, new.conditions), stages=stages, deletion_stage=deletion
    )


def approval_requests(
    run: StagedUpdateRun, status: RunStatus, approvals: Mapping[str, ApprovalRequest]
) -> tuple[dict[str, Any], ...]:
    """Every approval request the run has created, as KubeFleet's objects (for fleet/status).

    An accepted approval carries the approver's ``Approved`` condition (from the committed file)
    and the hub's ``ApprovalAccepted``; the times are the run's, so the documents are stable.
    """
    out: list[dict[str, Any]] = []
    stages = list(status.stages) + ([status.deletion_stage] if status.deletion_stage is not None else [])
    for st in stages:
        for before, tasks in ((True, st.before_tasks), (False, st.after_tasks)):
            for t in tasks:
                created = find(t.conditions, APPROVAL_CREATED)
                if t.type != StageTaskType.APPROVAL or created is None:
                    continue
                conds: list[RunCondition] = []
                approved = find(t.conditions, APPROVAL_APPROVED)
                req = approvals.get(t.approval_request_name)
                if approved is not None and approved.status == Status.TRUE:
                    given = next((c for c in req.conditions if c.type == APPROVED), None) if req else None
                    conds.append(
                        RunCondition(
                            APPROVED,
                            Status.TRUE,
                            given.reason if given else "",
                            given.message if given else "",
                            approved.last_transition_time,
                        )
                    )
                    conds.append(
                        RunCondition(
                            APPROVAL_ACCEPTED,
                            Status.TRUE,
                            Reason.APPROVAL_ACCEPTED,
                            "The approval request has been approved and cannot be reverted",
                            approved.last_transition_time,
                        )
                    )
                out.append(
                    approval_request_doc(
                        run.kind or CSUR_KIND, run.namespace, run.name, st.name, before, conds
                    )
                )
    return tuple(out)
