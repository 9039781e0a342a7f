"""The issue's typo (``replica: 1`` in a Deployment) through ``fleetsync plan``: a schema error
blocks the merge at the field, and nothing of the Deployment leaves any cluster (the hub keeps
its last good state: object scope)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.plan.build import ExitCode
from tests.reconciler.plan.test_plan_truth import with_api


def test_a_deployment_typo_blocks_the_merge_and_removes_nothing(make_fleet: Callable[[int], Any]) -> None:
    repo = with_api(make_fleet)
    repo.edit("apps/app.yaml", lambda t: t.replace("  replicas: 1\n", "  replica: 1\n"))
    repo.commit("typo")
    doc, code = repo.plan()
    assert code == ExitCode.CHECKS_FAILED
    actions = [o["action"] for g in doc["groups"] for o in g["objects"]]
    assert "removed" not in actions
    md, _, _ = repo.plan_text()
    assert 'unknown field "spec.replica"' in md
    assert "removed" not in md
