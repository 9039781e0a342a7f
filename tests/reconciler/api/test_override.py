"""Parsing ClusterResourceOverride / ResourceOverride and the envelopes with KubeFleet's webhook rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.api.envelope import Envelope
from reconciler.api.override import (
    Override,
    OverrideType,
    PlacementScope,
    check_override_conflicts,
    check_patch_path,
    placement_ref_change,
)
from tests.support.apifixtures import parse_one

EXAMPLES = Path("/work/shared/kubefleet-examples")


def parse(text: str) -> tuple[Any, list[str]]:
    model, findings = parse_one(text, "o.yaml")
    return model, [f"{f.field}: {f.message}" for f in findings if f.severity == "error"]


def warnings_of(text: str) -> list[str]:
    return [f.message for f in parse_one(text, "o.yaml")[1] if f.severity == "warning"]


CRO = """\
apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourceOverride
metadata: {{name: cro}}
spec:
  clusterResourceSelectors:
  - {{group: "", version: v1, kind: Namespace, name: web}}
  policy:
    overrideRules:
    - {rule}
"""

RO = """\
apiVersion: placement.kubernetes-fleet.io/v1alpha1
kind: ResourceOverride
metadata: {{name: ro, namespace: web}}
spec:
  {placement}
  resourceSelectors: {selectors}
  policy:
    overrideRules:
    - clusterSelector: {{}}
      jsonPatchOverrides: [{{op: add, path: /metadata/labels/x, value: "y"}}]
"""


def cro_rule(rule: str) -> tuple[Any, list[str]]:
    return parse(CRO.format(rule=rule))


def test_a_valid_cro_parses_into_the_model() -> None:
    model, errors = cro_rule(
        "{clusterSelector: {clusterSelectorTerms: [{labelSelector: {matchLabels: {env: prod}}}]}, "
        "jsonPatchOverrides: [{op: replace, path: /spec/replicas, value: 3}]}"
    )
    assert errors == []
    assert isinstance(model, Override)
    [rule] = model.rules
    assert rule.override_type == OverrideType.JSON_PATCH
    assert rule.cluster_terms is not None and rule.matches({"env": "prod"}) and not rule.matches({})
    assert rule.patches[0].to_dict() == {"op": "replace", "path": "/spec/replicas", "value": 3}


@pytest.mark.parametrize(
    ("rule", "terms"),
    [
        ("{jsonPatchOverrides: [{op: remove, path: /spec/x}]}", None),
        ("{clusterSelector: {}, jsonPatchOverrides: [{op: remove, path: /spec/x}]}", ()),
        (
            "{clusterSelector: {clusterSelectorTerms: []}, jsonPatchOverrides: [{op: remove, path: /spec/x}]}",
            (),
        ),
    ],
    ids=["absent-is-none", "empty-object-is-all", "empty-terms-is-all"],
)
def test_cluster_selector_absent_and_empty_are_kept_apart(rule: str, terms: tuple[()] | None) -> None:
    model, errors = cro_rule(rule)
    assert errors == []
    assert model.rules[0].cluster_terms == terms


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "{clusterSelector: {}, overrideType: Delete, jsonPatchOverrides: [{op: remove, path: /spec/x}]}",
            "invalid JSONPatchOverrides: JSONPatchOverrides cannot be set when the override type is Delete",
        ),
        ("{clusterSelector: {}}", "invalid JSONPatchOverrides: JSONPatchOverrides cannot be empty"),
        (
            "{clusterSelector: {}, jsonPatchOverrides: []}",
            "invalid JSONPatchOverrides: JSONPatchOverrides cannot be empty",
        ),
        (
            "{clusterSelector: {}, jsonPatchOverrides: ["
            + ", ".join(["{op: remove, path: /spec/x}"] * 21)
            + "]}",
            "at most 20",
        ),
        (
            "{clusterSelector: {}, jsonPatchOverrides: [{op: move, path: /spec/x}]}",
            "unsupported value 'move'",
        ),
        (
            "{clusterSelector: {}, jsonPatchOverrides: [{op: remove, path: /spec/x, value: 1}]}",
            "remove operation cannot have value",
        ),
        ("{clusterSelector: {}, overrideType: Replace}", "unsupported value 'Replace'"),
        (
            "{clusterSelector: {clusterSelectorTerms: [{propertySelector: {matchExpressions: []}}]}, "
            "jsonPatchOverrides: [{op: remove, path: /spec/x}]}",
            "invalid clusterSelector: only labelSelector is supported",
        ),
        (
            "{clusterSelector: {clusterSelectorTerms: [{}]}, jsonPatchOverrides: [{op: remove, path: /spec/x}]}",
            "invalid clusterSelector: labelSelector is required",
        ),
    ],
    ids=[
        "delete-with-patches",
        "jsonpatch-without-patches",
        "jsonpatch-empty",
        "too-many-patches",
        "bad-op",
        "remove-with-value",
        "bad-type",
        "property-selector",
        "term-without-label-selector",
    ],
)
def test_rule_validation_follows_the_kubefleet_webhook(rule: str, message: str) -> None:
    _, errors = cro_rule(rule)
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("", "path cannot be empty"),
        ("spec/replicas", "path must start with /"),
        ("/spec//replicas", "path cannot contain empty string"),
        ("/spec/", "path cannot contain empty string"),
        ("/spec/ ", "path cannot contain empty string"),
        ("/spec/ /replicas", "path cannot contain empty string"),
        ("/", "path cannot contain empty string"),
        ("/////kind///", "path cannot contain empty string"),
        ("/kind", "cannot override typeMeta fields"),
        ("/apiVersion", "cannot override typeMeta fields"),
        ("/metadata", "cannot override field metadata"),
        ("/metadata/name", "cannot override metadata fields except annotations and labels"),
        ("/metadata/namespace", "cannot override metadata fields except annotations and labels"),
        ("/metadata/", "cannot override metadata fields except annotations and labels"),
        ("/status/phase", "cannot override status fields"),
        ("/status", "cannot override status fields"),
        ("/metadata/labels/app", None),
        ("/metadata/annotations", None),
        ("/spec/template/spec/containers/0/image", None),
    ],
)
def test_patch_paths_follow_the_kubefleet_webhook(path: str, why: str | None) -> None:
    got = check_patch_path(path)
    assert (got is None) if why is None else (got is not None and why in got), got


@pytest.mark.parametrize(
    ("selectors", "message"),
    [
        (
            "[{group: apps, version: v1, kind: Deployment}]",
            "resource name is required for resource selection",
        ),
        ("[]", "at least 1"),
        (
            "["
            + ", ".join(f"{{group: '', version: v1, kind: ConfigMap, name: c{i}}}" for i in range(21))
            + "]",
            "at most 20",
        ),
        (
            "[{group: '', version: v1, kind: ConfigMap, name: c}, {group: '', version: v1, kind: ConfigMap, name: c}]",
            "already exists, and must be unique",
        ),
    ],
    ids=["name-required", "at-least-one", "at-most-twenty", "duplicates"],
)
def test_selector_validation(selectors: str, message: str) -> None:
    _, errors = parse(RO.format(placement="", selectors=selectors))
    assert any(message in e for e in errors), errors


def test_a_ro_selecting_a_cluster_scoped_kind_is_warned_about_as_never_matching() -> None:
    text = RO.format(placement="", selectors="[{group: '', version: v1, kind: Namespace, name: web}]")
    assert any("never matches" in w for w in warnings_of(text))
    assert parse(text)[1] == [], "accepted, as KubeFleet accepts it"


def test_cro_selectors_refuse_label_selectors() -> None:
    text = CRO.format(
        rule="{clusterSelector: {}, jsonPatchOverrides: [{op: remove, path: /spec/x}]}"
    ).replace("name: web}", "labelSelector: {matchLabels: {a: b}}}")
    _, errors = parse(text)
    assert any("label selector is not supported for resource selection" in e for e in errors), errors
    assert any("resource name is required for resource selection" in e for e in errors), errors


@pytest.mark.parametrize(
    ("kind", "placement", "scope", "error"),
    [
        ("ResourceOverride", "placement: {name: app, scope: Namespaced}", PlacementScope.NAMESPACED, None),
        ("ResourceOverride", "placement: {name: web}", PlacementScope.CLUSTER, None),
        (
            "ClusterResourceOverride",
            "placement: {name: app, scope: Namespaced}",
            PlacementScope.NAMESPACED,
            "can only reference a ClusterResourcePlacement",
        ),
    ],
)
def test_placement_reference_scope_rules(
    kind: str, placement: str, scope: PlacementScope, error: str | None
) -> None:
    text = RO.format(placement=placement, selectors="[{group: '', version: v1, kind: ConfigMap, name: c}]")
    if kind == "ClusterResourceOverride":
        text = (
            text.replace("kind: ResourceOverride", "kind: ClusterResourceOverride")
            .replace(", namespace: web", "")
            .replace("  resourceSelectors:", "  clusterResourceSelectors:")
            .replace("kind: ConfigMap, name: c", "kind: Namespace, name: c")
        )
    model, errors = parse(text)
    assert model.placement.scope == scope
    assert (errors == []) if error is None else any(error in e for e in errors), errors


def test_a_changed_placement_reference_is_refused_as_immutable() -> None:
    sel = "[{group: '', version: v1, kind: ConfigMap, name: c}]"
    old, _ = parse(RO.format(placement="placement: {name: a}", selectors=sel))
    new, _ = parse(RO.format(placement="placement: {name: b}", selectors=sel))
    unset, _ = parse(RO.format(placement="", selectors=sel))
    assert placement_ref_change(old, old) is None
    assert "immutable" in (placement_ref_change(old, new) or "")
    assert "immutable" in (placement_ref_change(unset, old) or "")


def test_one_resource_selected_by_two_overrides_of_a_kind_is_reported_on_the_later_one() -> None:
    sel = "[{group: '', version: v1, kind: ConfigMap, name: c}]"
    a, _ = parse(RO.format(placement="", selectors=sel).replace("name: ro,", "name: a,"))
    b, _ = parse(RO.format(placement="", selectors=sel).replace("name: ro,", "name: b,"))
    other_ns, _ = parse(RO.format(placement="", selectors=sel).replace("namespace: web", "namespace: api"))
    [finding] = check_override_conflicts([], [b, a, other_ns])
    assert "the resource has been selected by both b and a, which is not supported" in finding.message
    assert finding.object == "ResourceOverride/web/b"
    assert check_override_conflicts([], [a, other_ns]) == []


@pytest.mark.parametrize(
    "path", sorted((EXAMPLES / "fleet").glob("*Override.yaml")), ids=lambda p: p.name[:60]
)
def test_every_upstream_override_example_parses_cleanly(path: Path) -> None:
    model, errors = parse(path.read_text())
    assert errors == []
    assert isinstance(model, Override) and model.rules


# -- envelopes -----------------------------------------------------------------------------------
ENV = """\
apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: {kind}
metadata: {{name: e{ns}}}
data:
{data}
"""


@pytest.mark.parametrize(
    ("kind", "ns", "data", "message"),
    [
        (
            "ResourceEnvelope",
            ", namespace: app",
            "  a: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}",
            None,
        ),
        (
            "ResourceEnvelope",
            ", namespace: app",
            "  a: {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: other}}",
            "its own namespace",
        ),
        (
            "ResourceEnvelope",
            ", namespace: app",
            "  a: {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: r}}",
            "cluster-scoped",
        ),
        (
            "ClusterResourceEnvelope",
            "",
            "  a: {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: app}}",
            "wraps cluster-scoped",
        ),
        ("ClusterResourceEnvelope", "", "  a: [1, 2]", "must be a Kubernetes object"),
        (
            "ClusterResourceEnvelope",
            "",
            "  a: {kind: ClusterRole, metadata: {name: r}}",
            "needs apiVersion and kind",
        ),
        (
            "ClusterResourceEnvelope",
            "",
            "  a: {apiVersion: v1, kind: Namespace, metadata: {}}",
            "metadata.name",
        ),
        ("ClusterResourceEnvelope", "", "  {}", "1 to 50 entries"),
        (
            "ClusterResourceEnvelope",
            "",
            "\n".join(
                f"  k{i}: {{apiVersion: v1, kind: Namespace, metadata: {{name: n{i}}}}}" for i in range(51)
            ),
            "1 to 50 entries",
        ),
    ],
    ids=[
        "ok",
        "other-namespace",
        "cluster-kind-in-resource-envelope",
        "namespaced-in-cluster-envelope",
        "not-an-object",
        "no-api-version",
        "no-name",
        "empty",
        "too-many",
    ],
)
def test_envelope_validation(kind: str, ns: str, data: str, message: str | None) -> None:
    text = ENV.format(kind=kind, ns=ns, data=data)
    if data.strip() == "{}":
        text = text.replace("data:\n  {}", "data: {}")
    model, errors = parse(text)
    if message is None:
        assert errors == [] and isinstance(model, Envelope) and len(model.manifests) == 1
    else:
        assert any(message in e for e in errors), errors


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*/*Envelope*.yaml")), ids=lambda p: p.name[:60])
def test_every_upstream_envelope_example_parses_or_is_refused_only_for_its_version(path: Path) -> None:
    """v1beta1 examples parse; the old v1alpha1 ones (spec.manifests) are refused for their version
    alone (KubeFleet serves envelopes as v1beta1 only): their content is still read and valid."""
    text = path.read_text()
    model, errors = parse(text)
    if "placement.kubernetes-fleet.io/v1alpha1" in text:
        assert model is None
        assert len(errors) == 1 and errors[0].startswith("apiVersion: no matches for kind"), errors
        return
    assert errors == []
    assert isinstance(model, Envelope) and model.manifests


def test_an_override_selecting_a_kind_in_the_wrong_case_is_warned_it_never_matches() -> None:
    text = RO.format(placement="", selectors="[{group: apps, version: v1, kind: deployment, name: web}]")
    assert parse(text)[1] == [], "accepted, as KubeFleet's override webhook does not map kinds"
    [warning] = warnings_of(text)
    assert 'no matches for kind "deployment" in version "apps/v1"' in warning
    assert "never matches" in warning and "did you mean Deployment?" in warning
