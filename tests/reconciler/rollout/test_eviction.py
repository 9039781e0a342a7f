"""Evictions and disruption budgets (§11): validity, KubeFleet's order of checks, the budget math."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from reconciler.rollout.eviction import (
    ALLOWED_FAILED,
    ALLOWED_NO_BUDGET,
    BLOCKED_MISCONFIGURED,
    BLOCKED_NOT_PLACED,
    INVALID_MISSING_BINDING,
    INVALID_MISSING_CRP,
    INVALID_PICK_FIXED,
    BindingHealth,
    evaluate_eviction,
)
from reconciler.scheduler import Binding
from reconciler.status.conditions import Status
from tests.support.schedfixtures import BindingState, ClusterScore, crp, pick_all, pick_fixed, pick_n


@dataclass(frozen=True)
class Budget:
    max_unavailable: int | str | None = None
    min_available: int | str | None = None


def bindings(*spec: str) -> list[Binding]:
    """``"a:Bound"`` -> a Bound binding on cluster a."""
    out = []
    for item in spec:
        name, state = item.split(":")
        out.append(Binding(name, BindingState(state), "h", ClusterScore()))
    return out


ALL_AVAILABLE = {c: BindingHealth(available=True) for c in "abcd"}


@pytest.mark.parametrize(
    ("placement", "target", "current", "health", "budget", "valid", "executed", "message"),
    [
        (None, "a", [], {}, None, Status.FALSE, None, INVALID_MISSING_CRP),
        (crp(pick_fixed("a")), "a", bindings("a:Bound"), {}, None, Status.FALSE, None, INVALID_PICK_FIXED),
        (crp(pick_n(2)), "z", bindings("a:Bound"), {}, None, Status.FALSE, None, INVALID_MISSING_BINDING),
        (
            crp(pick_n(2)),
            "a",
            bindings("a:Scheduled"),
            {},
            None,
            Status.TRUE,
            Status.FALSE,
            BLOCKED_NOT_PLACED,
        ),
        # not placed is checked before failure: a failed Scheduled binding is still blocked
        (
            crp(pick_n(2)),
            "a",
            bindings("a:Scheduled"),
            {"a": BindingHealth(failed=True)},
            None,
            Status.TRUE,
            Status.FALSE,
            BLOCKED_NOT_PLACED,
        ),
        (
            crp(pick_n(2)),
            "a",
            bindings("a:Bound", "b:Bound"),
            {"a": BindingHealth(failed=True)},
            Budget(min_available=2),
            Status.TRUE,
            Status.TRUE,
            ALLOWED_FAILED,
        ),
        (crp(pick_n(2)), "a", bindings("a:Bound"), {}, None, Status.TRUE, Status.TRUE, ALLOWED_NO_BUDGET),
        (
            crp(None),
            "a",
            bindings("a:Bound"),
            ALL_AVAILABLE,
            Budget(max_unavailable=1),
            Status.TRUE,
            Status.FALSE,
            BLOCKED_MISCONFIGURED,
        ),
        (
            crp(pick_all()),
            "a",
            bindings("a:Bound"),
            ALL_AVAILABLE,
            Budget(min_available="50%"),
            Status.TRUE,
            Status.FALSE,
            BLOCKED_MISCONFIGURED,
        ),
        # PickAll minAvailable is an int: 3 available - 2 = 1 > 0
        (
            crp(pick_all()),
            "a",
            bindings("a:Bound", "b:Bound", "c:Bound"),
            ALL_AVAILABLE,
            Budget(min_available=2),
            Status.TRUE,
            Status.TRUE,
            "Eviction is allowed by specified ClusterResourcePlacementDisruptionBudget, availablePlacements: 3, totalPlacements: 3",
        ),
        (
            crp(pick_all()),
            "a",
            bindings("a:Bound", "b:Bound"),
            ALL_AVAILABLE,
            Budget(min_available=2),
            Status.TRUE,
            Status.FALSE,
            "Eviction is blocked by specified ClusterResourcePlacementDisruptionBudget, availablePlacements: 2, totalPlacements: 2",
        ),
        # PickN 4, maxUnavailable 25% -> ceil(1) - (4 - 3 unavailable=1) = 0: blocked
        (
            crp(pick_n(4)),
            "a",
            bindings("a:Bound", "b:Bound", "c:Bound", "d:Bound"),
            {c: BindingHealth(available=c != "d") for c in "abcd"},
            Budget(max_unavailable="25%"),
            Status.TRUE,
            Status.FALSE,
            "Eviction is blocked by specified ClusterResourcePlacementDisruptionBudget, availablePlacements: 3, totalPlacements: 4",
        ),
        # PickN 4, minAvailable 50% -> 4 available - 2 = 2 > 0
        (
            crp(pick_n(4)),
            "b",
            bindings("a:Bound", "b:Bound", "c:Bound", "d:Bound"),
            ALL_AVAILABLE,
            Budget(min_available="50%"),
            Status.TRUE,
            Status.TRUE,
            "Eviction is allowed by specified ClusterResourcePlacementDisruptionBudget, availablePlacements: 4, totalPlacements: 4",
        ),
        # an Unscheduled binding that was Bound still has resources on the cluster
        (
            crp(pick_n(1)),
            "a",
            [Binding("a", BindingState.UNSCHEDULED, "h", None, BindingState.BOUND)],
            {},
            None,
            Status.TRUE,
            Status.TRUE,
            ALLOWED_NO_BUDGET,
        ),
    ],
)
def test_eviction_outcomes(
    placement: object,
    target: str,
    current: list[Binding],
    health: dict[str, BindingHealth],
    budget: Budget | None,
    valid: Status,
    executed: Status | None,
    message: str,
) -> None:
    result = evaluate_eviction(target, placement, current, health, budget)  # type: ignore[arg-type]
    assert result.conditions[0].type == "Valid" and result.conditions[0].status == valid
    if executed is None:
        assert len(result.conditions) == 1
        assert result.conditions[0].message == message
        assert result.conditions[0].reason == "ClusterResourcePlacementEvictionInvalid"
    else:
        assert result.conditions[1].type == "Executed"
        assert result.conditions[1].status == executed
        assert result.conditions[1].message == message
    removed = {b.cluster for b in current} - {b.cluster for b in result.bindings}
    assert removed == ({target} if executed == Status.TRUE else set())


def test_an_eviction_never_runs_twice() -> None:
    first = evaluate_eviction("a", crp(pick_n(2)), bindings("a:Bound", "b:Bound"), {}, None)
    assert first.executed
    again = evaluate_eviction("b", crp(pick_n(2)), first.bindings, {}, None, previous=first.conditions)
    assert again.conditions == first.conditions
    assert again.bindings == first.bindings


def test_an_eviction_blocked_by_the_budget_is_terminal_too() -> None:
    blocked = evaluate_eviction(
        "a", crp(pick_all()), bindings("a:Bound"), ALL_AVAILABLE, Budget(min_available=1)
    )
    assert not blocked.executed
    later = evaluate_eviction(
        "a",
        crp(pick_all()),
        bindings("a:Bound", "b:Bound"),
        ALL_AVAILABLE,
        Budget(min_available=1),
        previous=blocked.conditions,
    )
    assert not later.executed


def test_the_api_disruption_budget_model_is_accepted() -> None:
    from reconciler.api.eviction import DisruptionBudget
    from reconciler.api.meta import ObjectMeta, Origin

    budget = DisruptionBudget(
        "placement.kubernetes-fleet.io/v1beta1", ObjectMeta("web"), Origin("b.yaml", 1), min_available=1
    )
    result = evaluate_eviction("a", crp(pick_n(2)), bindings("a:Bound", "b:Bound"), ALL_AVAILABLE, budget)
    assert result.executed
