"""MemberCluster: defaults, the member-name label, declared status and every validation rule.

Invalid cases mark the line the finding must point at with ``#!``.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from reconciler.api.membercluster import MEMBER_NAME_LABEL, MemberCluster, Taint
from reconciler.errors import Finding
from tests.support.apifixtures import finding_at, marked_line, parse_one


def load(text: str) -> tuple[Any, list[Finding]]:
    return parse_one(textwrap.dedent(text), "fleet/clusters.yaml")


def mc(body: str = "", *, version: str = "v1beta1", name: str = "prod-eu-1") -> str:
    head = (
        f"apiVersion: cluster.kubernetes-fleet.io/{version}\nkind: MemberCluster\nmetadata:\n  name: {name}\n"
    )
    return head + textwrap.dedent(body).strip("\n") + "\n"


def valid(text: str) -> MemberCluster:
    obj, findings = load(text)
    assert [str(f) for f in findings] == []
    assert isinstance(obj, MemberCluster)
    return obj


def test_a_member_cluster_needs_no_identity_and_gets_kubefleet_defaults() -> None:
    m = valid(mc())
    assert (m.heartbeat_period_seconds, m.taints, m.delete_validation_mode) == (60, (), "Strict")
    assert m.resource_usage is None and dict(m.properties) == {}


def test_kubefleet_adds_the_member_name_label() -> None:
    m = valid(mc().replace("  name: prod-eu-1\n", "  name: prod-eu-1\n  labels: {env: prod}\n"))
    assert dict(m.labels) == {"env": "prod", MEMBER_NAME_LABEL: "prod-eu-1"}


def test_an_identity_is_accepted_and_ignored() -> None:
    m = valid(
        mc("""
        spec:
          identity: {name: fleet-member-agent, kind: ServiceAccount, namespace: fleet-system, apiGroup: ""}
          heartbeatPeriodSeconds: 15
          taints:
            - {key: dedicated, value: gpu, effect: NoSchedule}
          deleteOptions: {validationMode: Skip}
    """)
    )
    assert m.heartbeat_period_seconds == 15
    assert m.taints == (Taint("dedicated", "gpu", "NoSchedule"),)
    assert m.delete_validation_mode == "Skip"


def test_declared_status_properties_and_resource_usage_are_kept() -> None:
    m = valid(
        mc("""
        status:
          properties:
            kubernetes-fleet.io/node-count: {value: "3", observationTime: "2026-01-01T00:00:00Z"}
            kubernetes.azure.com/vm-sizes/Standard_D2s_v3/count: {value: "2"}
          resourceUsage:
            capacity: {cpu: 12, memory: 48Gi}
            available: {cpu: 500m}
          conditions:
            - {type: Joined, status: "True"}
    """)
    )
    assert m.properties["kubernetes-fleet.io/node-count"].value == "3"
    assert m.properties["kubernetes-fleet.io/node-count"].observation_time == "2026-01-01T00:00:00Z"
    assert m.resource_usage is not None
    assert dict(m.resource_usage.capacity) == {"cpu": "12", "memory": "48Gi"}
    assert dict(m.resource_usage.allocatable) == {}
    assert m.status["conditions"] == [{"type": "Joined", "status": "True"}]


def test_v1_parses_into_the_same_model() -> None:
    m = valid(mc("spec:\n  heartbeatPeriodSeconds: 30\n", version="v1"))
    assert m.heartbeat_period_seconds == 30 and m.api_version == "cluster.kubernetes-fleet.io/v1"


INVALID: list[tuple[str, str, str, str]] = [
    (
        "no-join-state",
        mc("spec:\n  state: Join  #!\n"),
        "spec.state",
        "joins when its MemberCluster is committed",
    ),
    (
        "heartbeat-min",
        mc("spec:\n  heartbeatPeriodSeconds: 0  #!\n"),
        "spec.heartbeatPeriodSeconds",
        "greater than or equal to 1",
    ),
    (
        "heartbeat-max",
        mc("spec:\n  heartbeatPeriodSeconds: 601  #!\n"),
        "spec.heartbeatPeriodSeconds",
        "less than or equal to 600",
    ),
    (
        "taint-effect",
        mc("spec:\n  taints:\n  - key: a\n    effect: NoExecute  #!\n"),
        "spec.taints[0].effect",
        "supported values: 'NoSchedule'",
    ),
    (
        "taint-needs-key",
        mc("spec:\n  taints:\n  - effect: NoSchedule  #!\n"),
        "spec.taints[0]",
        "required field 'key'",
    ),
    (
        "taint-needs-effect",
        mc("spec:\n  taints:\n  - key: a  #!\n"),
        "spec.taints[0]",
        "required field 'effect'",
    ),
    (
        "taint-key-qualified",
        mc("spec:\n  taints:\n  - {key: 'a b', effect: NoSchedule}  #!\n"),
        "spec.taints[0].key",
        "invalid taint key {Key:a b Value: Effect:NoSchedule}: ",
    ),
    (
        "taint-unique",
        mc("spec:\n  taints:\n  - {key: a, effect: NoSchedule}\n  - {key: a, effect: NoSchedule}  #!\n"),
        "spec.taints[1]",
        "taint {Key:a Value: Effect:NoSchedule} already exists, taints must be unique",
    ),
    (
        "taints-max",
        mc(
            "spec:\n  taints:  #!\n" + "".join(f"  - {{key: k{i}, effect: NoSchedule}}\n" for i in range(101))
        ),
        "spec.taints",
        "at most 100 items",
    ),
    ("name-max-63", mc(name="c" * 64 + "  #!"), "metadata.name", "no more than 63"),
    (
        "cluster-scoped",
        mc().replace("  name: prod-eu-1\n", "  name: prod-eu-1\n  namespace: fleet  #!\n"),
        "metadata.namespace",
        "cluster-scoped",
    ),
    (
        "delete-mode",
        mc("spec:\n  deleteOptions:\n    validationMode: Force  #!\n"),
        "spec.deleteOptions.validationMode",
        "'Skip', 'Strict'",
    ),
    (
        "v1-no-delete-options",
        mc("spec:\n  deleteOptions: {}  #!\n", version="v1"),
        "spec.deleteOptions",
        "not served by cluster.kubernetes-fleet.io/v1",
    ),
    (
        "usage-quantity",
        mc("status:\n  resourceUsage:\n    capacity:\n      cpu: many  #!\n"),
        "status.resourceUsage.capacity.cpu",
        "not a Kubernetes quantity",
    ),
    (
        "property-value-required",
        mc("status:\n  properties:\n    node-count:  #!\n      observationTime: x\n"),
        "status.properties.node-count",
        "required field 'value'",
    ),
    (
        "unknown-spec-field",
        mc("spec:\n  heartbeatPeriodSecond: 10  #!\n"),
        "spec.heartbeatPeriodSecond",
        'did you mean "heartbeatPeriodSeconds"',
    ),
]


@pytest.mark.parametrize(("text", "field", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_each_invalid_member_cluster_is_reported_at_its_field_and_line(
    text: str, field: str, fragment: str
) -> None:
    _, findings = load(text)
    found = finding_at(findings, field, fragment)
    assert (found.line, found.severity) == (marked_line(text), "error")
