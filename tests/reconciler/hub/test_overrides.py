"""Overrides per (object, cluster) as KubeFleet's applyOverrides, and envelopes unwrapped per cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.api.meta import LabelSelector, ObjectMeta, Origin
from reconciler.api.override import (
    CRO_KIND,
    RO_KIND,
    JsonPatch,
    Override,
    OverrideRule,
    OverrideSelector,
    OverrideType,
    PatchOp,
    PlacementRef,
    PlacementScope,
)
from reconciler.api.placement import Placement, ResourceSelector
from reconciler.api.registry import parse_fleet_object
from reconciler.errors import Findings
from reconciler.hub.overrides import apply_prepared, prepare_overrides, substitute
from reconciler.hub.select import SelectedObject
from reconciler.load.yamldoc import parse_documents

ORIGIN = Origin("fleet.yaml", 1)
EXAMPLES = Path("/work/shared/kubefleet-examples/fleet")
ALL: tuple[LabelSelector, ...] = ()


def obj(api_version: str, kind: str, name: str, namespace: str = "", **extra: Any) -> SelectedObject:
    group, _, version = api_version.rpartition("/")
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    meta.update(extra.pop("metadata", {}))
    return SelectedObject(
        group,
        version,
        kind,
        namespace,
        name,
        {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra},
    )


def placement(kind: str = "ClusterResourcePlacement", name: str = "web", namespace: str = "") -> Placement:
    return Placement(
        kind,
        "placement.kubernetes-fleet.io/v1beta1",
        ObjectMeta(name, namespace),
        ORIGIN,
        (ResourceSelector("", "v1", "Namespace", "web"),),
    )


def patch(path: str, value: Any = None, op: PatchOp = PatchOp.REPLACE) -> JsonPatch:
    return JsonPatch(op, path, value)


def rule(*patches: JsonPatch, terms: tuple[LabelSelector, ...] | None = ALL) -> OverrideRule:
    return OverrideRule(terms, OverrideType.JSON_PATCH, patches)


def delete(terms: tuple[LabelSelector, ...] | None = ALL) -> OverrideRule:
    return OverrideRule(terms, OverrideType.DELETE)


def cro(
    name: str, selector: OverrideSelector, *rules: OverrideRule, ref: PlacementRef | None = None
) -> Override:
    return Override(
        CRO_KIND, "placement.kubernetes-fleet.io/v1beta1", ObjectMeta(name), ORIGIN, (selector,), rules, ref
    )


def ro(
    name: str,
    namespace: str,
    selector: OverrideSelector,
    *rules: OverrideRule,
    ref: PlacementRef | None = None,
) -> Override:
    return Override(
        RO_KIND,
        "placement.kubernetes-fleet.io/v1beta1",
        ObjectMeta(name, namespace),
        ORIGIN,
        (selector,),
        rules,
        ref,
    )


NS = obj("v1", "Namespace", "web")
DEPLOY = obj("apps/v1", "Deployment", "frontend", "web", spec={"replicas": 1})
ROLE = obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader", metadata={"labels": {"a": "b"}})
OBJECTS = [NS, ROLE, DEPLOY]
WEB_NS = OverrideSelector("", "v1", "Namespace", "web")
DEPLOY_SEL = OverrideSelector("apps", "v1", "Deployment", "frontend")
ROLE_SEL = OverrideSelector("rbac.authorization.k8s.io", "v1", "ClusterRole", "reader")


def by_id(result: Any) -> dict[str, Any]:
    return {o.identity: o.manifest for o in result.objects}


@pytest.mark.parametrize(
    ("terms", "labels", "patched"),
    [
        (None, {"env": "prod"}, False),
        ((), {"env": "prod"}, True),
        ((), {}, True),
        ((LabelSelector({"env": "prod"}),), {"env": "prod"}, True),
        ((LabelSelector({"env": "prod"}),), {"env": "dev"}, False),
        ((LabelSelector({"env": "prod"}), LabelSelector({"tier": "1"})), {"tier": "1"}, True),
        ((LabelSelector(),), {"env": "dev"}, True),
    ],
    ids=[
        "nil-selects-no-cluster",
        "empty-selects-all",
        "empty-selects-unlabelled",
        "term-matches",
        "term-does-not-match",
        "terms-are-ored",
        "empty-label-selector-matches-all",
    ],
)
def test_cluster_selector_nil_selects_none_and_empty_selects_all(
    terms: tuple[LabelSelector, ...] | None, labels: dict[str, str], patched: bool
) -> None:
    o = ro("scale", "web", DEPLOY_SEL, rule(patch("/spec/replicas", 5), terms=terms))
    result = apply_prepared(prepare_overrides(OBJECTS, [], [o], placement()), "c1", labels)
    assert by_id(result)[DEPLOY.identity]["spec"]["replicas"] == (5 if patched else 1)
    assert result.applicable_ros == ((("web", "scale"),) if patched else ())
    assert result.reason == ("OverriddenSucceeded" if patched else "NoOverrideSpecified")


def test_rules_apply_in_order_and_the_last_writer_wins() -> None:
    o = ro("scale", "web", DEPLOY_SEL, rule(patch("/spec/replicas", 2)), rule(patch("/spec/replicas", 3)))
    result = apply_prepared(prepare_overrides(OBJECTS, [], [o], placement()), "c1", {})
    assert by_id(result)[DEPLOY.identity]["spec"]["replicas"] == 3


def test_cros_run_in_name_order_then_ros_so_the_ro_wins() -> None:
    cros = [
        cro("b", WEB_NS, rule(patch("/spec/replicas", 2))),
        cro("a", WEB_NS, rule(patch("/spec/replicas", 9))),
    ]
    ros = [ro("r", "web", DEPLOY_SEL, rule(patch("/spec/replicas", 4)))]
    objects = [DEPLOY]  # the Namespace has no /spec/replicas: patching it would fail (as in KubeFleet)
    result = apply_prepared(prepare_overrides(objects, cros, ros, placement()), "c1", {})
    assert by_id(result)[DEPLOY.identity]["spec"]["replicas"] == 4
    result = apply_prepared(prepare_overrides(objects, cros, [], placement()), "c1", {})
    assert by_id(result)[DEPLOY.identity]["spec"]["replicas"] == 2, "cro b runs after cro a"
    assert result.applicable_cros == ("a", "b")


def test_a_namespace_cro_reaches_the_namespace_and_everything_in_it() -> None:
    o = cro("label", WEB_NS, rule(patch("/metadata/labels", {"x": "y"}, PatchOp.ADD)))
    got = by_id(apply_prepared(prepare_overrides(OBJECTS, [o], [], placement()), "c1", {}))
    assert got[NS.identity]["metadata"]["labels"] == {"x": "y"}
    assert got[DEPLOY.identity]["metadata"]["labels"] == {"x": "y"}
    assert got[ROLE.identity]["metadata"]["labels"] == {"a": "b"}


def test_a_cro_selects_by_exact_group_version_kind_and_name() -> None:
    wrong_version = OverrideSelector("rbac.authorization.k8s.io", "v1beta1", "ClusterRole", "reader")
    o = cro("x", wrong_version, rule(patch("/metadata/labels/a", "z")))
    result = apply_prepared(prepare_overrides(OBJECTS, [o], [], placement()), "c1", {})
    assert by_id(result)[ROLE.identity]["metadata"]["labels"] == {"a": "b"}


@pytest.mark.parametrize("where", ["cro", "ro"])
def test_delete_removes_the_object_for_matching_clusters_only(where: str) -> None:
    only_dev = (LabelSelector({"env": "dev"}),)
    cros = [cro("drop", WEB_NS, delete(only_dev))] if where == "cro" else []
    ros = [ro("drop", "web", DEPLOY_SEL, delete(only_dev))] if where == "ro" else []
    prepared = prepare_overrides(OBJECTS, cros, ros, placement())
    dev = apply_prepared(prepared, "dev", {"env": "dev"})
    prod = apply_prepared(prepared, "prod", {"env": "prod"})
    assert DEPLOY.identity not in by_id(dev) and DEPLOY.identity in dev.deleted
    assert (NS.identity in dev.deleted) is (where == "cro"), "a namespace CRO also reaches the Namespace"
    assert DEPLOY.identity in by_id(prod) and prod.deleted == ()


def test_a_cro_delete_wins_over_a_later_ro_patch() -> None:
    prepared = prepare_overrides(
        OBJECTS,
        [cro("drop", WEB_NS, delete())],
        [ro("scale", "web", DEPLOY_SEL, rule(patch("/spec/replicas", 5)))],
        placement(),
    )
    result = apply_prepared(prepared, "c1", {})
    assert DEPLOY.identity not in by_id(result)
    assert result.ok


@pytest.mark.parametrize(
    ("value", "labels", "expected"),
    [
        ("${MEMBER-CLUSTER-NAME}", {}, "prod-eu-1"),
        ("cluster-${MEMBER-CLUSTER-NAME}-x", {}, "cluster-prod-eu-1-x"),
        ("${MEMBER-CLUSTER-LABEL-KEY-region}", {"region": "eu"}, "eu"),
        ("${MEMBER-CLUSTER-LABEL-KEY-region}/${MEMBER-CLUSTER-LABEL-KEY-region}", {"region": "eu"}, "eu/eu"),
        (
            {"n": "${MEMBER-CLUSTER-NAME}", "r": "${MEMBER-CLUSTER-LABEL-KEY-a/b}"},
            {"a/b": "v"},
            {"n": "prod-eu-1", "r": "v"},
        ),
        ("${member-cluster-name}", {}, "${member-cluster-name}"),
    ],
    ids=["name", "embedded", "label", "repeated", "inside-objects", "case-sensitive"],
)
def test_member_cluster_variables_are_substituted_in_values(
    value: Any, labels: dict[str, str], expected: Any
) -> None:
    o = ro("v", "web", DEPLOY_SEL, rule(patch("/metadata/annotations", value, PatchOp.ADD)))
    result = apply_prepared(prepare_overrides(OBJECTS, [], [o], placement()), "prod-eu-1", labels)
    assert result.ok, result.error
    assert by_id(result)[DEPLOY.identity]["metadata"]["annotations"] == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${MEMBER-CLUSTER-LABEL-KEY-region}", "label key region not found on cluster c1"),
        ("${MEMBER-CLUSTER-LABEL-KEY-region", "is missing the closing bracket `}`"),
    ],
)
def test_variable_errors_fail_that_cluster(value: str, message: str) -> None:
    o = ro("v", "web", DEPLOY_SEL, rule(patch("/metadata/annotations", value, PatchOp.ADD)))
    result = apply_prepared(prepare_overrides(OBJECTS, [], [o], placement()), "c1", {})
    assert result.reason == "OverriddenFailed"
    assert message in result.error
    assert result.objects == ()


def test_substitute_leaves_text_without_variables_alone() -> None:
    assert substitute("plain ${OTHER}", "c", {}) == "plain ${OTHER}"


def test_a_failing_patch_fails_only_the_clusters_it_matches_and_names_override_rule_and_path() -> None:
    o = ro(
        "bad", "web", DEPLOY_SEL, rule(patch("/spec/missing/deep", 1), terms=(LabelSelector({"env": "dev"}),))
    )
    prepared = prepare_overrides(OBJECTS, [], [o], placement())
    dev = apply_prepared(prepared, "dev", {"env": "dev"})
    prod = apply_prepared(prepared, "prod", {"env": "prod"})
    assert not dev.ok and "ResourceOverride web/bad rule 0 path /spec/missing/deep" in dev.error
    assert prod.ok and len(prod.objects) == 3


@pytest.mark.parametrize(
    ("ref", "target", "applies"),
    [
        (None, placement(), True),
        (None, placement("ResourcePlacement", "app", "web"), True),
        (PlacementRef("web"), placement(), True),
        (PlacementRef("other"), placement(), False),
        (PlacementRef("web", PlacementScope.NAMESPACED), placement(), False),
        (PlacementRef("app", PlacementScope.NAMESPACED), placement("ResourcePlacement", "app", "web"), True),
        (
            PlacementRef("app", PlacementScope.NAMESPACED),
            placement("ResourcePlacement", "app", "other"),
            False,
        ),
    ],
    ids=[
        "global-crp",
        "global-rp",
        "scoped-to-this-crp",
        "scoped-to-another",
        "namespaced-scope-not-a-crp",
        "scoped-to-this-rp",
        "rp-in-another-namespace",
    ],
)
def test_placement_scoped_overrides_serve_only_their_placement(
    ref: PlacementRef | None, target: Placement, applies: bool
) -> None:
    o = ro("scale", "web", DEPLOY_SEL, rule(patch("/spec/replicas", 5)), ref=ref)
    got = by_id(apply_prepared(prepare_overrides(OBJECTS, [], [o], target), "c1", {}))
    assert got[DEPLOY.identity]["spec"]["replicas"] == (5 if applies else 1)


def test_untouched_objects_share_one_manifest_across_clusters_and_inputs_are_not_mutated() -> None:
    o = ro("scale", "web", DEPLOY_SEL, rule(patch("/spec/replicas", 5)))
    prepared = prepare_overrides(OBJECTS, [], [o], placement())
    a, b = apply_prepared(prepared, "a", {}), apply_prepared(prepared, "b", {})
    assert by_id(a)[ROLE.identity] is by_id(b)[ROLE.identity]
    assert {o.identity: o.patched for o in a.objects} == {
        NS.identity: False,
        ROLE.identity: False,
        DEPLOY.identity: True,
    }
    assert DEPLOY.manifest["spec"] == {"replicas": 1}


ENVELOPE = obj(
    "placement.kubernetes-fleet.io/v1beta1",
    "ResourceEnvelope",
    "hooks",
    "web",
    data={
        "quota.yaml": {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "q"},
            "spec": {"hard": {"cpu": "1"}},
        },
        "pdb.yaml": {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "p", "namespace": "web"},
        },
    },
)


def test_envelopes_are_unwrapped_with_their_identity_and_reached_by_overrides() -> None:
    o = ro(
        "quota", "web", OverrideSelector("", "v1", "ResourceQuota", "q"), rule(patch("/spec/hard/cpu", "4"))
    )
    result = apply_prepared(prepare_overrides([NS, ENVELOPE], [], [o], placement()), "c1", {})
    got = {x.identity: x for x in result.objects}
    assert set(got) == {NS.identity, "/ResourceQuota/web/q", "policy/PodDisruptionBudget/web/p"}
    quota = got["/ResourceQuota/web/q"]
    assert quota.manifest["spec"]["hard"]["cpu"] == "4"
    assert quota.manifest["metadata"]["namespace"] == "web", "namespace defaults to the envelope's"
    assert quota.envelope is not None
    assert (quota.envelope.kind, quota.envelope.namespace, quota.envelope.name) == (
        "ResourceEnvelope",
        "web",
        "hooks",
    )


def _example(name: str, *, unserved: bool = False) -> Any:
    """The example parsed; ``unserved``: its only finding is that KubeFleet no longer serves its version."""
    [path] = EXAMPLES.glob(f"*{name}*")
    doc = parse_documents(path.read_text(), str(path))[0]
    group, _, version = doc.data["apiVersion"].rpartition("/")
    findings = Findings()
    model = parse_fleet_object(doc, group, version, doc.data["kind"], findings)
    if unserved:
        assert [f.field for f in findings.items] == ["apiVersion"], [str(f) for f in findings.items]
    else:
        assert not findings.items, [str(f) for f in findings.items]
    return model, doc.data


def test_the_upstream_region_label_cro_applies_to_every_cluster_with_its_region() -> None:
    o, _ = _example("website.concepts_override.L147")
    role = obj("rbac.authorization.k8s.io/v1", "ClusterRole", "secret-reader", metadata={"labels": {}})
    target = placement(name="crp-example")
    prepared = prepare_overrides([role], [o], [], target)
    eu = apply_prepared(prepared, "m1", {"region": "eu"})
    assert by_id(eu)[role.identity]["metadata"]["labels"] == {"cluster-region": "eu"}
    unlabelled = apply_prepared(prepared, "m2", {})
    assert "label key region not found on cluster m2" in unlabelled.error
    other = apply_prepared(
        prepare_overrides([role], [o], [], placement(name="other")), "m1", {"region": "eu"}
    )
    assert other.ok and by_id(other)[role.identity]["metadata"]["labels"] == {}, "scoped to crp-example"


def test_the_upstream_namespaced_envelope_unwraps_into_its_objects() -> None:
    _, body = _example("kubefleet.examples_envelopes_namespacescoped")
    env = SelectedObject(
        "placement.kubernetes-fleet.io", "v1beta1", "ResourceEnvelope", "app", "example", body
    )
    result = apply_prepared(prepare_overrides([env], [], [], placement()), "m1", {})
    assert sorted(o.identity for o in result.objects) == [
        "/ConfigMap/app/config",
        "apps/Deployment/app/ingress",
    ]
    assert all(o.envelope and o.envelope.name == "example" for o in result.objects)


def test_the_upstream_v1alpha1_cluster_envelope_unwraps_from_spec_manifests() -> None:
    # Refused at load since KubeFleet serves envelopes as v1beta1 only; the unwrapping still reads the shape.
    _, body = _example("azure-fleet@62f0d28b.examples_envelopes_clusterscoped", unserved=True)
    env = SelectedObject(
        "placement.kubernetes-fleet.io", "v1alpha1", "ClusterResourceEnvelope", "", "example", body
    )
    result = apply_prepared(prepare_overrides([env], [], [], placement()), "m1", {})
    assert sorted(o.identity for o in result.objects) == [
        "admissionregistration.k8s.io/ValidatingWebhookConfiguration//guard",
        "rbac.authorization.k8s.io/ClusterRole//pod-reader",
    ]
