"""Drift and diff details exactly as KubeFleet reports them (kubefleet-api.md §6)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.apply.compare import FULL, PARTIAL, compare, discard_irrelevant, go_value, patch_details
from agent.errors import Invalid, Retryable
from fleetsync_contract.report import REDACTED, PatchDetail


def deploy(replicas: Any = 3, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "web"}}}},
    }
    obj.update(extra)
    return obj


@pytest.mark.parametrize(
    ("value", "json_numbers", "text"),
    [
        ("nginx", False, "nginx"),
        (80, False, "80"),
        (80, True, "80"),
        (1000000, False, "1000000"),
        (1000000, True, "1e+06"),
        (0.5, True, "0.5"),
        (123456.7, True, "123456.7"),
        (1234567.0, True, "1.234567e+06"),
        (0.00001, True, "1e-05"),
        (True, False, "true"),
        (None, False, "<nil>"),
        ({"b": 2, "a": "x"}, False, "map[a:x b:2]"),
        ([], False, "[]"),
        ({}, False, "map[]"),
        (
            [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            True,
            "[map[name:http port:80 protocol:TCP targetPort:8080]]",
        ),
    ],
)
def test_values_render_like_go_percent_v(value: Any, json_numbers: bool, text: str) -> None:
    assert go_value(value, json_numbers=json_numbers) == text


def test_discard_drops_server_and_reserved_metadata_but_keeps_user_labels() -> None:
    live = deploy(
        status={"replicas": 3},
    )
    live["metadata"].update(
        {
            "uid": "u",
            "resourceVersion": "7",
            "generation": 4,
            "creationTimestamp": "t",
            "managedFields": [{}],
            "ownerReferences": [{}],
            "finalizers": ["x"],
            "labels": {"team": "a", "app.kubernetes.io/name": "web", "fleetsync.io/owned-by": "c1"},
            "annotations": {"kubernetes-fleet.io/spec-hash": "h", "note": "keep", "example.k8s.io/x": "y"},
        }
    )
    live["spec"]["template"]["metadata"]["creationTimestamp"] = None
    out = discard_irrelevant(live)
    assert out["metadata"] == {"labels": {"team": "a"}, "annotations": {"note": "keep"}}
    assert "status" not in out
    assert out["spec"]["template"]["metadata"] == {"labels": {"app": "web"}}
    assert live["metadata"]["uid"] == "u"  # the input is not modified


def test_changed_scalar_reports_both_sides_with_member_numbers_as_float64() -> None:
    assert patch_details(deploy(1000000), deploy(5)) == (PatchDetail("/spec/replicas", "1000000", "5"),)
    assert patch_details(deploy(3), deploy(1000000)) == (PatchDetail("/spec/replicas", "3", "1e+06"),)


def test_field_only_on_member_reports_value_in_member_only() -> None:
    member = deploy(3)
    member["spec"]["paused"] = False
    assert patch_details(deploy(3), member) == (PatchDetail("/spec/paused", None, "false"),)


def test_field_only_in_hub_reports_value_in_hub_only() -> None:
    hub = deploy(3)
    hub["spec"]["minReadySeconds"] = 5
    assert patch_details(hub, deploy(3)) == (PatchDetail("/spec/minReadySeconds", "5", None),)


def test_arrays_compare_by_index_with_kubefleet_paths_for_surplus_elements() -> None:
    hub = {"apiVersion": "v1", "kind": "X", "metadata": {}, "spec": {"xs": ["a", "b", "c"]}}
    shorter = {"apiVersion": "v1", "kind": "X", "metadata": {}, "spec": {"xs": ["a", "z"]}}
    longer = {"apiVersion": "v1", "kind": "X", "metadata": {}, "spec": {"xs": ["a", "b", "c", "d", "e"]}}
    assert patch_details(hub, shorter) == (
        PatchDetail("/spec/xs/2", "c", None),
        PatchDetail("/spec/xs/1", "b", "z"),
    )
    assert patch_details(hub, longer) == (
        PatchDetail("/spec/xs/-", None, "d"),
        PatchDetail("/spec/xs/-", None, "e"),
    )


def test_keys_are_escaped_as_json_pointers_and_sorted() -> None:
    hub = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "data": {"a/b": "1", "c~d": "2"}}
    member = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "data": {"a/b": "9", "c~d": "8"}}
    assert [d.path for d in patch_details(hub, member)] == ["/data/a~1b", "/data/c~0d"]


def test_type_change_is_a_replace_and_empty_renderings_are_omitted() -> None:
    hub = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "data": {"k": ""}}
    member = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "data": {"k": "v"}}
    assert patch_details(hub, member) == (PatchDetail("/data/k", None, "v"),)


def test_secret_data_is_redacted_in_every_detail() -> None:
    hub = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {},
        "data": {"password": "aHVi"},
        "type": "Opaque",
    }
    member = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {},
        "data": {"password": "bWVt", "extra": "eA=="},
        "type": "kubernetes.io/tls",
    }
    details = patch_details(hub, member)
    assert PatchDetail("/data/extra", None, REDACTED) in details
    assert PatchDetail("/data/password", REDACTED, REDACTED) in details
    assert PatchDetail("/type", "Opaque", "kubernetes.io/tls") in details
    assert not any("aHVi" in str(d) or "bWVt" in str(d) or "eA==" in str(d) for d in details)


def test_at_most_one_hundred_details_per_object() -> None:
    hub = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {},
        "data": {f"k{i:03}": "a" for i in range(150)},
    }
    member = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {},
        "data": {f"k{i:03}": "b" for i in range(150)},
    }
    assert len(patch_details(hub, member)) == 100


def test_full_comparison_reports_defaulted_fields_partial_does_not() -> None:
    live = deploy(3)
    live["spec"]["progressDeadlineSeconds"] = 600

    def dry_run(manifest: dict[str, Any]) -> dict[str, Any]:
        return live  # the server would merge the manifest onto the live object: nothing changes

    assert compare(deploy(3), live, FULL, dry_run).details == (
        PatchDetail("/spec/progressDeadlineSeconds", None, "600"),
    )
    assert compare(deploy(3), live, PARTIAL, dry_run).details == ()


def test_partial_comparison_falls_back_to_full_when_the_dry_run_is_invalid() -> None:
    def refuse(manifest: dict[str, Any]) -> dict[str, Any]:
        raise Invalid("spec.selector: field is immutable", status=422)

    cmp = compare(deploy(3), deploy(4), PARTIAL, refuse)
    assert cmp.degraded
    assert cmp.details == (PatchDetail("/spec/replicas", "3", "4"),)


def test_partial_comparison_passes_other_errors_to_the_caller() -> None:
    def unavailable(manifest: dict[str, Any]) -> dict[str, Any]:
        raise Retryable("etcd timeout", status=500)

    with pytest.raises(Retryable):
        compare(deploy(3), deploy(4), PARTIAL, unavailable)


@pytest.mark.parametrize(
    ("live_data", "expected"),
    [
        ({"password": "czNjcmV0"}, True),  # base64 of s3cret: stringData as the server stores it
        ({"password": "b3RoZXI="}, False),  # another value
        ({}, False),
    ],
)
def test_a_secrets_string_data_is_compared_as_the_base64_data_the_server_keeps(
    live_data: dict[str, str], expected: bool
) -> None:
    from agent.apply.compare import satisfies

    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"password": "s3cret"},
    }
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "type": "Opaque",
        "data": live_data,
    }
    assert satisfies(live, body) is expected
