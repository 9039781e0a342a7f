"""A Deployment past its progress deadline has failed, not "not yet available" (beyond KubeFleet).

kube-controller-manager sets ``Progressing=False`` with reason ``ProgressDeadlineExceeded`` when a
Deployment made no progress for ``spec.progressDeadlineSeconds``; it will not become available
without a change. The agent reports it as ``Failed`` and the placement's ``Available`` condition
as False with reason ``ProgressDeadlineExceeded``, which the hub treats as a failed binding
(docs/agent.md, "Availability").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agent.apply.manager import Result
from agent.health import availability
from agent.report import PlacementInfo, ReportInput, build_report
from fleetsync_contract.report import (
    Availability,
    Condition,
    Health,
    Outcome,
    PruneSummary,
    ResourceUsage,
    SourceState,
    availability_failed,
)

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
P = "ClusterResourcePlacement/web"


def progressing(status: str, reason: str) -> dict[str, str]:
    return {"type": "Progressing", "status": status, "reason": reason, "message": 'ReplicaSet "web" ...'}


def deployment(*, gen: int = 2, observed: int = 2, available: int = 0, conds: Any = ()) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "replicas": 3,
        "updatedReplicas": 3,
        "availableReplicas": available,
        "conditions": list(conds),
    }
    if available < 3:
        status["unavailableReplicas"] = 3 - available
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "web", "generation": gen},
        "spec": {"replicas": 3},
        "status": status,
    }


STUCK = deployment(conds=[progressing("False", "ProgressDeadlineExceeded")])


@pytest.mark.parametrize(
    ("obj", "want"),
    [
        (STUCK, Availability.FAILED),
        # Still within its deadline: only not yet available.
        (deployment(conds=[progressing("True", "ReplicaSetUpdated")]), Availability.NOT_YET_AVAILABLE),
        # A new spec the controller has not seen: the old verdict is about the old spec.
        (
            deployment(gen=3, observed=2, conds=[progressing("False", "ProgressDeadlineExceeded")]),
            Availability.NOT_YET_AVAILABLE,
        ),
        # Paused: Progressing is Unknown, never a failure.
        (deployment(conds=[progressing("Unknown", "DeploymentPaused")]), Availability.NOT_YET_AVAILABLE),
        # Every replica updated and available: available, whatever Progressing still says.
        (
            deployment(available=3, conds=[progressing("False", "ProgressDeadlineExceeded")]),
            Availability.AVAILABLE,
        ),
    ],
)
def test_a_deployment_past_its_progress_deadline_has_failed_to_become_available(
    obj: dict[str, Any], want: Availability
) -> None:
    assert availability(obj) == want


def _report(*objs: dict[str, Any]) -> tuple[Condition, ...]:
    results = [
        Result(
            P, f"apps/Deployment/web/{o['metadata']['name']}", "apps/v1", Outcome.APPLIED, live=o, owned=True
        )
        for o in objs
    ]
    report, _ = build_report(
        ReportInput(
            cluster="c1",
            agent_version="0.1.0",
            now=T0,
            bundle_id="sha256:b",
            bundle_commit="abc",
            placements=[PlacementInfo(P, 1, False, 60)],
            results=results,
            inventory=[],
            prune=PruneSummary(),
            properties={},
            usage=ResourceUsage(),
            source=SourceState(),
            health=Health(True, ""),
        ),
        None,
        {},
    )
    return report.placements[0].conditions


def test_the_placement_is_not_available_with_reason_progress_deadline_exceeded() -> None:
    waiting = deployment(conds=[progressing("True", "ReplicaSetUpdated")])
    waiting["metadata"]["name"] = "api"
    applied, available = _report(STUCK, waiting)
    assert (applied.type, applied.status) == ("Applied", "True")
    assert (available.type, available.status, available.reason) == (
        "Available",
        "False",
        "ProgressDeadlineExceeded",
    )
    assert "apps/Deployment/web/web" in available.message
    assert availability_failed([applied, available])


def test_a_deployment_still_progressing_keeps_kubefleets_not_yet_available_reason() -> None:
    _, available = _report(deployment(conds=[progressing("True", "ReplicaSetUpdated")]))
    assert (available.status, available.reason) == ("False", "SomeManifestsAreNotAvailable")
    assert not availability_failed([available])
