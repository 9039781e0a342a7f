"""The one content hash of plain data keeps every value already persisted.

Resource snapshot hashes (``fleet/status``) and the agent's spec-hash annotation (on member
objects) were each computed by a hand-written ``json.dumps`` expression; both now call
``json_sha256``. A changed value would make every placement a new snapshot and every member
object look changed, so the old expressions are kept here and compared on realistic data.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from agent.apply.takeover import spec_hash
from fleetsync_contract.canonical import canonical_json, json_sha256
from reconciler.hub.select import SelectedObject, resource_hash


def _old_resource_hash(manifests: list[dict[str, Any]]) -> str:  # reconciler/hub/select.py before
    text = json.dumps(manifests, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _old_spec_hash(manifest: dict[str, Any]) -> str:  # agent/apply/takeover.py before
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "frontend"}},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80}],
                        "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}},
                        "env": [{"name": "RATIO", "value": "0.5"}, {"name": "DEBUG", "value": None}],
                    }
                ],
                "terminationGracePeriodSeconds": 30.5,
                "hostNetwork": False,
            },
        },
    },
}
CONFIGMAP: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": "greetings",
        "namespace": "shop",
        "annotations": {"note": 'déjà vu \u2028 "quoted"'},
    },
    "data": {"de": "Grüße", "ja": "こんにちは", "emoji": "🚀", "multi": "a\nb\tc\\d", "empty": ""},
}
NAMESPACE: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


@pytest.mark.parametrize("manifests", [[], [NAMESPACE], [NAMESPACE, CONFIGMAP, DEPLOYMENT]])
def test_a_resource_snapshot_hash_is_unchanged(manifests: list[dict[str, Any]]) -> None:
    objects = [SelectedObject("", "v1", m["kind"], "shop", m["metadata"]["name"], m) for m in manifests]
    assert resource_hash(objects) == _old_resource_hash(manifests)


@pytest.mark.parametrize("manifest", [NAMESPACE, CONFIGMAP, DEPLOYMENT])
def test_a_spec_hash_annotation_is_unchanged(manifest: dict[str, Any]) -> None:
    assert spec_hash(manifest) == _old_spec_hash(manifest)


def test_the_canonical_json_text_is_pinned() -> None:
    # A golden value: the persisted hashes depend on this exact text.
    doc = {"b": [1, 2.5, None, True], "a": {"é": "🚀"}}
    assert canonical_json(doc) == '{"a":{"é":"🚀"},"b":[1,2.5,null,true]}'
    assert json_sha256(doc) == hashlib.sha256(canonical_json(doc).encode()).hexdigest()
    namespace = SelectedObject("", "v1", "Namespace", "", "shop", NAMESPACE)
    assert resource_hash([namespace]) == "1e5f03aae865836cbfd3df589608ee0438d505cd51f671461e665fcdb97127c8"


def test_a_value_json_cannot_hold_is_refused_not_guessed() -> None:
    with pytest.raises(TypeError):
        json_sha256({"when": object()})
