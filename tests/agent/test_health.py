"""Availability judged exactly as KubeFleet's availability tracker (kubefleet-api.md §5.1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.health import availability, untracked_available
from fleetsync_contract.report import Availability

A, N, T = Availability.AVAILABLE, Availability.NOT_YET_AVAILABLE, Availability.NOT_TRACKABLE


def obj(api_version: str, kind: str, *, gen: int = 1, spec: Any = None, status: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", "generation": gen},
    }
    if spec is not None:
        out["spec"] = spec
    if status is not None:
        out["status"] = status
    return out


DEPLOY_OK = {"observedGeneration": 2, "replicas": 3, "availableReplicas": 3, "updatedReplicas": 3}


@pytest.mark.parametrize(
    ("o", "want"),
    [
        (obj("apps/v1", "Deployment", gen=2, spec={"replicas": 3}, status=DEPLOY_OK), A),
        (
            obj("apps/v1", "Deployment", gen=3, spec={"replicas": 3}, status=DEPLOY_OK),
            N,
        ),  # generation not observed
        (
            obj(
                "apps/v1",
                "Deployment",
                gen=2,
                spec={"replicas": 3},
                status={**DEPLOY_OK, "availableReplicas": 2},
            ),
            N,
        ),
        (
            obj(
                "apps/v1",
                "Deployment",
                gen=2,
                spec={"replicas": 3},
                status={**DEPLOY_OK, "unavailableReplicas": 1},
            ),
            N,
        ),
        (
            obj("apps/v1", "Deployment", gen=2, spec={"replicas": 3}, status={**DEPLOY_OK, "replicas": 4}),
            N,
        ),  # surge
        (
            obj(
                "apps/v1",
                "Deployment",
                gen=1,
                spec={},
                status={"observedGeneration": 1, "replicas": 1, "availableReplicas": 1, "updatedReplicas": 1},
            ),
            A,
        ),
        (obj("apps/v1", "Deployment", spec={}, status={}), N),  # fresh: replicas default to 1
        (
            obj(
                "apps/v1",
                "StatefulSet",
                spec={"replicas": 2},
                status={
                    "observedGeneration": 1,
                    "availableReplicas": 2,
                    "currentReplicas": 2,
                    "updatedReplicas": 2,
                    "currentRevision": "r1",
                    "updateRevision": "r1",
                },
            ),
            A,
        ),
        (
            obj(
                "apps/v1",
                "StatefulSet",
                spec={"replicas": 2},
                status={
                    "observedGeneration": 1,
                    "availableReplicas": 2,
                    "currentReplicas": 2,
                    "updatedReplicas": 2,
                    "currentRevision": "r1",
                    "updateRevision": "r2",
                },
            ),
            N,
        ),
        (obj("apps/v1", "DaemonSet", status={"observedGeneration": 1}), A),  # no nodes: desired 0
        (
            obj(
                "apps/v1",
                "DaemonSet",
                status={"observedGeneration": 1, "desiredNumberScheduled": 2, "numberAvailable": 1},
            ),
            N,
        ),
        (obj("v1", "Service", spec={"clusterIPs": ["10.0.0.1"]}), A),
        (obj("v1", "Service", spec={"type": "NodePort", "clusterIPs": [""]}), N),
        (
            obj(
                "v1",
                "Service",
                spec={"type": "LoadBalancer", "clusterIPs": ["10.0.0.1"]},
                status={"loadBalancer": {}},
            ),
            N,
        ),
        (
            obj(
                "v1",
                "Service",
                spec={"type": "LoadBalancer"},
                status={"loadBalancer": {"ingress": [{"hostname": "h"}]}},
            ),
            A,
        ),
        (obj("v1", "Service", spec={"type": "ExternalName", "externalName": "example.com"}), T),
        (
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                status={
                    "conditions": [
                        {"type": "Established", "status": "True"},
                        {"type": "NamesAccepted", "status": "True"},
                    ]
                },
            ),
            A,
        ),
        (
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                status={"conditions": [{"type": "NamesAccepted", "status": "True"}]},
            ),
            N,
        ),
        (
            obj(
                "policy/v1",
                "PodDisruptionBudget",
                gen=2,
                status={
                    "observedGeneration": 2,
                    "conditions": [{"type": "DisruptionAllowed", "status": "False", "observedGeneration": 2}],
                },
            ),
            A,
        ),
        (obj("policy/v1", "PodDisruptionBudget", gen=2, status={"observedGeneration": 1}), N),
        (obj("v1", "ConfigMap"), A),
        (obj("v1", "Namespace"), A),
        (obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), A),
        (obj("scheduling.k8s.io/v1", "PriorityClass"), A),
        (obj("batch/v1", "Job", status={"succeeded": 1}), T),
        (obj("example.com/v1", "Widget"), T),
    ],
)
def test_availability_per_kind_follows_kubefleet(o: dict[str, Any], want: Availability) -> None:
    assert availability(o) == want


def test_untrackable_objects_count_as_available_after_the_unavailable_period() -> None:
    applied = datetime(2026, 1, 1, tzinfo=UTC)
    assert not untracked_available(applied, applied + timedelta(seconds=59), 60)
    assert untracked_available(applied, applied + timedelta(seconds=60), 60)
