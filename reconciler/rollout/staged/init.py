"""Initializing a staged update run: KubeFleet's rules, in KubeFleet's order, with its messages.

``initialize_run`` is called once per run, when the run appears in the fleet repo and
``fleet/status`` has no file for it. It validates the placement (exists, External, its latest
policy fully scheduled), takes the current policy's Scheduled/Bound clusters as the targets and
every obsolete binding as the final deletion stage, puts each target into exactly one stage
(nil selector: no cluster, ``{}``: all; ``sortingLabelKey`` integer order then name), and
freezes what the run will roll out: the resource snapshot index, the apply strategy, the
strategy's stages and each cluster's override list. Every failure is KubeFleet's
``errInitializedFailed`` text, recorded as ``Initialized=False`` — terminal, as upstream: a fixed
run is a new run (another name). A transient state (a selected binding still of an older policy
while the scheduler catches up) returns None: try again next reconcile.

``placement_facts`` gathers a placement's side of it from the hub loop's stage results.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from reconciler.api.placement import Placement, PlacementType
from reconciler.api.staged import StagedUpdateRun, StagedUpdateStrategy, StageTaskType
from reconciler.errors import StageSignal
from reconciler.hub.render import apply_strategy_doc
from reconciler.rollout.rolling import BindingState
from reconciler.rollout.staged.model import (
    DELETE_STAGE,
    INIT_FAILED,
    INITIALIZED,
    MAX_NAMES_SHOWN,
    ClusterOverrides,
    ClusterStatus,
    PlacementFacts,
    Reason,
    RunStatus,
    StageStatus,
    TaskStatus,
    approval_name,
    set_condition,
)
from reconciler.scheduler.model import Schedule
from reconciler.status.conditions import Status
from reconciler.status.memory import PlacementMemory

_GO_INT = re.compile(r"^[+-]?[0-9]+$")  # what strconv.Atoi accepts (range aside)


class InitFailed(StageSignal):
    """An initialization failure; its text is the condition message (internal to this module)."""


def placement_facts(placement: Placement, schedule: Schedule, memory: PlacementMemory) -> PlacementFacts:
    """A placement as a run sees it, from this reconcile's schedule and the hub memory."""
    policy = placement.effective_policy
    count: int | None = None
    if policy.placement_type == PlacementType.PICK_N:
        count = policy.number_of_clusters or 0
    elif policy.placement_type == PlacementType.PICK_FIXED:
        count = len(policy.cluster_names)
    current = schedule.policy_hash
    scheduled = tuple(sorted(b.cluster for b in schedule.bindings if b.selected and b.policy_hash == current))
    stale = tuple(sorted(b.cluster for b in schedule.bindings if b.selected and b.policy_hash != current))
    obsolete = tuple(sorted(b.cluster for b in schedule.bindings if b.state == BindingState.UNSCHEDULED))
    return PlacementFacts(
        key=placement.key,
        name=placement.name,
        namespace=placement.namespace,
        strategy_type=str(placement.strategy.type),
        apply_strategy=MappingProxyType(apply_strategy_doc(placement.strategy.apply_strategy)),
        policy_index=schedule.policy_index,
        fully_scheduled=schedule.condition.status == Status.TRUE,
        cluster_count=count,
        scheduled=scheduled,
        obsolete=obsolete,
        stale_selected=stale,
        snapshot_indexes=tuple(s.index for s in memory.snapshots),
    )


def initialize_failed(message: str, now: datetime) -> RunStatus:
    """The status of a run that failed to initialize (terminal): ``Initialized=False``."""
    return RunStatus(
        conditions=set_condition(
            (), INITIALIZED, Status.FALSE, Reason.INIT_FAILED, message, now.replace(microsecond=0)
        )
    )


def _key(namespace: str, name: str) -> str:
    """``types.NamespacedName.String()``."""
    return f"{namespace}/{name}"


def initialize_run(
    run: StagedUpdateRun,
    strategy: StagedUpdateStrategy | None,
    placement: PlacementFacts | None,
    cluster_labels: Mapping[str, Mapping[str, str]],
    overrides: Mapping[str, ClusterOverrides],
    now: datetime,
) -> RunStatus | None:
    """The run's initial status (``Initialized`` True or False), or None to retry later.

    ``cluster_labels`` holds every MemberCluster in the fleet (a cluster missing here is in no
    stage); ``overrides`` the override snapshots that apply to each target cluster.
    """
    now = now.replace(microsecond=0)
    try:
        result = _initialize(run, strategy, placement, cluster_labels, overrides)
    except InitFailed as e:
        return initialize_failed(f"{INIT_FAILED}: {e}", now)
    if result is None:
        return None
    return result.with_conditions(
        set_condition(
            (),
            INITIALIZED,
            Status.TRUE,
            Reason.INIT_OK,
            "ClusterStagedUpdateRun initialized successfully",
            now,
        )
    )


def _initialize(
    run: StagedUpdateRun,
    strategy: StagedUpdateStrategy | None,
    placement: PlacementFacts | None,
    cluster_labels: Mapping[str, Mapping[str, str]],
    overrides: Mapping[str, ClusterOverrides],
) -> RunStatus | None:
    """KubeFleet's initialize, step by step (each helper is named after upstream's function);
    None when the placement's scheduling is in a transient state and the run must wait."""
    placement = _validate_placement(placement)
    placement_key = _key(placement.namespace, placement.name)
    count = _policy_snapshot_count(placement, placement_key)
    if placement.stale_selected:  # collectScheduledClusters
        return None  # KubeFleet: "we might observe a transient state, need retry"
    count = _scheduled_count(placement, count)
    # generateStagesByStrategy
    if strategy is None:
        raise InitFailed(f"referenced updateStrategy not found: `{_key(run.namespace, run.strategy_name)}`")
    stages = _stages(run, strategy, set(placement.scheduled), cluster_labels)
    deletion = StageStatus(DELETE_STAGE, tuple(ClusterStatus(c) for c in sorted(placement.obsolete)))
    index = _resource_snapshot_index(run, placement, placement_key)  # recordOverrideSnapshots
    frozen = tuple(
        StageStatus(
            s.name,
            tuple(_with_overrides(c, overrides.get(c.name)) for c in s.clusters),
            s.before_tasks,
            s.after_tasks,
        )
        for s in stages
    )
    return RunStatus(
        policy_snapshot_index_used=str(placement.policy_index),
        policy_observed_cluster_count=count,
        resource_snapshot_index_used=str(index),
        applied_strategy=MappingProxyType(dict(placement.apply_strategy)),
        strategy=strategy.stages,
        stages=frozen,
        deletion_stage=deletion,
    )


def _validate_placement(placement: PlacementFacts | None) -> PlacementFacts:
    """validatePlacement: the run's placement exists and rolls out through External."""
    if placement is None:
        raise InitFailed("parent placement not found")
    if not placement.external:
        raise InitFailed(
            "parent placement does not have an external rollout strategy, current strategy: "
            + placement.strategy_type
        )
    return placement


def _policy_snapshot_count(placement: PlacementFacts, placement_key: str) -> int:
    """determinePolicySnapshot: the latest policy snapshot, fully scheduled → its cluster count
    (-1 for PickAll, which has none)."""
    if placement.policy_index < 0:
        raise InitFailed(f"no latest policy snapshot associated with the placement: `{placement_key}`")
    count = placement.cluster_count if placement.cluster_count is not None else -1
    if not placement.fully_scheduled:
        raise InitFailed(f"policy snapshot `{placement.policy_snapshot_name}` not fully scheduled yet")
    return count


def _scheduled_count(placement: PlacementFacts, count: int) -> int:
    """collectScheduledClusters: some binding to update or delete, and as many selected clusters
    as the policy snapshot observed (PickAll: as many as there are)."""
    selected, obsolete = placement.scheduled, placement.obsolete
    if not selected and not obsolete:
        raise InitFailed(
            "no scheduled or to-be-deleted bindings found for the latest policy snapshot "
            f"{_key(placement.namespace, placement.policy_snapshot_name)}"
        )
    if count == -1:
        return len(selected)
    if count != len(selected):
        raise InitFailed(
            f"the number of selected bindings {len(selected)} is not equal to the observed cluster "
            f"count {count}"
        )
    return count


def _resource_snapshot_index(run: StagedUpdateRun, placement: PlacementFacts, placement_key: str) -> int:
    """The run's resourceSnapshotIndex (empty: the placement's latest), which must exist."""
    index_text = run.resource_snapshot_index
    if not index_text:
        if not placement.snapshot_indexes:
            raise InitFailed(f"no resourceSnapshots with index `0` found for placement `{placement_key}`")
        index_text = str(placement.snapshot_indexes[-1])
    if not _GO_INT.match(index_text) or int(index_text) < 0:
        raise InitFailed(f"invalid resource snapshot index `{index_text}` provided, expected an integer >= 0")
    index = int(index_text)
    if index not in placement.snapshot_indexes:
        raise InitFailed(f"no resourceSnapshots with index `{index}` found for placement `{placement_key}`")
    return index


def _with_overrides(c: ClusterStatus, o: ClusterOverrides | None) -> ClusterStatus:
    if o is None:
        return c
    return ClusterStatus(c.name, tuple(sorted(o.cluster_overrides)), tuple(sorted(o.resource_overrides)))


def _stages(
    run: StagedUpdateRun,
    strategy: StagedUpdateStrategy,
    selected: set[str],
    cluster_labels: Mapping[str, Mapping[str, str]],
) -> list[StageStatus]:
    """computeRunStageStatus: every selected cluster in exactly one stage, sorted within it."""
    placed: set[str] = set()
    out: list[StageStatus] = []
    for stage in strategy.stages:
        members: list[str] = []
        selector = stage.label_selector
        if selector is not None:
            for name in sorted(cluster_labels):  # the API lists MemberClusters by name
                labels = cluster_labels[name]
                if name not in selected or not selector.matches(labels):
                    continue
                if name in placed:
                    raise InitFailed(f"cluster `{name}` appears in more than one stages")
                key = stage.sorting_label_key
                if key is not None and not _GO_INT.match(labels.get(key, "")):
                    value = labels.get(key, "")
                    raise InitFailed(
                        f"the sorting label `{key}:{value}` on cluster `{name}` is not valid: "
                        f'strconv.Atoi: parsing "{value}": invalid syntax'
                    )
                members.append(name)
                placed.add(name)
        key = stage.sorting_label_key
        if key is not None:
            members.sort(key=lambda n: (int(cluster_labels[n][key]), n))
        before = tuple(
            TaskStatus(
                t.type, approval_name(run.name, stage.name, True) if t.type == StageTaskType.APPROVAL else ""
            )
            for t in stage.before_stage_tasks
        )
        after = tuple(
            TaskStatus(
                t.type, approval_name(run.name, stage.name, False) if t.type == StageTaskType.APPROVAL else ""
            )
            for t in stage.after_stage_tasks
        )
        out.append(StageStatus(stage.name, tuple(ClusterStatus(n) for n in members), before, after))
    missing = sorted(selected - placed)
    if missing:
        raise InitFailed(
            f"some clusters are not placed in any stage, total {len(missing)}, showing up to "
            f"{MAX_NAMES_SHOWN}: {', '.join(missing[:MAX_NAMES_SHOWN])}"
        )
    return out
