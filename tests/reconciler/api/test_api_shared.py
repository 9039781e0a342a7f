"""What every fleet object model shares: name/namespace from metadata, slotted frozen instances,
and the rule that a namespaced kind must set metadata.namespace."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.api.envelope import Envelope
from reconciler.api.eviction import DisruptionBudget, Eviction
from reconciler.api.membercluster import MemberCluster
from reconciler.api.meta import ObjectMeta, Origin
from reconciler.api.override import Override
from reconciler.api.placement import Placement
from reconciler.api.registry import parse_fleet_object
from reconciler.api.staged import ApprovalRequest, StagedUpdateRun, StagedUpdateStrategy
from reconciler.errors import Findings
from reconciler.load.yamldoc import parse_documents

META = ObjectMeta("web", "team-a")
AT = Origin("fleet/objects.yaml", 1)
V = "placement.kubernetes-fleet.io/v1beta1"

# One instance of every model that reads its name (and namespace) from ``meta``.
NAMESPACED_MODELS: list[Any] = [
    Placement("ResourcePlacement", V, META, AT, ()),
    Override("ResourceOverride", V, META, AT, (), ()),
    Envelope("ResourceEnvelope", V, META, AT, ()),
    StagedUpdateStrategy("StagedUpdateStrategy", V, META, AT),
    StagedUpdateRun("StagedUpdateRun", V, META, AT, "web", "canary"),
    ApprovalRequest("ApprovalRequest", V, META, AT, "run-1", "canary"),
]
CLUSTER_MODELS: list[Any] = [
    MemberCluster("cluster.kubernetes-fleet.io/v1beta1", ObjectMeta("member-1"), AT),
    Eviction(V, ObjectMeta("evict-1"), AT, "web", "member-1"),
    DisruptionBudget(V, ObjectMeta("web"), AT, min_available=1),
]
ALL_MODELS = NAMESPACED_MODELS + CLUSTER_MODELS


def _id(o: Any) -> str:
    return type(o).__name__


@pytest.mark.parametrize("o", ALL_MODELS, ids=_id)
def test_models_stay_slotted_and_frozen(o: Any) -> None:
    assert not hasattr(o, "__dict__")
    with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
        o.meta = ObjectMeta("other")
    with pytest.raises((AttributeError, TypeError)):
        o.not_a_field = 1


@pytest.mark.parametrize("o", NAMESPACED_MODELS, ids=_id)
def test_namespaced_models_read_name_and_namespace_from_meta(o: Any) -> None:
    assert (o.name, o.namespace) == ("web", "team-a")
    moved = dataclasses.replace(o, meta=ObjectMeta("api", "team-b"))
    assert (moved.name, moved.namespace) == ("api", "team-b")


@pytest.mark.parametrize("o", CLUSTER_MODELS, ids=_id)
def test_cluster_scoped_models_read_name_from_meta(o: Any) -> None:
    assert o.name == o.meta.name
    assert dataclasses.replace(o, meta=ObjectMeta("renamed")).name == "renamed"


@pytest.mark.parametrize("o", ALL_MODELS, ids=_id)
def test_shared_accessors_are_not_dataclass_fields(o: Any) -> None:
    names = {f.name for f in dataclasses.fields(o)}
    assert "meta" in names
    assert not names & {"name", "namespace"}


@pytest.mark.parametrize(
    ("kind", "spec", "hint"),
    [
        (
            "ResourcePlacement",
            "{resourceSelectors: [{group: apps, version: v1, kind: Deployment}]}",
            "it selects resources in that namespace",
        ),
        ("StagedUpdateStrategy", "{stages: [{name: canary}]}", "that of its ResourcePlacement"),
        (
            "StagedUpdateRun",
            "{placementName: web, stagedRolloutStrategyName: s}",
            "that of its ResourcePlacement",
        ),
        ("ApprovalRequest", "{parentStageRollout: r, targetStage: canary}", "that of its ResourcePlacement"),
    ],
)
def test_a_namespaced_kind_without_a_namespace_is_told_which_namespace_to_set(
    kind: str, spec: str, hint: str
) -> None:
    text = f"apiVersion: {V}\nkind: {kind}\nmetadata:\n  name: web\nspec: {spec}\n"
    doc = parse_documents(text, "fleet/objects.yaml")[0]
    findings = Findings()
    parse_fleet_object(doc, "placement.kubernetes-fleet.io", "v1beta1", kind, findings)
    assert [(f.field, f.message) for f in findings.items] == [
        ("metadata", f"a {kind} is namespaced: set metadata.namespace ({hint})")
    ]
