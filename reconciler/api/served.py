"""Which apiVersions KubeFleet serves for each fleet kind: one table, held to KubeFleet's CRDs.

Each kind's parser used to carry its own version list, and the lists drifted from KubeFleet
(v1 overrides refused, v1 evictions and v1alpha1 envelopes accepted). Now there is one table,
copied from the ``versions:`` lists of KubeFleet's CRDs (config/crd/bases at e160c1cd) and
tested against a copy of those lists (tests/data/kubefleet-crd-versions); the kind registry
and every other decision about a fleet apiVersion read it. Where a version's *shape* differs,
the kind's parser handles it (see the module docstrings of membercluster, placement, staged and
envelope); every served version parses into the one internal model.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

PLACEMENT_GROUP = "placement.kubernetes-fleet.io"
CLUSTER_GROUP = "cluster.kubernetes-fleet.io"

_V1_BETA = ("v1", "v1beta1")
_V1_ALPHA_BETA = ("v1", "v1alpha1", "v1beta1")
_ALPHA_BETA = ("v1alpha1", "v1beta1")
_BETA = ("v1beta1",)

SERVED_VERSIONS: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType(
    {
        (CLUSTER_GROUP, "MemberCluster"): _V1_BETA,
        (PLACEMENT_GROUP, "ClusterResourcePlacement"): _V1_BETA,
        (PLACEMENT_GROUP, "ResourcePlacement"): _V1_BETA,
        (PLACEMENT_GROUP, "StagedUpdateStrategy"): _V1_BETA,
        (PLACEMENT_GROUP, "StagedUpdateRun"): _V1_BETA,
        (PLACEMENT_GROUP, "ApprovalRequest"): _V1_BETA,
        (PLACEMENT_GROUP, "ClusterResourceOverride"): _V1_ALPHA_BETA,
        (PLACEMENT_GROUP, "ResourceOverride"): _V1_ALPHA_BETA,
        (PLACEMENT_GROUP, "ClusterStagedUpdateStrategy"): _V1_ALPHA_BETA,
        (PLACEMENT_GROUP, "ClusterStagedUpdateRun"): _V1_ALPHA_BETA,
        (PLACEMENT_GROUP, "ClusterApprovalRequest"): _V1_ALPHA_BETA,
        (PLACEMENT_GROUP, "ClusterResourcePlacementDisruptionBudget"): _ALPHA_BETA,
        (PLACEMENT_GROUP, "ClusterResourcePlacementEviction"): _ALPHA_BETA,
        (PLACEMENT_GROUP, "ClusterResourceEnvelope"): _BETA,
        (PLACEMENT_GROUP, "ResourceEnvelope"): _BETA,
    }
)

# Why a version a kind once had is no longer accepted, where the shape moved (said after the error).
_MIGRATION_HINTS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        (PLACEMENT_GROUP, "ClusterResourceEnvelope"): (
            "v1beta1 keeps the wrapped objects in a top-level data map (key -> object), "
            "not under spec.manifests.<key>.data"
        ),
        (PLACEMENT_GROUP, "ResourceEnvelope"): (
            "v1beta1 keeps the wrapped objects in a top-level data map (key -> object), "
            "not under spec.manifests.<key>.data"
        ),
    }
)


def served_versions(group: str, kind: str) -> tuple[str, ...]:
    """The versions KubeFleet serves for (group, kind); () for a kind it has no CRD for."""
    return SERVED_VERSIONS.get((group, kind), ())


def is_served(group: str, version: str, kind: str) -> bool:
    return version in served_versions(group, kind)


def groups_of(kind: str) -> tuple[str, ...]:
    """The fleet groups that have ``kind`` (to tell a kind written under the wrong group where it belongs)."""
    return tuple(sorted(g for g, k in SERVED_VERSIONS if k == kind))


def preferred_version(group: str, kind: str) -> str:
    """The version to suggest: v1beta1 (KubeFleet's storage version) when served, else the newest."""
    versions = served_versions(group, kind)
    return "v1beta1" if "v1beta1" in versions else (versions[0] if versions else "")


def unserved_message(group: str, version: str, kind: str) -> str:
    """The API server's words for an unserved version, then which versions are served (and why not this one)."""
    served = ", ".join(f"{group}/{v}" for v in served_versions(group, kind))
    message = (
        f'no matches for kind "{kind}" in version "{group}/{version}": KubeFleet serves {kind} as {served}'
    )
    hint = _MIGRATION_HINTS.get((group, kind))
    return f"{message}; {hint}" if hint else message
