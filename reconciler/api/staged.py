"""Staged updates: update strategies, update runs and approval requests (KubeFleet §10).

Each pair (cluster-scoped for ClusterResourcePlacements, namespaced for ResourcePlacements)
shares one model, as upstream shares its spec types; ``kind`` tells them apart. Every served
apiVersion converts into it: v1alpha1 (cluster-scoped kinds only) had no run ``state`` and
started a run on creation, so a v1alpha1 run is ``Run``; a v1alpha1 stage without a
labelSelector took every cluster, where v1beta1 and v1 take none (``None`` vs ``{}``).

An approval request's ``status.conditions`` are kept, not ignored: in fleetsync a person
approves a stage by committing the request with ``Approved=True`` (``fleetsync approve`` writes
that file), where on a KubeFleet hub they would patch the status subresource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from reconciler.api.fields import Fields, check_dns_subdomain
from reconciler.api.meta import (
    LabelSelector,
    NamespacedName,
    ObjectMeta,
    Origin,
    parse_label_selector,
    parse_namespaced_metadata,
)
from reconciler.api.registry import KindInfo

GROUP = "placement.kubernetes-fleet.io"
CSUS_KIND = "ClusterStagedUpdateStrategy"
SUS_KIND = "StagedUpdateStrategy"
CSUR_KIND = "ClusterStagedUpdateRun"
SUR_KIND = "StagedUpdateRun"
CAREQ_KIND = "ClusterApprovalRequest"
AREQ_KIND = "ApprovalRequest"
NAMESPACED_KINDS = frozenset({SUS_KIND, SUR_KIND, AREQ_KIND})


MAX_STAGES = 31
_STAGE_NAME = re.compile(r"^[a-z0-9]+$")
_PERCENT = re.compile(r"^(100|[1-9][0-9]?)%$")
_WAIT_TIME = re.compile(r"^(?:[0-9]+(\.[0-9]+)?(?:s|m|h))+$")
_WAIT_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smh])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


class StageTaskType(StrEnum):
    TIMED_WAIT = "TimedWait"
    APPROVAL = "Approval"


@dataclass(frozen=True, slots=True)
class StageTask:
    type: StageTaskType
    wait_time: timedelta | None = None  # TimedWait only


@dataclass(frozen=True, slots=True)
class StageConfig:
    name: str
    # None: the stage gets no clusters; an empty selector: every cluster of the run.
    label_selector: LabelSelector | None = None
    sorting_label_key: str | None = None
    max_concurrency: int | str = 1  # an integer >= 1 or a percentage of the stage's clusters
    after_stage_tasks: tuple[StageTask, ...] = ()
    before_stage_tasks: tuple[StageTask, ...] = ()


@dataclass(frozen=True, slots=True)
class StagedUpdateStrategy(NamespacedName):
    """A ClusterStagedUpdateStrategy or StagedUpdateStrategy."""

    kind: str
    api_version: str
    meta: ObjectMeta
    origin: Origin
    stages: tuple[StageConfig, ...] = ()


class RunState(StrEnum):
    INITIALIZE = "Initialize"
    RUN = "Run"
    STOP = "Stop"


@dataclass(frozen=True, slots=True)
class StagedUpdateRun(NamespacedName):
    """A ClusterStagedUpdateRun (of a CRP) or StagedUpdateRun (of an RP in the same namespace)."""

    kind: str
    api_version: str
    meta: ObjectMeta
    origin: Origin
    placement_name: str
    strategy_name: str
    resource_snapshot_index: str = ""  # "" = the latest resource snapshot
    state: RunState = RunState.INITIALIZE

    @property
    def placement_key(self) -> str:
        """The placement key (docs/formats.md) of the placement this run rolls out."""
        if self.kind == SUR_KIND:
            return f"ResourcePlacement/{self.meta.namespace}/{self.placement_name}"
        return f"ClusterResourcePlacement/{self.placement_name}"


@dataclass(frozen=True, slots=True)
class ApprovalCondition:
    type: str
    status: str  # True | False | Unknown
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRequest(NamespacedName):
    """A ClusterApprovalRequest or ApprovalRequest: approval of one stage task of one run."""

    kind: str
    api_version: str
    meta: ObjectMeta
    origin: Origin
    update_run: str  # spec.parentStageRollout
    target_stage: str
    conditions: tuple[ApprovalCondition, ...] = ()

    @property
    def approved(self) -> bool:
        return any(c.type == "Approved" and c.status == "True" for c in self.conditions)


# -- parsing ------------------------------------------------------------------------------------


def _meta(f: Fields, kind: str, max_name: int = 253) -> ObjectMeta:
    return parse_namespaced_metadata(
        f,
        kind,
        namespaced=kind in NAMESPACED_KINDS,
        max_name=max_name,
        name_check=lambda n: check_dns_subdomain(n, max_name),
        namespace_hint="that of its ResourcePlacement",
    )


def _kind(f: Fields, cluster_kind: str, namespaced_kind: str) -> str:
    return namespaced_kind if f.data.get("kind") == namespaced_kind else cluster_kind


def parse_update_strategy(f: Fields, api_version: str, origin: Origin) -> StagedUpdateStrategy:
    kind = _kind(f, CSUS_KIND, SUS_KIND)
    alpha = api_version.endswith("/v1alpha1")
    meta = _meta(f, kind)
    spec = f.map("spec", required=True)
    f.done()
    stages: list[StageConfig] = []
    if spec is not None:
        seen: set[str] = set()
        for s in spec.objects("stages", required=True, max_items=MAX_STAGES):
            stage = _stage(s, alpha)
            if stage.name and stage.name in seen:
                s.error("name", f"stage name {stage.name!r} is used twice; stage names must be unique")
            seen.add(stage.name)
            stages.append(stage)
        spec.done()
    return StagedUpdateStrategy(kind, api_version, meta, origin, tuple(stages))


def _stage(s: Fields, alpha: bool) -> StageConfig:
    name = (
        s.str(
            "name",
            required=True,
            max_len=63,
            pattern=_STAGE_NAME,
            pattern_hint="a stage name: lowercase letters and digits only (^[a-z0-9]+$)",
        )
        or ""
    )
    ls = s.map("labelSelector")
    selector = parse_label_selector(ls) if ls is not None else None
    if selector is None and alpha:
        selector = LabelSelector()  # v1alpha1: an absent selector took every cluster
    sorting = s.str("sortingLabelKey")
    concurrency: int | str = 1
    if not alpha:
        value = s.int_or_str(
            "maxConcurrency",
            1,
            pattern=_PERCENT,
            pattern_hint="an integer >= 1 or a percentage from 1% to 100%",
        )
        if isinstance(value, int) and value < 1:  # KubeFleet's CEL rule and message
            s.error(
                "maxConcurrency",
                f"maxConcurrency must be at least 1: got {value}; use an integer >= 1 or a percentage "
                "from 1% to 100%",
            )
            value = None
        concurrency = value if value is not None else 1
    after = _tasks(s, "afterStageTasks", max_items=2)
    before = () if alpha else _tasks(s, "beforeStageTasks", max_items=1)
    for i, task in enumerate(before):
        if task.type == StageTaskType.TIMED_WAIT:
            s.ctx.error(
                (*s.at("beforeStageTasks"), i, "type"),
                "BeforeStageTaskType cannot be TimedWait: a beforeStageTask can only be an Approval "
                "(TimedWait runs after a stage)",
            )
    s.done()
    return StageConfig(name, selector, sorting, concurrency, after, before)


def _tasks(s: Fields, key: str, *, max_items: int) -> tuple[StageTask, ...]:
    out: list[StageTask] = []
    for t in s.objects(key, max_items=max_items):
        ttype = t.str("type", required=True, enum=[x.value for x in StageTaskType])
        wait = _wait_time(t)
        t.done()
        if ttype is None:
            continue
        task_type = StageTaskType(ttype)
        if task_type == StageTaskType.APPROVAL and t.has("waitTime"):
            t.error(
                "waitTime",
                "AfterStageTaskType is Approval, waitTime is not allowed: an Approval task waits for a "
                "person, not a time; remove waitTime",
            )
            wait = None
        if task_type == StageTaskType.TIMED_WAIT and wait is None and not t.has("waitTime"):
            t.error(
                None, "AfterStageTaskType is TimedWait, waitTime is required: e.g. waitTime: 1h, 30m or 1h30m"
            )
        if any(o.type == task_type for o in out):
            t.error("type", f"two {task_type} tasks in {key}: there can be at most one task of each type")
            continue
        out.append(StageTask(task_type, wait))
    return tuple(out)


def _wait_time(t: Fields) -> timedelta | None:
    text = t.str("waitTime")
    if text is None:
        return None
    if not _WAIT_TIME.match(text):
        t.error(
            "waitTime",
            f"{text!r} is not a duration: use hours, minutes and seconds such as 1h, 30m, 90s or 1h30m",
        )
        return None
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _WAIT_PART.findall(text))
    if seconds <= 0:
        t.error("waitTime", f"waitTime must be greater than zero, got {text!r}")
        return None
    return timedelta(seconds=seconds)


def parse_update_run(f: Fields, api_version: str, origin: Origin) -> StagedUpdateRun:
    kind = _kind(f, CSUR_KIND, SUR_KIND)
    alpha = api_version.endswith("/v1alpha1")
    meta = _meta(f, kind, max_name=127 if alpha else 63)
    spec = f.map("spec", required=True)
    f.ignore("status")  # server output; fleetsync keeps run progress in fleet/status
    f.done()
    if spec is None:
        return StagedUpdateRun(kind, api_version, meta, origin, "", "")
    placement = spec.str("placementName", "", required=True, max_len=255) or ""
    index = spec.str("resourceSnapshotIndex", "", required=alpha) or ""
    strategy = spec.str("stagedRolloutStrategyName", "", required=True) or ""
    # v1alpha1 had no state: a run started as soon as it was created.
    state = (
        RunState.RUN
        if alpha
        else RunState(spec.str("state", "Initialize", enum=[s.value for s in RunState]) or "Initialize")
    )
    spec.done()
    return StagedUpdateRun(kind, api_version, meta, origin, placement, strategy, index, state)


def parse_approval_request(f: Fields, api_version: str, origin: Origin) -> ApprovalRequest:
    kind = _kind(f, CAREQ_KIND, AREQ_KIND)
    meta = _meta(f, kind)
    spec = f.map("spec", required=True)
    run = stage = ""
    if spec is not None:
        run = spec.str("parentStageRollout", "", required=True) or ""
        stage = spec.str("targetStage", "", required=True) or ""
        spec.done()
    conditions: list[ApprovalCondition] = []
    st = f.map("status")
    if st is not None:
        for c in st.objects("conditions"):
            cond = _condition(c)
            if cond is None:
                continue
            if any(o.type == cond.type for o in conditions):
                c.error("type", f"condition type {cond.type!r} appears twice; conditions are keyed by type")
                continue
            conditions.append(cond)
        st.done()
    f.done()
    return ApprovalRequest(kind, api_version, meta, origin, run, stage, tuple(conditions))


def _condition(c: Fields) -> ApprovalCondition | None:
    ctype = c.str("type", required=True)
    status = c.str("status", required=True, enum=("True", "False", "Unknown"))
    reason = c.str("reason", "") or ""
    message = c.str("message", "") or ""
    when = c.str("lastTransitionTime")
    generation = c.int("observedGeneration", minimum=0)
    c.done()
    if ctype is None or status is None:
        return None
    return ApprovalCondition(ctype, status, reason, message, when, generation)


KINDS: list[KindInfo] = [
    KindInfo(GROUP, CSUS_KIND, False, parse_update_strategy, "csus"),
    KindInfo(GROUP, SUS_KIND, True, parse_update_strategy, "sus"),
    KindInfo(GROUP, CSUR_KIND, False, parse_update_run, "csur"),
    KindInfo(GROUP, SUR_KIND, True, parse_update_run, "sur"),
    KindInfo(GROUP, CAREQ_KIND, False, parse_approval_request, "careq"),
    KindInfo(GROUP, AREQ_KIND, True, parse_approval_request, "areq"),
]
