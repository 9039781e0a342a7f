"""Cluster properties, collected by pluggable providers as KubeFleet's property-provider mode does.

A provider is a small object with a ``name`` and ``collect(nodes, pods, now)`` that returns
properties (KubeFleet's names, values that parse as Kubernetes quantities) and, optionally,
resource usage. The agent lists Nodes and Pods once per sync and hands the same lists to every
configured provider, so a provider never talks to the API server itself and is a pure function
that is easy to test. docs/agent.md shows how to write one.

- ``default`` — KubeFleet's built-in numbers: ``kubernetes-fleet.io/node-count`` and the
  resource usage (capacity / allocatable summed over Nodes; available = allocatable minus the
  requests of pods bound to a node and not finished, as KubeFleet's pod tracker counts them).
  The hub derives ``resources.kubernetes-fleet.io/{total,allocatable,available}-{cpu,memory}``
  from the usage, so they are not repeated as properties.
- ``price-table`` — KubeFleet's Azure cost properties from a table of hourly node prices keyed
  by ``node.kubernetes.io/instance-type``: ``kubernetes.azure.com/per-cpu-core-cost`` and
  ``kubernetes.azure.com/per-gb-memory-cost`` (total price / total cores or GiB, ``%.3f``) and
  ``kubernetes.azure.com/vm-sizes/<type>/count``. A node whose type has no price makes the cost
  properties unavailable (reported as a problem), as KubeFleet does rather than guess.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from fleetsync_contract.quantity import BINARY_SI, QuantityError, parse_quantity

Obj = Mapping[str, Any]

NODE_COUNT = "kubernetes-fleet.io/node-count"
PER_CPU_CORE_COST = "kubernetes.azure.com/per-cpu-core-cost"
PER_GB_MEMORY_COST = "kubernetes.azure.com/per-gb-memory-cost"
VM_SIZE_COUNT = "kubernetes.azure.com/vm-sizes/{}/count"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
MAX_PRICE_TABLE_BYTES = 1024 * 1024


def format_cpu(cores: Fraction) -> str:
    """Whole cores, else millicores rounded up (``12``, ``500m``), as the kubelet reports CPU."""
    milli = math.ceil(cores * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def format_memory(size: Fraction) -> str:
    """Whole bytes rounded up, in the largest binary-SI unit that divides them (``48Gi``, ``1000``)."""
    n = math.ceil(size)
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = BINARY_SI[suffix]
        if n and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


@dataclass(frozen=True, slots=True)
class Collected:
    properties: Mapping[str, str] = field(default_factory=dict)
    capacity: Mapping[str, str] = field(default_factory=dict)
    allocatable: Mapping[str, str] = field(default_factory=dict)
    available: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


class PropertyProvider(Protocol):
    name: str

    def collect(self, nodes: Sequence[Obj], pods: Sequence[Obj], now: datetime) -> Collected: ...


def _sum(nodes: Sequence[Obj], field_name: str, resource: str) -> Fraction:
    total = Fraction(0)
    for node in nodes:
        value = ((node.get("status") or {}).get(field_name) or {}).get(resource)
        if value is not None:
            try:
                total += parse_quantity(value)
            except QuantityError:
                continue
    return total


def _bound_and_unfinished(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName")) and (pod.get("status") or {}).get("phase") not in (
        "Succeeded",
        "Failed",
    )


def _requests(pods: Sequence[Obj], resource: str) -> Fraction:
    total = Fraction(0)
    for pod in pods:
        if not _bound_and_unfinished(pod):
            continue
        for c in (pod.get("spec") or {}).get("containers") or []:
            value = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if value is not None:
                try:
                    total += parse_quantity(value)
                except QuantityError:
                    continue
    return total


class DefaultProvider:
    """Node count and capacity / allocatable / available CPU and memory."""

    name = "default"

    def collect(self, nodes: Sequence[Obj], pods: Sequence[Obj], now: datetime) -> Collected:
        cap_cpu, cap_mem = _sum(nodes, "capacity", "cpu"), _sum(nodes, "capacity", "memory")
        alloc_cpu, alloc_mem = _sum(nodes, "allocatable", "cpu"), _sum(nodes, "allocatable", "memory")
        avail_cpu = max(Fraction(0), alloc_cpu - _requests(pods, "cpu"))
        avail_mem = max(Fraction(0), alloc_mem - _requests(pods, "memory"))
        return Collected(
            properties={NODE_COUNT: str(len(nodes))},
            capacity={"cpu": format_cpu(cap_cpu), "memory": format_memory(cap_mem)},
            allocatable={"cpu": format_cpu(alloc_cpu), "memory": format_memory(alloc_mem)},
            available={"cpu": format_cpu(avail_cpu), "memory": format_memory(avail_mem)},
        )


class PriceTableProvider:
    """Cost per CPU core and per GiB of memory from hourly node prices keyed by instance type."""

    name = "price-table"

    def __init__(self, prices: Mapping[str, float]):
        self.prices = dict(prices)

    @classmethod
    def from_file(cls, path: Path) -> PriceTableProvider:
        """A YAML or JSON mapping ``{prices: {<instance type>: <hourly price>}}``."""
        from fleetsync_contract.canonical import load

        doc = load(path.read_bytes(), max_bytes=MAX_PRICE_TABLE_BYTES)
        prices = doc.get("prices") if isinstance(doc, dict) else None
        if not isinstance(prices, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in prices.values()
        ):
            raise ValueError(f"{path}: expected {{prices: {{<instance type>: <non-negative hourly price>}}}}")
        return cls({str(k): float(v) for k, v in prices.items()})

    def collect(self, nodes: Sequence[Obj], pods: Sequence[Obj], now: datetime) -> Collected:
        counts: dict[str, int] = {}
        total = 0.0
        missing: list[str] = []
        for node in nodes:
            labels = (node.get("metadata") or {}).get("labels") or {}
            sku = str(labels.get(INSTANCE_TYPE_LABEL, ""))
            name = str((node.get("metadata") or {}).get("name", ""))
            counts[sku] = counts.get(sku, 0) + 1
            if sku not in self.prices:
                missing.append(f"node {name}: no price for instance type {sku or '(unlabelled)'}")
                continue
            total += self.prices[sku]
        props = {VM_SIZE_COUNT.format(sku): str(n) for sku, n in sorted(counts.items()) if sku}
        cores = float(_sum(nodes, "capacity", "cpu"))
        gib = float(_sum(nodes, "capacity", "memory")) / 1024**3
        if missing or not nodes:
            return Collected(properties=props, problems=tuple(missing) or ("no nodes to price",))
        if cores > 0:
            props[PER_CPU_CORE_COST] = f"{total / cores:.3f}"
        if gib > 0:
            props[PER_GB_MEMORY_COST] = f"{total / gib:.3f}"
        return Collected(properties=props)


ProviderFactory = Callable[[str], PropertyProvider]

PROVIDERS: dict[str, ProviderFactory] = {
    "default": lambda _arg: DefaultProvider(),
    "price-table": lambda arg: PriceTableProvider.from_file(Path(arg)),
}


def provider(spec: str) -> PropertyProvider:
    """``name`` or ``name:argument`` (``price-table:/etc/fleetsync/prices.yaml``)."""
    name, _, arg = spec.partition(":")
    if name not in PROVIDERS:
        raise ValueError(f"unknown property provider {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    return PROVIDERS[name](arg)


def collect_all(
    providers: Sequence[PropertyProvider], nodes: Sequence[Obj], pods: Sequence[Obj], now: datetime
) -> Collected:
    """Every provider's output merged in order (a later provider's property wins)."""
    props: dict[str, str] = {}
    cap: dict[str, str] = {}
    alloc: dict[str, str] = {}
    avail: dict[str, str] = {}
    problems: list[str] = []
    for p in providers:
        c = p.collect(nodes, pods, now)
        props.update(c.properties)
        cap.update(c.capacity)
        alloc.update(c.allocatable)
        avail.update(c.available)
        problems.extend(f"{p.name}: {x}" for x in c.problems)
    return Collected(props, cap, alloc, avail, tuple(problems))
