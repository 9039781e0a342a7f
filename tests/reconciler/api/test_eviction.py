"""ClusterResourcePlacementEviction and ClusterResourcePlacementDisruptionBudget parsing."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.eviction import DisruptionBudget, Eviction
from reconciler.errors import Finding
from tests.support.apifixtures import finding_at, parse_one


def load(text: str) -> tuple[Any, list[Finding]]:
    return parse_one(text, "fleet/eviction.yaml")


def eviction(spec: str, version: str = "v1beta1") -> str:
    return (
        f"apiVersion: placement.kubernetes-fleet.io/{version}\nkind: ClusterResourcePlacementEviction\n"
        f"metadata:\n  name: evict-1\nspec:\n{spec}\n"
    )


def budget(spec: str, version: str = "v1beta1") -> str:
    return (
        f"apiVersion: placement.kubernetes-fleet.io/{version}\nkind: ClusterResourcePlacementDisruptionBudget\n"
        f"metadata:\n  name: web\nspec:\n{spec}\n"
    )


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_an_eviction_names_a_placement_and_a_cluster_in_every_served_version(version: str) -> None:
    e, findings = load(eviction("  placementName: web\n  clusterName: member-1", version))
    assert findings == []
    assert isinstance(e, Eviction)
    assert (e.placement_key, e.cluster_name) == ("ClusterResourcePlacement/web", "member-1")


@pytest.mark.parametrize(
    ("spec", "max_unavailable", "min_available"),
    [
        ("  maxUnavailable: 1", 1, None),
        ("  minAvailable: 50%", None, "50%"),
        ("  maxUnavailable: 0", 0, None),
    ],
)
def test_a_budget_takes_exactly_one_int_or_percentage(
    spec: str, max_unavailable: Any, min_available: Any
) -> None:
    b, findings = load(budget(spec))
    assert findings == []
    assert isinstance(b, DisruptionBudget)
    assert (b.max_unavailable, b.min_available, b.placement_key) == (
        max_unavailable,
        min_available,
        "ClusterResourcePlacement/web",
    )


INVALID = [
    (
        "eviction-needs-placement",
        eviction("  clusterName: member-1"),
        "spec",
        5,
        "required field 'placementName'",
    ),
    ("eviction-needs-cluster", eviction("  placementName: web"), "spec", 5, "required field 'clusterName'"),
    (
        "eviction-name-length",
        eviction("  placementName: web\n  clusterName: " + "c" * 256),
        "spec.clusterName",
        7,
        "no more than 255",
    ),
    (
        "eviction-placement-length",
        eviction("  placementName: " + "p" * 256 + "\n  clusterName: c"),
        "spec.placementName",
        6,
        "no more than 255",
    ),
    ("budget-not-both", budget("  maxUnavailable: 1\n  minAvailable: 1"), "spec", 5, "not both"),
    ("budget-one-needed", budget("  {}").replace("spec:\n  {}", "spec: {}"), "spec", 5, "set exactly one"),
    (
        "budget-percent",
        budget("  minAvailable: 101%"),
        "spec.minAvailable",
        6,
        "a percentage from 0% to 100%",
    ),
    (
        "budget-non-negative",
        budget("  maxUnavailable: -1"),
        "spec.maxUnavailable",
        6,
        "greater than or equal to 0",
    ),
    (
        "budget-unknown-field",
        budget("  maxUnavailable: 1\n  maxSurge: 1"),
        "spec.maxSurge",
        7,
        "unknown field",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "line", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_each_invalid_eviction_object_is_reported_at_its_field_and_line(
    text: str, field: str, line: int, fragment: str
) -> None:
    _, findings = load(text)
    assert finding_at(findings, field, fragment).line == line


@pytest.mark.parametrize(
    "text",
    [eviction("  placementName: web\n  clusterName: member-1", "v1"), budget("  minAvailable: 1", "v1")],
    ids=["eviction", "budget"],
)
def test_evictions_and_budgets_are_not_served_as_v1(text: str) -> None:
    e, findings = load(text)
    assert e is None
    [error] = findings
    assert error.field == "apiVersion"
    assert (
        "KubeFleet serves" in error.message
        and "v1alpha1, placement.kubernetes-fleet.io/v1beta1" in error.message
    )
