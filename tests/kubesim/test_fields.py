"""Field sets and server-side apply merging, as pure functions (the rules the recordings show)."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim import fields, ssa


@pytest.mark.parametrize(
    ("applied", "expected"),
    [
        ({"data": {"a": "1"}}, {"f:data": {"f:a": {}}}),
        ({"metadata": {"name": "x", "labels": {"a": "b"}}}, {"f:metadata": {"f:labels": {"f:a": {}}}}),
        ({"spec": {"selector": {"matchLabels": {"app": "x"}}}}, {"f:spec": {"f:selector": {}}}),
        (
            {"spec": {"ports": [{"port": 80}]}},
            {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}},
        ),
        ({"metadata": {"finalizers": ["a/b"]}}, {"f:metadata": {"f:finalizers": {'v:"a/b"': {}}}}),
        ({"rules": [{"verbs": ["get"]}]}, {"f:rules": {}}),
    ],
)
def test_an_applied_configuration_owns_its_leaves_items_and_atomics(
    applied: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert fields.to_fields_v1(fields.apply_set(applied, skip_status=True)) == expected


def test_an_update_manager_is_credited_with_new_maps_as_nodes() -> None:
    added, removed = fields.changed_set(
        {"metadata": {}}, {"metadata": {}, "data": {"a": "1"}}, skip_status=True
    )
    assert fields.to_fields_v1(added) == {"f:data": {".": {}, "f:a": {}}}
    assert removed == set()


def test_fields_v1_round_trips() -> None:
    tree: dict[str, Any] = {
        "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}}, "f:replicas": {}}
    }
    assert fields.to_fields_v1(fields.from_fields_v1(tree)) == tree


def test_conflicts_name_the_owner_and_the_path() -> None:
    live = ssa.apply(None, {"spec": {"replicas": 2}}, "a", "apps/v1", force=False, now="t1", skip_status=True)
    with pytest.raises(ssa.ApplyConflict) as e:
        ssa.apply(live, {"spec": {"replicas": 3}}, "b", "apps/v1", force=False, now="t2", skip_status=True)
    assert e.value.conflicts == [("a", ("f:spec", "f:replicas"))]
    message, causes = ssa.conflict_message(e.value.conflicts)
    assert message == 'Apply failed with 1 conflict: conflict with "a": .spec.replicas'
    assert causes[0]["field"] == ".spec.replicas"


def test_keyed_list_items_merge_and_removed_items_go() -> None:
    cfg = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}}
    live = ssa.apply(None, cfg, "m", "v1", force=False, now="t", skip_status=True)
    out = ssa.apply(
        live,
        {"spec": {"containers": [{"name": "b", "image": "3"}]}},
        "m",
        "v1",
        force=False,
        now="t",
        skip_status=True,
    )
    assert out["spec"]["containers"] == [{"name": "b", "image": "3"}]


def test_managed_fields_sort_apply_before_update_then_by_time() -> None:
    entries = [
        ssa.Entry("u", "Update", "v1", {("f:a",)}, "2"),
        ssa.Entry("z", "Apply", "v1", {("f:b",)}, "3"),
        ssa.Entry("y", "Apply", "v1", {("f:c",)}, None),
    ]
    assert [e["manager"] for e in ssa.encode(entries)] == ["y", "z", "u"]
