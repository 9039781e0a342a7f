"""compare.py's two doors for ``fleetsync diff``: ``hub_side`` (the side ``compare`` holds the live
object against) and ``overlay`` (the dry run's stand-in without a server)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from agent.apply.compare import FULL, PARTIAL, compare, hub_side, overlay
from agent.errors import Forbidden, Invalid

MANIFEST = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "hub"}}


def refuse_invalid(_m: dict[str, Any]) -> dict[str, Any]:
    raise Invalid("spec.selector: field is immutable", status=422)


def test_hub_side_is_the_manifest_for_a_full_comparison_without_asking_the_server() -> None:
    def never(_m: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("no dry run for FullComparison")

    assert hub_side(MANIFEST, FULL, never) == (MANIFEST, False)


def test_hub_side_is_the_dry_run_for_a_partial_comparison_and_the_manifest_when_it_is_invalid() -> None:
    answer = {**MANIFEST, "data": {"k": "hub", "extra": "server"}}

    assert hub_side(MANIFEST, PARTIAL, lambda _m: answer) == (answer, False)
    assert hub_side(MANIFEST, PARTIAL, refuse_invalid) == (MANIFEST, True)


def test_hub_side_lets_any_other_server_error_through() -> None:
    def forbidden(_m: dict[str, Any]) -> dict[str, Any]:
        raise Forbidden("no", status=403)

    with pytest.raises(Forbidden):
        hub_side(MANIFEST, PARTIAL, forbidden)


def test_compare_still_holds_the_live_object_against_hub_side() -> None:
    live = {**MANIFEST, "data": {"k": "member"}}

    found = compare(MANIFEST, live, PARTIAL, refuse_invalid)

    assert found.degraded
    assert [(d.path, d.value_in_hub, d.value_in_member) for d in found.details] == [
        ("/data/k", "hub", "member")
    ]


@pytest.mark.parametrize(
    ("live", "body", "merged"),
    [
        ({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 5}}, {"a": 1, "b": {"c": 5, "d": 3}}),
        (  # equal length: element by element, defaulted fields kept
            {"cs": [{"name": "web", "image": "a", "imagePullPolicy": "IfNotPresent"}]},
            {"cs": [{"name": "web", "image": "b"}]},
            {"cs": [{"name": "web", "image": "b", "imagePullPolicy": "IfNotPresent"}]},
        ),
        ({"cs": [{"name": "a"}, {"name": "b"}]}, {"cs": [{"name": "a"}]}, {"cs": [{"name": "a"}]}),
        ({"x": {"y": 1}}, {"x": "scalar"}, {"x": "scalar"}),
        (None, {"new": {"a": 1}}, {"new": {"a": 1}}),
    ],
)
def test_overlay_merges_maps_by_key_and_lists_of_equal_length_by_index(
    live: Any, body: dict[str, Any], merged: dict[str, Any]
) -> None:
    assert overlay(live, body) == merged


def test_overlay_folds_a_secrets_string_data_into_data_as_the_server_stores_it() -> None:
    live = {"apiVersion": "v1", "kind": "Secret", "data": {"a": "b2xk", "keep": "a2VlcA=="}}
    body = {"apiVersion": "v1", "kind": "Secret", "stringData": {"a": "new"}}

    merged = overlay(live, body)

    assert merged["data"] == {"a": base64.b64encode(b"new").decode(), "keep": "a2VlcA=="}
    assert "stringData" not in merged


def test_overlay_leaves_its_inputs_alone() -> None:
    live = {"a": {"b": [1, 2]}}
    body = {"a": {"b": [3, 4]}}

    overlay(live, body)

    assert live == {"a": {"b": [1, 2]}} and body == {"a": {"b": [3, 4]}}
