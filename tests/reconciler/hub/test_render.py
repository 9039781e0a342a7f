"""Rendering a cluster's bundle from the placements bound to it: canonical, verifiable, conflict-preserving."""

from __future__ import annotations

from typing import Any

from fleetsync_contract.bundle import BUNDLE_FILE, EnvelopeRef, parse_bundle
from fleetsync_contract.canonical import load
from fleetsync_contract.integrity import verify
from reconciler.api.meta import ObjectMeta, Origin
from reconciler.api.placement import (
    ApplyStrategy,
    ApplyType,
    Placement,
    ResourceSelector,
    RollingUpdateConfig,
    RolloutStrategy,
)
from reconciler.hub.overrides import OverriddenObject
from reconciler.hub.render import ManifestCache, PlacementOnCluster, removals_since, render_cluster

ORIGIN = Origin("fleet.yaml", 1)


def placement(
    name: str,
    kind: str = "ClusterResourcePlacement",
    namespace: str = "",
    strategy: RolloutStrategy | None = None,
) -> Placement:
    return Placement(
        kind,
        "placement.kubernetes-fleet.io/v1beta1",
        ObjectMeta(name, namespace),
        ORIGIN,
        (ResourceSelector("", "v1", "Namespace", "web"),),
        strategy=strategy or RolloutStrategy(),
    )


def obj(
    api_version: str,
    kind: str,
    name: str,
    namespace: str = "",
    envelope: EnvelopeRef | None = None,
    **extra: Any,
) -> OverriddenObject:
    group, _, version = api_version.rpartition("/")
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return OverriddenObject(
        group,
        version,
        kind,
        namespace,
        name,
        {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra},
        envelope,
    )


NS = obj("v1", "Namespace", "web")
CM = obj("v1", "ConfigMap", "settings", "web", data={"mode": "on"})
WEB = placement("web")


def test_a_rendered_bundle_verifies_and_carries_placement_index_and_full_apply_strategy() -> None:
    ssa = RolloutStrategy(
        apply_strategy=ApplyStrategy(type=ApplyType.SERVER_SIDE_APPLY, server_side_apply_force=True),
        rolling_update=RollingUpdateConfig(unavailable_period_seconds=15),
    )
    rendered = render_cluster("c1", "abc", [PlacementOnCluster(placement("web", strategy=ssa), 4, [NS, CM])])
    assert verify(dict(rendered.files), "c1") == []
    bundle = parse_bundle(rendered.files)
    assert bundle.bundle_id == rendered.bundle_id
    [p] = bundle.placements
    assert (p.key, p.resource_index, p.unavailable_period_seconds) == ("ClusterResourcePlacement/web", 4, 15)
    assert p.apply_strategy == {
        "type": "ServerSideApply",
        "comparisonOption": "PartialComparison",
        "whenToApply": "Always",
        "whenToTakeOver": "Always",
        "allowCoOwnership": False,
        "serverSideApplyConfig": {"force": True},
    }
    default = parse_bundle(render_cluster("c1", "abc", [PlacementOnCluster(WEB, 0, [])]).files).placements[0]
    assert default.apply_strategy["serverSideApplyConfig"] == {"force": False}


def test_object_files_hold_the_manifest_exactly() -> None:
    rendered = render_cluster("c1", "abc", [PlacementOnCluster(WEB, 0, [CM])])
    path = "manifests/ClusterResourcePlacement/web/core/ConfigMap/web/settings.yaml"
    assert load(rendered.files[path]) == CM.manifest
    assert b'mode: "on"' in rendered.files[path]


def test_rendering_is_deterministic_whatever_the_object_order() -> None:
    a = render_cluster("c1", "abc", [PlacementOnCluster(WEB, 0, [NS, CM])])
    b = render_cluster("c1", "abc", [PlacementOnCluster(WEB, 0, [CM, NS])], cache=ManifestCache())
    assert a.files == b.files and a.bundle_id == b.bundle_id


def test_two_placements_placing_one_object_keep_a_file_each_for_the_agent_to_report() -> None:
    rendered = render_cluster(
        "c1", "abc", [PlacementOnCluster(WEB, 0, [CM]), PlacementOnCluster(placement("other"), 2, [CM])]
    )
    entries = parse_bundle(rendered.files).files
    assert [(e.placement, e.identity) for e in entries] == [
        ("ClusterResourcePlacement/other", CM.identity),
        ("ClusterResourcePlacement/web", CM.identity),
    ]
    assert verify(dict(rendered.files), "c1") == []


def test_envelope_identity_reaches_the_index() -> None:
    inner = obj("v1", "ResourceQuota", "q", "web", envelope=EnvelopeRef("ResourceEnvelope", "web", "hooks"))
    [entry] = parse_bundle(render_cluster("c1", "abc", [PlacementOnCluster(WEB, 0, [inner])]).files).files
    assert entry.envelope == EnvelopeRef("ResourceEnvelope", "web", "hooks")


def test_an_rp_renders_under_its_namespaced_key() -> None:
    rp = placement("app", "ResourcePlacement", "team")
    rendered = render_cluster("c1", "abc", [PlacementOnCluster(rp, 0, [obj("v1", "ConfigMap", "c", "team")])])
    assert "manifests/ResourcePlacement/team/app/core/ConfigMap/team/c.yaml" in rendered.files


def test_the_id_changes_when_only_one_clusters_content_changes() -> None:
    cache = ManifestCache()
    a = render_cluster("a", "abc", [PlacementOnCluster(WEB, 0, [NS, CM])], cache=cache)
    b = render_cluster("b", "abc", [PlacementOnCluster(WEB, 0, [NS, CM])], cache=cache)
    changed = obj("v1", "ConfigMap", "settings", "web", data={"mode": "off"})
    c = render_cluster("c", "abc", [PlacementOnCluster(WEB, 0, [NS, changed])], cache=cache)
    assert a.bundle_id == b.bundle_id != c.bundle_id
    assert a.files[BUNDLE_FILE] != b.files[BUNDLE_FILE], "bundle.yaml names its cluster"


def test_removals_name_why_each_object_left_the_cluster() -> None:
    other = placement("other")
    gone = placement("gone")
    extra = obj("v1", "ConfigMap", "old", "web")
    dropped = obj("v1", "ConfigMap", "dropped", "web")
    previous = parse_bundle(
        render_cluster(
            "c1",
            "abc",
            [
                PlacementOnCluster(WEB, 0, [NS, CM, extra, dropped]),
                PlacementOnCluster(other, 0, [NS]),
                PlacementOnCluster(gone, 0, [NS]),
            ],
        ).files
    )
    now = [PlacementOnCluster(WEB, 1, [NS, CM])]
    removals = removals_since(
        previous,
        now,
        deleted_by_override={"ClusterResourcePlacement/web": [dropped.identity]},
        unselected=["ClusterResourcePlacement/other"],
        deleted_placements=["ClusterResourcePlacement/gone"],
    )
    assert [(r.placement, r.identity, r.reason) for r in removals] == [
        ("ClusterResourcePlacement/gone", NS.identity, "PlacementDeleted"),
        ("ClusterResourcePlacement/other", NS.identity, "ClusterUnselected"),
        ("ClusterResourcePlacement/web", dropped.identity, "OverrideDeleted"),
        ("ClusterResourcePlacement/web", extra.identity, "ResourceRemoved"),
    ]
    assert removals_since(None, now) == []
