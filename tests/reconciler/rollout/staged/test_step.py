"""The one door to staged runs (``step``): runs found in a commit become binding moves and status files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from fleetsync_contract.canonical import load
from fleetsync_contract.report import Condition, PlacementReport
from reconciler.api.placement import Placement
from reconciler.api.staged import ApprovalRequest, RunState
from reconciler.hub.overrides import OverrideResult
from reconciler.hub.staged import staged_inputs
from reconciler.load.fleet import FleetSpec
from reconciler.rollout.rolling import BindingState, RolloutDecision
from reconciler.rollout.staged.model import ClusterProgress
from reconciler.rollout.staged.step import StagedInputs, StagedResult, progress_of, step, step_orphans
from reconciler.scheduler.model import Binding, Schedule, ScheduledCondition
from reconciler.status.memory import BindingRecord, PlacementMemory, SnapshotRecord
from tests.support.stagedfixtures import (
    RING_LABELS,
    RINGS_STRATEGY,
    T0,
    WEB_CRP,
    approval,
    example,
    parse,
    run,
    strategy,
)

CRP, LABELS, STRATEGY = WEB_CRP, RING_LABELS, RINGS_STRATEGY


def schedule(states: Mapping[str, BindingState]) -> Schedule:
    bindings = tuple(Binding(c, s, "h0") for c, s in sorted(states.items()))
    return Schedule(
        "ClusterResourcePlacement/web", "h0", 0, bindings, (), ScheduledCondition.from_count(2, 2), 2
    )


def memory() -> PlacementMemory:
    return PlacementMemory(
        "ClusterResourcePlacement/web", "h0", 0, (SnapshotRecord(0, "x"), SnapshotRecord(1, "y"))
    )


def indexes(result: StagedResult) -> dict[str, int]:
    """The snapshot index each moved cluster goes to."""
    return {c: t.index for c, t in result.targets.items()}


def test_a_run_binds_its_first_stage_and_records_its_status_and_approvals() -> None:
    placement = parse(CRP)
    assert isinstance(placement, Placement)
    store: dict[str, bytes] = {}

    def previous(path: str) -> Mapping[str, Any] | None:
        return load(store[path]) if path in store else None

    states = {"a": BindingState.BOUND, "b": BindingState.SCHEDULED}
    progress = {"a": ClusterProgress(0, bound=True, available=True), "b": ClusterProgress()}
    results = {"a": OverrideResult((), applicable_cros=("cro-a",))}
    plan = step(
        StagedInputs(
            placement,
            schedule(states),
            memory(),
            T0,
            (run(), run("other", placement="api")),
            {"ClusterStagedUpdateStrategy//s": STRATEGY},
            (),
            LABELS,
            results,
            progress,
            previous,
        )
    )
    assert (plan.decision.bind, plan.decision.update, plan.decision.up_to_date) == ((), ("a",), ("b",))
    assert indexes(plan) == {"a": 1}
    assert list(plan.files) == ["runs/ClusterStagedUpdateRun/_cluster/r1.yaml"]
    doc = load(plan.files["runs/ClusterStagedUpdateRun/_cluster/r1.yaml"])
    assert doc["status"]["stagesStatus"][0]["clusters"][0]["clusterResourceOverrideSnapshots"] == ["cro-a"]
    store.update(plan.files)
    # next reconcile: a is on index 1 and available; stage one waits for its approval
    progress["a"] = ClusterProgress(1, bound=True, available=True)
    plan = step(
        StagedInputs(
            placement,
            schedule(states),
            memory(),
            T0 + timedelta(minutes=1),
            (run(),),
            labels=LABELS,
            progress=progress,
            previous=previous,
        )
    )
    assert plan.decision.moved == ()
    assert "approvalrequests/ClusterApprovalRequest/_cluster/r1-after-one.yaml" in plan.files
    store.update(plan.files)
    plan = step(
        StagedInputs(
            placement,
            schedule(states),
            memory(),
            T0 + timedelta(minutes=2),
            (run(),),
            approvals=(approval("r1-after-one", "r1", "one"),),
            labels=LABELS,
            progress=progress,
            previous=previous,
        )
    )
    assert plan.decision.bind == ("b",) and indexes(plan) == {"b": 1}


def test_a_run_for_a_missing_placement_fails_to_initialize() -> None:
    files = step_orphans([run(placement="gone")], ["ClusterResourcePlacement/web"], lambda _p: None, T0)
    doc = load(files["runs/ClusterStagedUpdateRun/_cluster/r1.yaml"])
    assert doc["status"]["conditions"][0]["message"] == (
        "cannot continue the updateRun: failed to initialize the updateRun: parent placement not found"
    )


def test_progress_reads_the_current_bundles_report() -> None:
    record = BindingRecord("a", BindingState.BOUND, 0, "h0", 3, "v3")
    ok = PlacementReport(
        "ClusterResourcePlacement/web",
        3,
        "sha256:x",
        (
            Condition("Applied", "True", "AllManifestsApplied"),
            Condition("Available", "True", "AllManifestsAvailable"),
        ),
        (),
    )
    failed = PlacementReport(
        "ClusterResourcePlacement/web",
        3,
        "sha256:x",
        (Condition("Applied", "False", "SomeManifestsAreNotApplied", "boom"),),
        (),
    )
    assert progress_of(record, ok) == ClusterProgress(3, bound=True, available=True, version="v3")
    assert progress_of(record, failed) == ClusterProgress(
        3, bound=True, failed=True, message="boom", version="v3"
    )
    assert progress_of(record, None) == ClusterProgress(3, bound=True, version="v3")
    assert progress_of(None, ok) is None


def test_a_namespaced_run_uses_the_strategy_and_approvals_of_its_namespace() -> None:
    rp = parse("""
apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ResourcePlacement
metadata: {name: web, namespace: team-a}
spec:
  resourceSelectors: [{group: "", kind: ConfigMap, version: v1, name: settings}]
  strategy: {type: External}
""")
    sus = parse("""
apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: StagedUpdateStrategy
metadata: {name: s, namespace: team-a}
spec:
  stages: [{name: all, labelSelector: {}, beforeStageTasks: [{type: Approval}]}]
""")
    sur = parse("""
apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: StagedUpdateRun
metadata: {name: r1, namespace: team-a}
spec: {placementName: web, stagedRolloutStrategyName: s, state: Run}
""")
    areq = parse("""
apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ApprovalRequest
metadata: {name: r1-before-all, namespace: team-a}
spec: {parentStageRollout: r1, targetStage: all}
status:
  conditions: [{type: Approved, status: "True"}]
""")
    states = {"a": BindingState.SCHEDULED, "b": BindingState.SCHEDULED}
    sched = replace(schedule(states), placement="ResourcePlacement/team-a/web")
    plan = step(
        StagedInputs(
            rp,
            sched,
            memory(),
            T0,
            (sur,),
            {"StagedUpdateStrategy/team-a/s": sus},
            (areq,),
            LABELS,
            {},
            {"a": ClusterProgress(), "b": ClusterProgress()},
            lambda _p: None,
        )
    )
    assert plan.decision.bind == ("a",)
    assert set(plan.files) == {
        "runs/StagedUpdateRun/team-a/r1.yaml",
        "approvalrequests/ApprovalRequest/team-a/r1-before-all.yaml",
    }


def test_the_kubefleet_how_to_runs_from_initialize_to_succeeded() -> None:
    """website how-tos/staged-update: its placement, strategy and run, verbatim, driven as the loop will."""
    placement = example("website.how-tos_staged-update.L43.ClusterResourcePlacement.yaml")
    strat = example("website.how-tos_staged-update.L162.ClusterStagedUpdateStrategy.yaml")
    the_run = example("website.how-tos_staged-update.L195.ClusterStagedUpdateRun.yaml")
    labels = {
        "member1": {"environment": "staging"},
        "member2": {"environment": "canary", "order": "2"},
        "member3": {"environment": "canary", "order": "1"},
    }
    states = dict.fromkeys(labels, BindingState.SCHEDULED)
    sched = replace(
        schedule(states),
        placement=placement.key,
        cluster_count=3,
        condition=ScheduledCondition.from_count(3, 3),
    )
    progress = {c: ClusterProgress() for c in labels}
    store: dict[str, bytes] = {}
    approvals: list[ApprovalRequest] = []
    now = T0

    def reconcile(after: timedelta = timedelta(0)) -> tuple[str, ...]:
        nonlocal now, sched
        now += after
        plan = step(
            StagedInputs(
                placement,
                sched,
                memory(),
                now,
                (the_run,),
                {"ClusterStagedUpdateStrategy//example-strategy": strat},
                tuple(approvals),
                labels,
                {},
                progress,
                lambda p: load(store[p]) if p in store else None,
            )
        )
        store.update(plan.files)
        for c in plan.decision.moved:
            progress[c] = ClusterProgress(plan.targets[c].index, bound=True)
            sched = replace(
                sched,
                bindings=tuple(
                    replace(b, state=BindingState.BOUND) if b.cluster == c else b for b in sched.bindings
                ),
            )
        return plan.decision.moved

    def conditions() -> dict[str, str]:
        doc = load(store["runs/ClusterStagedUpdateRun/_cluster/example-run.yaml"])
        return {c["type"]: c["reason"] for c in doc["status"]["conditions"]}

    assert reconcile() == () and conditions() == {"Initialized": "UpdateRunInitializedSuccessfully"}
    the_run = replace(the_run, state=RunState.RUN)  # the next commit sets state: Run
    assert reconcile(timedelta(minutes=1)) == ("member1",)
    progress["member1"] = ClusterProgress(1, bound=True, available=True)
    assert reconcile(timedelta(minutes=1)) == ()  # TimedWait 1m from now
    assert reconcile(timedelta(minutes=1)) == ()  # then the before-stage approval of canary
    assert conditions()["Progressing"] == "UpdateRunWaiting"
    approvals.append(approval("example-run-before-canary", "example-run", "canary"))
    assert reconcile(timedelta(minutes=1)) == ("member2", "member3")  # maxConcurrency 2
    progress["member2"] = progress["member3"] = ClusterProgress(1, bound=True, available=True)
    assert reconcile(timedelta(minutes=1)) == ()
    approvals.append(approval("example-run-after-canary", "example-run", "canary"))
    reconcile(timedelta(minutes=1))
    assert conditions() == {
        "Initialized": "UpdateRunInitializedSuccessfully",
        "Progressing": "UpdateRunSucceeded",
        "Succeeded": "UpdateRunSucceeded",
    }
    assert sorted(p for p in store if p.startswith("approvalrequests/")) == [
        "approvalrequests/ClusterApprovalRequest/_cluster/example-run-after-canary.yaml",
        "approvalrequests/ClusterApprovalRequest/_cluster/example-run-before-canary.yaml",
    ]


def test_a_run_committed_with_its_placement_starts_on_the_first_reconcile() -> None:
    placement = parse(CRP)
    states = {"a": BindingState.SCHEDULED, "b": BindingState.SCHEDULED}  # created by this reconcile
    plan = step(
        StagedInputs(
            placement,
            schedule(states),
            memory(),
            T0,
            (run(),),
            {"ClusterStagedUpdateStrategy//s": STRATEGY},
            labels=LABELS,
        )
    )
    assert plan.decision.bind == ("a",) and indexes(plan) == {"a": 1}


def test_a_rollback_run_rolls_out_the_older_index_it_names() -> None:
    placement = parse(CRP)
    states = {"a": BindingState.BOUND, "b": BindingState.BOUND}
    asked: list[int] = []

    def older(index: int) -> None:
        asked.append(index)

    plan = step(
        StagedInputs(
            placement,
            schedule(states),
            memory(),
            T0,
            (run(index="0"),),
            {"ClusterStagedUpdateStrategy//s": STRATEGY},
            labels=LABELS,
            unavailable=older,
        )
    )
    assert plan.decision.update == ("a",) and indexes(plan) == {"a": 0}
    assert asked and set(asked) == {0}
    status = load(plan.files["runs/ClusterStagedUpdateRun/_cluster/r1.yaml"])["status"]
    assert status["resourceSnapshotIndexUsed"] == "0"


def test_a_run_whose_older_snapshot_cannot_be_read_fails_at_initialization_with_the_reason() -> None:
    placement = parse(CRP)
    states = {"a": BindingState.BOUND, "b": BindingState.BOUND}
    plan = step(
        StagedInputs(
            placement,
            schedule(states),
            memory(),
            T0,
            (run(index="0"),),
            {"ClusterStagedUpdateStrategy//s": STRATEGY},
            labels=LABELS,
            unavailable=lambda index: (
                f"resource snapshot `{index}` was created by fleet commit "
                "0123456789ab, which is no longer in the repository (history "
                "rewritten?)"
            ),
        )
    )
    assert plan.decision.moved == ()
    doc = load(plan.files["runs/ClusterStagedUpdateRun/_cluster/r1.yaml"])
    assert doc["status"]["conditions"][0]["message"] == (
        "cannot continue the updateRun: failed to initialize the updateRun: resource snapshot `0` was created by "
        "fleet commit 0123456789ab, which is no longer in the repository (history rewritten?)"
    )


def first_stage_started() -> tuple[
    dict[str, bytes], dict[str, BindingState], dict[str, ClusterProgress], StagedResult
]:
    """Run r1 over two bound clusters on snapshot 0, after its first reconcile (a moved to 1)."""
    store: dict[str, bytes] = {}
    states = {"a": BindingState.BOUND, "b": BindingState.BOUND}
    progress = {"a": ClusterProgress(0, bound=True, available=True), "b": ClusterProgress(0, bound=True)}
    plan = step(
        StagedInputs(
            parse(CRP),
            schedule(states),
            memory(),
            T0,
            (run(),),
            {"ClusterStagedUpdateStrategy//s": STRATEGY},
            labels=LABELS,
            progress=progress,
        )
    )
    return store, states, progress, plan


def test_a_run_keeps_rolling_out_its_frozen_index_when_a_newer_snapshot_appears() -> None:
    placement, (store, states, progress, plan) = parse(CRP), first_stage_started()
    assert indexes(plan) == {"a": 1}
    store.update(plan.files)
    progress["a"] = ClusterProgress(1, bound=True, available=True)
    newer = replace(memory(), snapshots=(*memory().snapshots, SnapshotRecord(2, "z")))
    plan = step(
        StagedInputs(
            placement,
            schedule(states),
            newer,
            T0 + timedelta(minutes=1),
            (run(),),
            approvals=(approval("r1-after-one", "r1", "one"),),
            labels=LABELS,
            progress=progress,
            previous=lambda p: load(store[p]) if p in store else None,
            unavailable=lambda _index: None,
        )
    )
    assert plan.decision.update == ("b",) and indexes(plan) == {"b": 1}
    status = load(plan.files["runs/ClusterStagedUpdateRun/_cluster/r1.yaml"])["status"]
    assert status["resourceSnapshotIndexUsed"] == "1"
    assert all(c["status"] != "False" for c in status["conditions"])


def test_a_run_whose_snapshot_left_the_history_fails_and_says_why() -> None:
    placement, (store, states, progress, plan) = parse(CRP), first_stage_started()
    store.update(plan.files)
    pruned = replace(memory(), snapshots=tuple(SnapshotRecord(i, f"h{i}") for i in range(2, 12)))
    plan = step(
        StagedInputs(
            placement,
            schedule(states),
            pruned,
            T0 + timedelta(minutes=1),
            (run(),),
            labels=LABELS,
            progress=progress,
            previous=lambda p: load(store[p]) if p in store else None,
        )
    )
    assert plan.decision.moved == ()
    status = load(plan.files["runs/ClusterStagedUpdateRun/_cluster/r1.yaml"])["status"]
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert (succeeded["reason"], succeeded["message"]) == (
        "UpdateRunFailed",
        "cannot continue the updateRun: resource snapshot `1` is no longer in the placement's "
        "history (revisionHistoryLimit: 10)",
    )
    assert status["stagesStatus"][0]["conditions"][-1]["reason"] == "StageUpdatingFailed"


def test_a_binding_on_the_runs_index_with_other_overrides_is_updated_by_the_run() -> None:
    placement = parse(CRP)
    states = {"a": BindingState.BOUND, "b": BindingState.BOUND}
    progress = {
        "a": ClusterProgress(1, bound=True, available=True, version="old"),
        "b": ClusterProgress(1, bound=True, available=True, version="old"),
    }

    def first_step(wanted: str) -> tuple[str, ...]:
        plan = step(
            StagedInputs(
                placement,
                schedule(states),
                memory(),
                T0,
                (run(),),
                {"ClusterStagedUpdateStrategy//s": STRATEGY},
                labels=LABELS,
                progress=progress,
                commit="c1",
                target=lambda _c, _i, _f: wanted,
            )
        )
        return plan.decision.update

    assert first_step("old") == ()  # already what the run rolls out: stage one just succeeds
    assert first_step("new") == ("a",)  # same index, other overrides: the run updates it


def test_a_placement_whose_runs_are_for_other_placements_keeps_every_cluster_where_it_is() -> None:
    states = {"a": BindingState.BOUND, "b": BindingState.SCHEDULED}
    plan = step(
        StagedInputs(
            parse(CRP),
            schedule(states),
            memory(),
            T0,
            (run("other", placement="api"),),
            {"ClusterStagedUpdateStrategy//s": STRATEGY},
            labels=LABELS,
        )
    )
    assert plan.decision == RolloutDecision(up_to_date=("a", "b"))
    assert (plan.targets, plan.files, plan.requeue_after) == ({}, {}, None)


def test_a_timed_wait_brings_the_next_reconcile_forward_to_when_it_ends() -> None:
    waits = strategy("""
- name: one
  labelSelector: {matchLabels: {ring: "1"}}
  afterStageTasks: [{type: TimedWait, waitTime: 1h}]
- name: two
  labelSelector: {matchLabels: {ring: "2"}}
""")
    store: dict[str, bytes] = {}
    states = {"a": BindingState.BOUND, "b": BindingState.BOUND}
    progress = {"a": ClusterProgress(0, bound=True, available=True), "b": ClusterProgress(0, bound=True)}

    def reconcile(now: datetime) -> StagedResult:
        plan = step(
            StagedInputs(
                parse(CRP),
                schedule(states),
                memory(),
                now,
                (run(),),
                {"ClusterStagedUpdateStrategy//s": waits},
                labels=LABELS,
                progress=progress,
                previous=lambda p: load(store[p]) if p in store else None,
            )
        )
        store.update(plan.files)
        return plan

    assert reconcile(T0).decision.update == ("a",)
    progress["a"] = ClusterProgress(1, bound=True, available=True)
    plan = reconcile(T0 + timedelta(minutes=10))  # stage one ends now; stage two waits an hour
    assert plan.decision.moved == () and plan.requeue_after == timedelta(hours=1)
    assert plan.decision.requeue_after == plan.requeue_after  # the loop reads it off the decision
    assert reconcile(T0 + timedelta(minutes=70)).decision.update == ("b",)


def test_without_a_snapshot_reader_a_rollback_run_fails_saying_so() -> None:
    placement = parse(CRP)
    states = {"a": BindingState.BOUND, "b": BindingState.BOUND}
    spec = FleetSpec(strategies={"ClusterStagedUpdateStrategy//s": STRATEGY}, runs={"r1": run(index="0")})
    plan = step(
        staged_inputs(
            placement, schedule(states), memory(), spec, LABELS, {}, lambda _c, _r: None, lambda _p: None, T0
        )
    )  # older=None: no reader of older fleet commits
    assert plan.decision.moved == ()
    doc = load(plan.files["runs/ClusterStagedUpdateRun/_cluster/r1.yaml"])
    assert doc["status"]["conditions"][0]["message"] == (
        "cannot continue the updateRun: failed to initialize the updateRun: "
        "this command cannot read older resource snapshots"
    )
