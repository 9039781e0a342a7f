"""Typing a drift's Go-%v strings back into JSON, and the patch operation that adopts each path."""

from __future__ import annotations

from typing import Any

import pytest

from fleetsync_contract.report import PatchDetail
from reconciler.drift.values import AdoptionRefused, PatchOp, check_path, patch_op

HUB: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "frontend", "labels": {"app": "frontend"}},
    "spec": {
        "replicas": 3,
        "paused": False,
        "ratio": 0.5,
        "strategy": {"type": "RollingUpdate"},
        "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
    },
}


@pytest.mark.parametrize(
    ("path", "hub", "member", "expected"),
    [
        ("/spec/replicas", "3", "5", PatchOp("replace", "/spec/replicas", 5)),
        ("/spec/paused", "false", "true", PatchOp("replace", "/spec/paused", True)),
        ("/spec/ratio", "0.5", "0.75", PatchOp("replace", "/spec/ratio", 0.75)),
        (
            "/spec/strategy/type",
            "RollingUpdate",
            "Recreate",
            PatchOp("replace", "/spec/strategy/type", "Recreate"),
        ),
        (
            "/spec/template/spec/containers/0/image",
            "nginx:1.27",
            "nginx:1.28",
            PatchOp("replace", "/spec/template/spec/containers/0/image", "nginx:1.28"),
        ),
        # absent on the hub: labels and annotations are strings even when they look like numbers
        ("/metadata/labels/tier", None, "5", PatchOp("add", "/metadata/labels/tier", "5")),
        ("/metadata/annotations/note", None, "hot", PatchOp("add", "/metadata/annotations", {"note": "hot"})),
        ("/spec/minReadySeconds", None, "10", PatchOp("add", "/spec/minReadySeconds", 10)),
        (
            "/spec/strategy/rollingUpdate/maxSurge",
            None,
            "25%",
            PatchOp("add", "/spec/strategy/rollingUpdate", {"maxSurge": "25%"}),
        ),
        # absent on the member: removed
        ("/metadata/labels/app", "frontend", None, PatchOp("remove", "/metadata/labels/app")),
    ],
    ids=[
        "int",
        "bool",
        "float",
        "string",
        "list-item",
        "label-looks-numeric",
        "missing-parent",
        "new-int",
        "new-nested",
        "removed",
    ],
)
def test_patch_op_types_the_member_value_like_the_hub_value(
    path: str, hub: str | None, member: str | None, expected: PatchOp
) -> None:
    assert patch_op(PatchDetail(path, hub, member), HUB) == expected


@pytest.mark.parametrize(
    ("path", "member", "message"),
    [
        ("/spec/replicas", "five", "the hub's value is an integer"),
        ("/spec/paused", "yes", "the hub's value is a boolean"),
        ("/spec/strategy", "map[type:Recreate]", "map or list"),
        ("/spec/selector", "map[matchLabels:map[app:x]]", "map or list"),
        ("/spec/template/spec/containers/1/image", "x", "invent list items"),
        ("/spec/template/spec/volumes/0/name", "x", "invent list items"),
        ("/metadata/labels/x", "${MEMBER-CLUSTER-NAME}", "override variable"),
    ],
    ids=["not-an-int", "not-a-bool", "map", "new-map", "index", "new-list", "variable"],
)
def test_patch_op_refuses_values_it_cannot_type_faithfully(path: str, member: str, message: str) -> None:
    with pytest.raises(AdoptionRefused, match=message):
        patch_op(PatchDetail(path, None, member), HUB)


@pytest.mark.parametrize(
    ("group", "kind", "path", "message"),
    [
        ("", "Secret", "/data/password", "Secret values are redacted"),
        ("", "Secret", "/stringData/token", "Secret values are redacted"),
        ("apps", "Deployment", "/status/replicas", "cannot override status fields"),
        (
            "apps",
            "Deployment",
            "/metadata/namespace",
            "cannot override metadata fields except annotations and labels",
        ),
        ("apps", "Deployment", "/kind", "cannot override typeMeta fields"),
        ("apps", "Deployment", "/apiVersion", "cannot override typeMeta fields"),
    ],
)
def test_check_path_refuses_secret_data_and_paths_an_override_may_not_touch(
    group: str, kind: str, path: str, message: str
) -> None:
    with pytest.raises(AdoptionRefused, match=message):
        check_path(group, kind, PatchDetail(path, "a", "b"))


def test_check_path_allows_secret_labels_and_workload_fields() -> None:
    check_path("", "Secret", PatchDetail("/metadata/labels/team", "a", "b"))
    check_path("apps", "Deployment", PatchDetail("/metadata/annotations/x", "a", "b"))
