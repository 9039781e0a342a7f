"""The non-apply patch types as pure functions (what kubectl's client-side apply and the agent send)."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim.patch import PatchError, json_patch, merge_patch, strategic_merge_patch

LIVE = {
    "spec": {
        "containers": [
            {"name": "app", "image": "1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "2"},
        ],
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
    }
}


@pytest.mark.parametrize(
    ("patch", "expected_containers"),
    [
        (
            {"spec": {"containers": [{"name": "app", "image": "9"}]}},
            [
                {"name": "app", "image": "9", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "2"},
            ],
        ),
        (
            {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}},
            [{"name": "app", "image": "1", "env": [{"name": "A", "value": "1"}]}],
        ),
        (
            {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}},
            [
                {
                    "name": "app",
                    "image": "1",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                },
                {"name": "side", "image": "2"},
            ],
        ),
        (
            {"spec": {"containers": [{"name": "new", "image": "3"}]}},
            [*LIVE["spec"]["containers"], {"name": "new", "image": "3"}],
        ),
    ],
)
def test_strategic_merge_patch_merges_containers_and_env_by_name(
    patch: dict[str, Any], expected_containers: list[Any]
) -> None:
    assert strategic_merge_patch(LIVE, patch)["spec"]["containers"] == expected_containers


def test_strategic_merge_patch_retain_keys_drops_the_other_union_members() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    assert strategic_merge_patch(LIVE, patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_json_merge_patch_replaces_lists_and_deletes_nulls() -> None:
    out = merge_patch(LIVE, {"spec": {"containers": [{"name": "only"}], "strategy": None}})
    assert out == {"spec": {"containers": [{"name": "only"}]}}


def test_json_patch_failures_raise() -> None:
    assert json_patch({"a": 1}, [{"op": "replace", "path": "/a", "value": 2}]) == {"a": 2}
    with pytest.raises(PatchError):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 7}])
    with pytest.raises(PatchError):
        json_patch({"a": 1}, [{"op": "replace", "path": "/b/c", "value": 1}])
