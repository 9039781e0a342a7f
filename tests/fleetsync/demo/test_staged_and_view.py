"""The demo's staged-run driver decides from a run's status what moves it on, and ``--keep``
serves the fleet view of the demo fleet while the injected wait runs, and stops it after."""

from __future__ import annotations

import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetsync.demo.staged import Step, held_runs, next_step
from fleetsync.demo.story import TEMPLATE, DemoOptions, run_demo
from fleetsync.demo.view import PlainOutput
from reconciler.api.staged import StageConfig, StageTask, StageTaskType
from reconciler.rollout.staged.model import (
    APPROVAL_APPROVED,
    APPROVAL_CREATED,
    INITIALIZED,
    STARTED,
    SUCCEEDED,
    WAIT_ELAPSED,
    ClusterStatus,
    RunCondition,
    RunStatus,
    StageStatus,
    TaskStatus,
)
from reconciler.status.conditions import Status

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def cond(ctype: str, status: Status = Status.TRUE, when: datetime = T0, message: str = "") -> RunCondition:
    return RunCondition(ctype, status, "Reason", message, when)


def cluster(name: str, *conds: RunCondition) -> ClusterStatus:
    return ClusterStatus(name, conditions=conds)


def approval(*conds: RunCondition) -> TaskStatus:
    return TaskStatus(StageTaskType.APPROVAL, "req", conds)


WAIT = StageConfig("s", after_stage_tasks=(StageTask(StageTaskType.TIMED_WAIT, timedelta(minutes=15)),))
DONE = cluster("a", cond(STARTED), cond(SUCCEEDED, when=T0))


def run(*stages: StageStatus, conds: tuple[RunCondition, ...] = (cond(INITIALIZED),)) -> RunStatus:
    return RunStatus(conditions=conds, strategy=(WAIT,), stages=stages)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (run(StageStatus("s")), Step("hub")),
        (
            run(conds=(cond(INITIALIZED, Status.FALSE, message="no clusters"),)),
            Step("failed", why="no clusters"),
        ),
        (run(conds=(cond(INITIALIZED), cond(SUCCEEDED))), Step("done")),
        (
            run(conds=(cond(INITIALIZED), cond(SUCCEEDED, Status.FALSE, message="x failed"))),
            Step("failed", why="x failed"),
        ),
        (
            run(StageStatus("s", before_tasks=(approval(cond(APPROVAL_CREATED)),))),
            Step("approve", stage="s", before=True),
        ),
        (
            run(StageStatus("s", clusters=(DONE, cluster("b", cond(STARTED)), cluster("c")))),
            Step("sync", clusters=("b",), stage="s"),
        ),
        (
            run(StageStatus("s", clusters=(DONE,), after_tasks=(TaskStatus(StageTaskType.TIMED_WAIT),))),
            Step("wait", stage="s", wait=timedelta(minutes=10)),
        ),
        (
            run(
                StageStatus(
                    "s",
                    clusters=(DONE,),
                    after_tasks=(TaskStatus(StageTaskType.TIMED_WAIT, conditions=(cond(WAIT_ELAPSED),)),),
                )
            ),
            Step("hub"),
        ),
        (
            run(StageStatus("s", clusters=(DONE,), after_tasks=(approval(cond(APPROVAL_CREATED)),))),
            Step("approve", stage="s"),
        ),
        (
            run(
                StageStatus("s", clusters=(DONE,), conditions=(cond(SUCCEEDED),)),
                StageStatus("t", before_tasks=(approval(cond(APPROVAL_CREATED), cond(APPROVAL_APPROVED)),)),
            ),
            Step("hub"),
        ),
    ],
)
def test_the_driver_answers_what_the_run_waits_for(status: RunStatus, expected: Step) -> None:
    assert next_step(status, T0 + timedelta(minutes=5)) == expected


def test_the_templates_run_file_is_held_back_and_a_file_mixing_a_run_with_other_objects_is_not(
    tmp_path: Path,
) -> None:
    held = held_runs(TEMPLATE)
    assert list(held.files) == ["rollouts/checkout-2-8-1.yaml"]
    assert held.runs == (("ClusterStagedUpdateRun", "", "checkout-2-8-1"),)
    mixed = tmp_path / "fleet"
    (mixed / "rollouts").mkdir(parents=True)
    strategy = (TEMPLATE / "rollouts/strategy.yaml").read_text()
    run = (TEMPLATE / "rollouts/checkout-2-8-1.yaml").read_text()
    (mixed / "rollouts/both.yaml").write_text(f"{strategy}\n---\n{run}")
    assert held_runs(mixed).files == {}


VIEW_FLEET = {
    "clusters/view-demo-1.yaml": "apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\n"
    "metadata: {name: view-demo-1}\nspec: {}\n",
    "placements/app.yaml": "apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ClusterResourcePlacement\n"
    "metadata: {name: app}\nspec:\n  resourceSelectors:\n"
    "  - {group: '', version: v1, kind: Namespace, name: app}\n"
    "  policy: {placementType: PickAll}\n  strategy: {applyStrategy: {whenToApply: IfNotDrifted}}\n",
    "app.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\n"
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app, namespace: app}\nspec:\n"
    "  replicas: 1\n  selector: {matchLabels: {app: app}}\n  template:\n"
    "    metadata: {labels: {app: app}}\n"
    "    spec: {containers: [{name: app, image: 'nginx:1.27'}]}\n",
}


@pytest.mark.slow
def test_a_kept_demo_serves_the_fleet_view_naming_its_clusters_until_the_wait_returns(tmp_path: Path) -> None:
    template = tmp_path / "template"
    for rel, text in VIEW_FLEET.items():
        (template / rel).parent.mkdir(parents=True, exist_ok=True)
        (template / rel).write_text(text)
    pages: list[str] = []

    def look(url: str) -> None:
        with urllib.request.urlopen(url, timeout=10) as page:
            pages.append(page.read().decode())

    lines: list[str] = []
    before = set(threading.enumerate())
    result = run_demo(
        DemoOptions(template=template, workdir=tmp_path / "demo", keep=True, view=look),
        PlainOutput(lines.append),
        clock=lambda: datetime.now(UTC),
        sleep=lambda _s: None,
    )
    assert result.ok, "\n".join(lines)
    assert f"fleet view of the demo fleet: {result.view_url}" in lines
    assert len(pages) == 1 and "view-demo-1" in pages[0] and "app" in pages[0]
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive()]
    with pytest.raises(OSError):
        urllib.request.urlopen(result.view_url, timeout=5)
