"""Apply waves as KubeFleet orders them; custom resources after their CRDs."""

from __future__ import annotations

from typing import Any

import pytest

from agent.apply.order import LAST_WAVE, crd_established, crd_serves, wave_of, waves


@pytest.mark.parametrize(
    ("api_version", "kind", "wave"),
    [
        ("v1", "Namespace", 0),
        ("scheduling.k8s.io/v1", "PriorityClass", 0),
        ("v1", "ConfigMap", 1),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", 1),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", 2),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", 3),
        ("apps/v1", "Deployment", 4),
        ("batch/v1", "CronJob", 4),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", 5),
        ("example.com/v1", "Widget", LAST_WAVE),
        ("example.com/v1", "Deployment", LAST_WAVE),  # a known kind name in an unknown group
    ],
)
def test_wave_of_kind(api_version: str, kind: str, wave: int) -> None:
    assert wave_of(api_version, kind) == wave


def test_waves_are_ascending_and_keep_input_order_within_a_wave() -> None:
    items = [
        ("example.com/v1", "Widget", "w"),
        ("apps/v1", "Deployment", "d1"),
        ("v1", "Namespace", "ns"),
        ("apps/v1", "Deployment", "d0"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "crd"),
    ]
    out = waves(items, lambda i: (i[0], i[1]))
    assert [w.number for w in out] == [0, 1, 4, LAST_WAVE]
    assert [i[2] for i in out[2].items] == ["d1", "d0"]


def test_crd_serves_and_is_established_only_with_both_conditions() -> None:
    crd: dict[str, Any] = {
        "spec": {"group": "example.com", "names": {"kind": "Widget"}},
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }
    assert crd_serves(crd, "example.com/v1", "Widget")
    assert not crd_serves(crd, "other.com/v1", "Widget")
    assert not crd_established(crd)
    crd["status"]["conditions"].append({"type": "NamesAccepted", "status": "True"})
    assert crd_established(crd)
