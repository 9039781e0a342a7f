"""The served-version table (reconciler/api/served.py) against KubeFleet's CRD version lists.

The lists are kept as test data (tests/data/kubefleet-crd-versions, copied from KubeFleet's
config/crd/bases); every decision about an apiVersion of a fleet kind reads the one table, and
an unserved version is reported together with the object's other errors, never instead of them.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api import registry
from reconciler.api.served import SERVED_VERSIONS, served_versions
from reconciler.load.yamldoc import parse_documents
from tests.support import DATA
from tests.support.apifixtures import parse_one

CRD_VERSIONS = DATA / "kubefleet-crd-versions" / "served-versions.yaml"


def _kubefleet() -> dict[tuple[str, str], tuple[str, ...]]:
    raw: dict[str, dict[str, list[str]]] = parse_documents(CRD_VERSIONS.read_text(), CRD_VERSIONS.name)[
        0
    ].data
    return {(g, k): tuple(sorted(vs)) for g, kinds in raw.items() for k, vs in kinds.items()}


def test_the_served_table_is_kubefleets_crd_version_lists() -> None:
    assert {gk: tuple(sorted(vs)) for gk, vs in SERVED_VERSIONS.items()} == _kubefleet()


def test_every_registered_fleet_kind_is_served_exactly_as_the_table_says() -> None:
    kinds = registry.all_kinds()
    assert {(k.group, k.kind) for k in kinds} == set(SERVED_VERSIONS)
    for k in kinds:
        assert k.versions == served_versions(k.group, k.kind), k.kind


def _errors(text: str) -> tuple[Any, list[str]]:
    model, findings = parse_one(text, "f.yaml")
    return model, [f"{f.field}: {f.message}" for f in findings if f.severity == "error"]


_OVERRIDE = """\
apiVersion: placement.kubernetes-fleet.io/{version}
kind: {kind}
metadata: {{name: o, namespace: web}}
spec:
  {selectors}:
  - {{group: apps, version: v1, kind: Deployment, name: web}}
{policy}"""
_POLICY = """\
  policy:
    overrideRules:
    - clusterSelector: {clusterSelectorTerms: []}
      jsonPatchOverrides:
      - {op: add, path: /metadata/labels/x, value: "y"}
"""


@pytest.mark.parametrize(
    ("kind", "selectors"),
    [("ResourceOverride", "resourceSelectors"), ("ClusterResourceOverride", "clusterResourceSelectors")],
)
@pytest.mark.parametrize("version", ["v1", "v1beta1", "v1alpha1"])
def test_overrides_are_served_at_v1_v1beta1_and_v1alpha1(kind: str, selectors: str, version: str) -> None:
    text = _OVERRIDE.format(version=version, kind=kind, selectors=selectors, policy=_POLICY)
    if kind == "ClusterResourceOverride":
        text = text.replace(", namespace: web", "")
    model, errors = _errors(text)
    assert errors == []
    assert model is not None and model.api_version == f"placement.kubernetes-fleet.io/{version}"


def test_a_v1_override_missing_its_policy_is_told_about_spec_policy_not_its_version() -> None:
    text = _OVERRIDE.format(version="v1", kind="ResourceOverride", selectors="resourceSelectors", policy="")
    model, errors = _errors(text)
    assert model is None or errors
    assert any("policy" in e for e in errors), errors
    assert not any(e.startswith("apiVersion:") for e in errors), errors


_EVICTION = """\
apiVersion: placement.kubernetes-fleet.io/{version}
kind: ClusterResourcePlacementEviction
metadata: {{name: evict-1}}
spec: {{placementName: web}}
"""


def test_an_unserved_version_is_reported_together_with_the_content_errors() -> None:
    model, errors = _errors(_EVICTION.format(version="v1"))
    assert model is None
    version_error = [e for e in errors if e.startswith("apiVersion:")]
    assert version_error, errors
    assert "placement.kubernetes-fleet.io/v1alpha1, placement.kubernetes-fleet.io/v1beta1" in version_error[0]
    assert any("clusterName" in e for e in errors), errors


@pytest.mark.parametrize(
    ("kind", "version"),
    [
        ("ClusterResourcePlacementEviction", "v1"),
        ("ClusterResourcePlacementDisruptionBudget", "v1"),
        ("ClusterResourceEnvelope", "v1alpha1"),
        ("ResourceEnvelope", "v1alpha1"),
        ("ResourceEnvelope", "v1"),
        ("ResourcePlacement", "v1alpha1"),
        ("StagedUpdateRun", "v1alpha1"),
        ("ApprovalRequest", "v1alpha1"),
    ],
)
def test_versions_kubefleet_does_not_serve_are_refused(kind: str, version: str) -> None:
    text = f"apiVersion: placement.kubernetes-fleet.io/{version}\nkind: {kind}\nmetadata: {{name: x, namespace: web}}\n"
    model, errors = _errors(text)
    assert model is None
    served = ", ".join(
        f"placement.kubernetes-fleet.io/{v}" for v in served_versions("placement.kubernetes-fleet.io", kind)
    )
    message = next(e for e in errors if e.startswith("apiVersion:"))
    assert f'no matches for kind "{kind}" in version "placement.kubernetes-fleet.io/{version}"' in message
    assert served in message


def test_a_v1alpha1_envelope_is_told_where_v1beta1_keeps_the_wrapped_objects() -> None:
    text = """\
apiVersion: placement.kubernetes-fleet.io/v1alpha1
kind: ResourceEnvelope
metadata: {name: e, namespace: web}
spec:
  manifests:
    cm.yaml:
      data: {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}}
"""
    _, errors = _errors(text)
    message = next(e for e in errors if e.startswith("apiVersion:"))
    assert "top-level data" in message


def test_a_membercluster_under_the_placement_group_is_told_it_belongs_to_the_cluster_group() -> None:
    text = "apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\nmetadata: {name: m1}\n"
    model, errors = _errors(text)
    assert model is None
    message = next(e for e in errors if e.startswith("kind:"))
    assert "cluster.kubernetes-fleet.io" in message
    assert "apiVersion cluster.kubernetes-fleet.io/v1beta1" in message


def test_a_placement_under_the_cluster_group_is_told_it_belongs_to_the_placement_group() -> None:
    text = "apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: ClusterResourcePlacement\nmetadata: {name: p}\n"
    _, errors = _errors(text)
    message = next(e for e in errors if e.startswith("kind:"))
    assert "belongs to placement.kubernetes-fleet.io" in message
