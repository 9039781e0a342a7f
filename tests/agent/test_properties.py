"""Cluster properties as KubeFleet names and formats them."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from agent.properties import (
    DefaultProvider,
    PriceTableProvider,
    collect_all,
    format_cpu,
    format_memory,
    provider,
)

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def node(name: str, cpu: str, memory: str, sku: str = "", alloc_cpu: str | None = None) -> dict[str, Any]:
    labels = {"node.kubernetes.io/instance-type": sku} if sku else {}
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory},
            "allocatable": {"cpu": alloc_cpu or cpu, "memory": memory},
        },
    }


def pod(cpu: str, memory: str, *, node_name: str = "n1", phase: str = "Running") -> dict[str, Any]:
    return {
        "spec": {
            "nodeName": node_name,
            "containers": [{"resources": {"requests": {"cpu": cpu, "memory": memory}}}],
        },
        "status": {"phase": phase},
    }


def test_a_node_value_the_hub_would_not_read_is_left_out_of_the_sums() -> None:
    # One parser on both sides (fleetsync_contract.quantity): "1e3m" is an exponent and a suffix,
    # which Kubernetes refuses; the agent once read it as 1 core.
    nodes = [node("n1", "4", "16Gi"), node("n2", "1e3m", "1e3Ki")]
    c = DefaultProvider().collect(nodes, [], NOW)
    assert (c.capacity, c.properties) == (
        {"cpu": "4", "memory": "16Gi"},
        {"kubernetes-fleet.io/node-count": "2"},
    )


def test_quantities_format_canonically() -> None:
    assert [format_cpu(Fraction(x)) for x in ("12", "0.5", "1.25")] == ["12", "500m", "1250m"]
    assert [format_memory(Fraction(x)) for x in (48 * 1024**3, 1536 * 1024**2, 1000)] == [
        "48Gi",
        "1536Mi",
        "1000",
    ]


def test_default_provider_counts_nodes_and_subtracts_requests_of_bound_unfinished_pods() -> None:
    nodes = [node("n1", "4", "16Gi", alloc_cpu="3800m"), node("n2", "8", "32Gi")]
    pods = [
        pod("500m", "1Gi"),
        pod("1", "2Gi", phase="Pending"),  # bound, not finished: counts
        pod("2", "4Gi", phase="Succeeded"),  # finished: does not count
        pod("3", "8Gi", node_name=""),  # not bound: does not count
    ]
    c = DefaultProvider().collect(nodes, pods, NOW)
    assert c.properties == {"kubernetes-fleet.io/node-count": "2"}
    assert c.capacity == {"cpu": "12", "memory": "48Gi"}
    assert c.allocatable == {"cpu": "11800m", "memory": "48Gi"}
    assert c.available == {"cpu": "10300m", "memory": "45Gi"}


def test_price_table_costs_per_core_and_per_gib_with_three_decimals() -> None:
    nodes = [node("a", "4", "16Gi", "D4"), node("b", "4", "16Gi", "D4"), node("c", "8", "32Gi", "D8")]
    c = PriceTableProvider({"D4": 0.192, "D8": 0.384}).collect(nodes, [], NOW)
    assert c.properties == {
        "kubernetes.azure.com/per-cpu-core-cost": "0.048",
        "kubernetes.azure.com/per-gb-memory-cost": "0.012",
        "kubernetes.azure.com/vm-sizes/D4/count": "2",
        "kubernetes.azure.com/vm-sizes/D8/count": "1",
    }


def test_a_node_without_a_price_makes_costs_unavailable() -> None:
    c = PriceTableProvider({"D4": 0.192}).collect(
        [node("a", "4", "16Gi", "D4"), node("b", "4", "16Gi", "X")], [], NOW
    )
    assert "kubernetes.azure.com/per-cpu-core-cost" not in c.properties
    assert c.problems == ("node b: no price for instance type X",)


def test_providers_are_chosen_by_name_and_merged(tmp_path: Path) -> None:
    table = tmp_path / "prices.yaml"
    table.write_text("prices:\n  D4: 0.192\n")
    chosen = [provider("default"), provider(f"price-table:{table}")]
    c = collect_all(chosen, [node("a", "4", "16Gi", "D4")], [], NOW)
    assert c.properties["kubernetes-fleet.io/node-count"] == "1"
    assert c.properties["kubernetes.azure.com/per-cpu-core-cost"] == "0.048"
    with pytest.raises(ValueError, match="unknown property provider"):
        provider("nope")


def test_a_malformed_price_table_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "prices.yaml"
    table.write_text("prices:\n  D4: cheap\n")
    with pytest.raises(ValueError, match="hourly price"):
        PriceTableProvider.from_file(table)
