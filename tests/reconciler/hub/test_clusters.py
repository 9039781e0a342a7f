"""Cluster state: eligibility (KubeFleet's checker, fleetsync's meaning) and property lookup (§1.1)."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from types import MappingProxyType

import pytest

from reconciler.api.membercluster import ResourceUsage
from reconciler.hub.clusters import (
    ClusterObservation,
    IneligibleReason,
    cluster_state,
    cluster_states,
    eligibility,
)
from tests.support.schedfixtures import NOW, healthy, member, unhealthy


@pytest.mark.parametrize(
    ("observation", "eligible", "reason"),
    [
        (None, False, "cluster is not connected to the fleet: member agent not online yet"),
        (ClusterObservation(), False, "cluster is not connected to the fleet: member agent not online yet"),
        (healthy(), True, ""),
        (healthy(age=timedelta(minutes=5)), True, ""),
        (
            healthy(age=timedelta(minutes=6)),
            False,
            "cluster is not connected to the fleet: no recent heartbeat signals "
            "(last received at 2026-11-25T02:54:00Z)",
        ),
        (
            ClusterObservation(heartbeat_time=NOW),
            False,
            "cluster is not connected to the fleet: health condition from member agent is not available",
        ),
        (unhealthy(timedelta(minutes=2)), True, ""),
        (
            unhealthy(timedelta(minutes=7, seconds=30)),
            False,
            "cluster is not connected to the fleet: unhealthy for a prolonged period of time "
            "(last transitioned at 2026-11-25T02:52:30Z)",
        ),
    ],
    ids=[
        "never-reported",
        "no-heartbeat",
        "fresh",
        "heartbeat-at-timeout",
        "stale-heartbeat",
        "no-health",
        "short-unhealthy-blip-tolerated",
        "unhealthy-too-long",
    ],
)
def test_eligibility_follows_kubefleet_checker_order(
    observation: ClusterObservation | None, eligible: bool, reason: str
) -> None:
    verdict = eligibility(observation, NOW)
    assert (verdict is None, verdict.message if verdict is not None else "") == (eligible, reason)


def test_heartbeat_timeout_is_a_parameter() -> None:
    obs = healthy(age=timedelta(minutes=3))
    assert eligibility(obs, NOW, heartbeat_timeout=timedelta(minutes=2)) is not None
    assert eligibility(obs, NOW) is None


def test_an_ineligibility_is_data_and_its_status_text_does_not_move_with_the_clock() -> None:
    six, seven = (
        eligibility(healthy(age=timedelta(minutes=6)), NOW),
        eligibility(healthy(age=timedelta(minutes=7)), NOW),
    )
    assert six is not None and seven is not None
    assert six.reason == seven.reason == IneligibleReason.NO_RECENT_HEARTBEAT
    assert (six.last, seven.last) == (NOW - timedelta(minutes=6), NOW - timedelta(minutes=7))
    assert (
        six.summary == seven.summary == "cluster is not connected to the fleet: no recent heartbeat signals"
    )
    assert six.message != seven.message  # the scheduler's reason says when the last beat was
    later = eligibility(healthy(age=timedelta(minutes=6)), NOW + timedelta(minutes=10))
    assert later is not None and later.message == six.message  # ...and does not age with the clock
    state = cluster_state(member("c1"), healthy(age=timedelta(minutes=6)), NOW)
    assert not state.eligible and state.ineligibility == six and state.ineligible_reason == six.message


USAGE = ResourceUsage(
    capacity=MappingProxyType({"cpu": "12", "memory": "48Gi", "ephemeral-storage": "100Gi"}),
    allocatable=MappingProxyType({"cpu": "11500m"}),
)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("kubernetes-fleet.io/node-count", Fraction(3)),
        ("resources.kubernetes-fleet.io/total-cpu", Fraction(12)),
        ("resources.kubernetes-fleet.io/total-memory", Fraction(48 * 2**30)),
        ("resources.kubernetes-fleet.io/allocatable-cpu", Fraction(23, 2)),
        ("resources.kubernetes-fleet.io/available-cpu", None),  # not reported: unavailable, not an error
        ("resources.kubernetes-fleet.io/total-ephemeral-storage", None),  # suffix must split in two parts
        ("resources.kubernetes-fleet.io/bogus-cpu", None),
        ("example.com/cost", Fraction(42, 1000)),
        ("k8s.io/k8s-version", None),  # not a quantity: selectors on it never match
        ("example.com/missing", None),
    ],
)
def test_property_lookup_derives_resources_and_parses_quantities(name: str, value: Fraction | None) -> None:
    obs = healthy(
        properties={
            "kubernetes-fleet.io/node-count": "3",
            "example.com/cost": "0.042",
            "k8s.io/k8s-version": "v1.32.1",
        },
        usage=USAGE,
    )
    assert cluster_state(member("c1"), obs, NOW).quantity(name) == value


def test_observation_wins_over_what_the_repo_declares() -> None:
    declared = member(
        "c1",
        properties={"example.com/cost": "5", "example.com/tier": "2"},
        usage=ResourceUsage(capacity=MappingProxyType({"cpu": "4", "gpu": "2"})),
    )
    obs = healthy(
        properties={"example.com/cost": "7"}, usage=ResourceUsage(capacity=MappingProxyType({"cpu": "8"}))
    )
    state = cluster_state(declared, obs, NOW)
    assert state.quantity("example.com/cost") == 7
    assert state.quantity("example.com/tier") == 2  # not reported: the declared value stays
    assert state.quantity("resources.kubernetes-fleet.io/total-cpu") == 8
    assert state.quantity("resources.kubernetes-fleet.io/total-gpu") == 2


def test_resource_names_in_status_properties_are_ignored() -> None:
    state = cluster_state(
        member("c1"), healthy(properties={"resources.kubernetes-fleet.io/total-cpu": "99"}), NOW
    )
    assert state.quantity("resources.kubernetes-fleet.io/total-cpu") is None


def test_member_name_label_is_added_and_states_sorted_by_name() -> None:
    states = cluster_states([member("b", {"env": "prod"}), member("a")], {"b": healthy()}, NOW)
    assert [s.name for s in states] == ["a", "b"]
    assert states[1].labels == {"env": "prod", "kubernetes-fleet.io/member-name": "b"}
    assert not states[0].eligible and states[1].eligible


def test_observation_takes_the_newer_of_report_and_heartbeat() -> None:
    from fleetsync_contract.report import ClusterReport, Health, Heartbeat, PropertyValue, format_time
    from reconciler.hub.clusters import observation_from_report

    old, new = format_time(NOW - timedelta(minutes=10)), format_time(NOW - timedelta(seconds=5))
    report = ClusterReport(
        "c1",
        "0.1.0",
        old,
        health=Health(False, "readyz failed", old),
        properties={"kubernetes-fleet.io/node-count": PropertyValue("4", old)},
    )
    obs = observation_from_report(report, Heartbeat("c1", new, "", Health(True, "", new)))
    assert obs.heartbeat_time == NOW - timedelta(seconds=5)
    assert obs.healthy is True
    assert obs.properties == {"kubernetes-fleet.io/node-count": "4"}
    assert eligibility(obs, NOW) is None
    stale = observation_from_report(report)
    assert eligibility(stale, NOW) is not None
    assert observation_from_report(None) == ClusterObservation()
