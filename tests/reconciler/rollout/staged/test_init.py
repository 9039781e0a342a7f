"""Initializing a staged update run: KubeFleet's rules and its exact failure messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from reconciler.api.staged import StagedUpdateStrategy
from reconciler.rollout.staged.init import initialize_run
from reconciler.rollout.staged.model import DELETE_STAGE, ClusterOverrides, RunStatus
from tests.support.stagedfixtures import APPLY, T0, example, facts, run, strategy

PREFIX = "cannot continue the updateRun: failed to initialize the updateRun: "
EXAMPLE = "kubefleet.examples_stagedupdaterun_updateStrategy.d1.ClusterStagedUpdateStrategy.yaml"
LABELS = {
    "stg": {"environment": "staging"},
    "can-b": {"environment": "canary", "name": "2"},
    "can-a": {"environment": "canary", "name": "2"},
    "can-c": {"environment": "canary", "name": "1"},
    "prod-x": {"environment": "production", "order": "10"},
    "prod-y": {"environment": "production", "order": "9"},
}


def names(status: RunStatus) -> list[tuple[str, list[str]]]:
    return [(s.name, [c.name for c in s.clusters]) for s in status.stages]


def init(strat: StagedUpdateStrategy | None, labels: dict[str, dict[str, str]], **kw: Any) -> RunStatus:
    the_run = kw.pop("the_run", run())
    f = kw.pop("facts", None) or facts(kw.pop("scheduled", labels), kw.pop("obsolete", ()), **kw)
    status = initialize_run(the_run, strat, f, labels, {}, T0)
    assert status is not None
    return status


def failure(status: RunStatus) -> str:
    assert status.init_failed
    (cond,) = status.conditions
    assert (cond.type, cond.reason) == ("Initialized", "UpdateRunInitializedFailed")
    return cond.message


def test_the_kubefleet_example_strategy_sorts_by_label_integer_then_name() -> None:
    status = init(example(EXAMPLE), LABELS)
    assert status.initialized
    assert names(status) == [
        ("staging", ["stg"]),
        ("canary", ["can-c", "can-a", "can-b"]),
        ("production", ["prod-y", "prod-x"]),
    ]
    assert [t.approval_request_name for t in status.stages[1].after_tasks] == ["r1-after-canary"]
    assert status.stages[0].after_tasks[0].approval_request_name == ""
    cond = status.conditions[0]
    assert (cond.type, str(cond.status), cond.reason, cond.message) == (
        "Initialized",
        "True",
        "UpdateRunInitializedSuccessfully",
        "ClusterStagedUpdateRun initialized successfully",
    )


def test_initialization_freezes_index_strategy_overrides_and_counts() -> None:
    strat = strategy("""
        - name: all
          labelSelector: {}
          afterStageTasks: [{type: TimedWait, waitTime: 90m}]
    """)
    labels: dict[str, dict[str, str]] = {"a": {}, "b": {}}
    overrides = {"a": ClusterOverrides(("cro-2", "cro-1"), (("web", "ro-1"),))}
    status = initialize_run(
        run(index="0"), strat, facts(labels, obsolete=["old"], policy_index=3), labels, overrides, T0
    )
    assert status is not None and status.initialized
    assert (
        status.resource_snapshot_index_used,
        status.policy_snapshot_index_used,
        status.policy_observed_cluster_count,
    ) == ("0", "3", 2)
    assert dict(status.applied_strategy) == APPLY
    assert status.strategy == strat.stages and status.strategy[0].after_stage_tasks[0].wait_time == timedelta(
        hours=1.5
    )
    a = status.stages[0].clusters[0]
    assert (a.name, a.cluster_overrides, a.resource_overrides) == (
        "a",
        ("cro-1", "cro-2"),
        (("web", "ro-1"),),
    )
    assert status.deletion_stage is not None
    assert (status.deletion_stage.name, [c.name for c in status.deletion_stage.clusters]) == (
        DELETE_STAGE,
        ["old"],
    )


def test_an_empty_run_index_takes_the_latest_snapshot() -> None:
    status = init(strategy("- {name: all, labelSelector: {}}"), {"a": {}}, snapshot_indexes=(4, 5, 7))
    assert status.resource_snapshot_index_used == "7"


def test_a_nil_selector_takes_no_cluster_and_an_empty_one_takes_all() -> None:
    strat = strategy("""
        - name: nothing
        - name: everything
          labelSelector: {}
    """)
    assert names(init(strat, {"b": {}, "a": {"x": "y"}})) == [("nothing", []), ("everything", ["a", "b"])]


def test_only_scheduled_clusters_enter_stages() -> None:
    status = init(strategy("- {name: all, labelSelector: {}}"), {"a": {}, "b": {}}, scheduled=["b"])
    assert names(status) == [("all", ["b"])]


def test_a_stale_binding_of_an_older_policy_means_try_again_later() -> None:
    f = facts(["a"], stale_selected=("b",))
    assert (
        initialize_run(run(), strategy("- {name: all, labelSelector: {}}"), f, {"a": {}, "b": {}}, {}, T0)
        is None
    )


ALL = "- {name: all, labelSelector: {}}"
MANY: dict[str, dict[str, str]] = {f"c{i:02d}": {} for i in range(12)}


@pytest.mark.parametrize(
    ("case", "kw", "message"),
    [
        ("no placement", {"facts": "none"}, "parent placement not found"),
        (
            "rolling update",
            {"strategy_type": "RollingUpdate"},
            "parent placement does not have an external rollout strategy, current strategy: RollingUpdate",
        ),
        (
            "no policy snapshot",
            {"policy_index": -1},
            "no latest policy snapshot associated with the placement: `/web`",
        ),
        (
            "not fully scheduled",
            {"fully_scheduled": False, "policy_index": 2},
            "policy snapshot `web-2` not fully scheduled yet",
        ),
        (
            "no bindings",
            {"scheduled": []},
            "no scheduled or to-be-deleted bindings found for the latest policy snapshot /web-0",
        ),
        (
            "count mismatch",
            {"cluster_count": 3},
            "the number of selected bindings 1 is not equal to the observed cluster count 3",
        ),
        ("strategy missing", {"strat": None}, "referenced updateStrategy not found: `/s`"),
        (
            "bad index",
            {"the_run": run(index="x1")},
            "invalid resource snapshot index `x1` provided, expected an integer >= 0",
        ),
        (
            "unknown index",
            {"the_run": run(index="9")},
            "no resourceSnapshots with index `9` found for placement `/web`",
        ),
    ],
)
def test_initialization_fails_with_kubefleets_message(case: str, kw: dict[str, Any], message: str) -> None:
    strat = kw.pop("strat", strategy(ALL))
    labels: dict[str, dict[str, str]] = {"a": {}}
    if kw.get("facts") == "none":
        status = initialize_run(run(), strat, None, labels, {}, T0)
        assert status is not None
    else:
        status = init(strat, labels, **kw)
    assert failure(status) == PREFIX + message


@pytest.mark.parametrize(
    ("stages", "labels", "message"),
    [
        (
            """
         - {name: one, labelSelector: {matchLabels: {env: prod}}}
         - {name: two, labelSelector: {}}
         """,
            {"b": {"env": "prod"}, "a": {}},
            "cluster `b` appears in more than one stages",
        ),
        (
            """
         - {name: one, labelSelector: {matchLabels: {env: prod}}}
         """,
            MANY | {"c05": {"env": "prod"}},
            "some clusters are not placed in any stage, total 11, showing up to 10: "
            "c00, c01, c02, c03, c04, c06, c07, c08, c09, c10",
        ),
        (
            """
         - {name: one, labelSelector: {}, sortingLabelKey: order}
         """,
            {"a": {"order": "1"}, "b": {"order": "first"}},
            'the sorting label `order:first` on cluster `b` is not valid: strconv.Atoi: parsing "first": invalid syntax',
        ),
        (
            """
         - {name: one, labelSelector: {}, sortingLabelKey: order}
         """,
            {"a": {}},
            'the sorting label `order:` on cluster `a` is not valid: strconv.Atoi: parsing "": invalid syntax',
        ),
    ],
)
def test_stage_assignment_failures_name_the_clusters(
    stages: str, labels: dict[str, dict[str, str]], message: str
) -> None:
    assert failure(init(strategy(stages), labels)) == PREFIX + message


def test_a_cluster_that_left_the_fleet_is_in_no_stage() -> None:
    status = init(strategy(ALL), {"a": {}}, scheduled=["a", "gone"])
    assert (
        failure(status)
        == PREFIX + "some clusters are not placed in any stage, total 1, showing up to 10: gone"
    )


def test_negative_sorting_values_sort_before_positive_ones() -> None:
    labels = {"a": {"o": "5"}, "b": {"o": "-3"}, "c": {"o": "+4"}}
    status = init(strategy("- {name: one, labelSelector: {}, sortingLabelKey: o}"), labels)
    assert names(status) == [("one", ["b", "c", "a"])]
