"""Every file of the KubeFleet YAML corpus (tests/data/kubefleet-examples, written by other people).

Files KubeFleet accepts load with no error findings. Files KubeFleet would reject, or that are not
objects a user commits to a hub, are listed in REJECTED with the field the error must name and
why; everything not listed must load cleanly. Each file is loaded on its own (the corpus reuses
names across files, as independent examples do).
"""

from __future__ import annotations

import pytest

from reconciler.api import registry
from reconciler.load.fleet import load_directory
from reconciler.load.settings import Settings
from reconciler.load.yamldoc import parse_documents
from tests.support import DATA

CORPUS = DATA / "kubefleet-examples"
FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.yaml"))

_ELIDED = "doc snippet with '...' elisions in place of the resource selectors"
_SHELL = "shell placeholder left unexpanded; '$' is not valid in a Kubernetes name"

# file → (field path the first relevant error names, why KubeFleet would refuse the file)
REJECTED: dict[str, tuple[str, str]] = {
    # --- fleet/: user-written objects that are not valid as written ---------------------------
    "fleet/azure-fleet@14d37414.docs_howtos_crp.L249.ClusterResourcePlacement.yaml": (
        "spec.resourceSelectors[0]",
        _ELIDED + "; also misspells 'perference' and writes preferred terms as a map",
    ),
    "fleet/azure-fleet@8660a942.docs_howtos_crp.L150.ClusterResourcePlacement.yaml": (
        "spec.resourceSelectors[0]",
        _ELIDED,
    ),
    "fleet/azure-fleet@8660a942.docs_howtos_crp.L191.ClusterResourcePlacement.yaml": (
        "spec.resourceSelectors[0]",
        _ELIDED,
    ),
    "fleet/azure-fleet@8660a942.docs_howtos_crp.L248.ClusterResourcePlacement.yaml": (
        "spec.resourceSelectors[0]",
        _ELIDED + "; also gives 'preference' as a list instead of one term",
    ),
    "fleet/azure-fleet@8660a942.docs_howtos_crp.L441.ClusterResourcePlacement.yaml": (
        "spec.resourceSelectors[0]",
        _ELIDED + " and the policy",
    ),
    "fleet/azure-fleet@8660a942.docs_howtos_crp.L505.ClusterResourcePlacement.yaml": (
        "spec.resourceSelectors[0]",
        _ELIDED + ", the policy and the strategy",
    ),
    "fleet/website.how-tos_crp.L155.ClusterResourcePlacement.yaml": ("spec.resourceSelectors[0]", _ELIDED),
    "fleet/website.how-tos_crp.L196.ClusterResourcePlacement.yaml": ("spec.resourceSelectors[0]", _ELIDED),
    "fleet/website.how-tos_crp.L253.ClusterResourcePlacement.yaml": (
        "spec.resourceSelectors[0]",
        _ELIDED + "; also gives 'preference' as a list instead of one term",
    ),
    "fleet/website.how-tos_crp.L444.ClusterResourcePlacement.yaml": (
        "spec.resourceSelectors[0]",
        _ELIDED + " and the policy",
    ),
    "fleet/website.how-tos_crp.L655.ClusterResourcePlacement.yaml": (
        "spec.resourceSelectors[0]",
        _ELIDED + ", the policy and the strategy",
    ),
    "fleet/azure-fleet@bf0b0df0.examples_fleet_v1beta1_membercluster.d1.MemberCluster.yaml": (
        "spec.state",
        "old example: 'spec.state: Join' is not a v1beta1 MemberCluster field (joining = committing it)",
    ),
    "fleet/azure-fleet@62f0d28b.examples_envelopes_clusterscoped.d1.ClusterResourceEnvelope.yaml": (
        "apiVersion",
        "old example: KubeFleet serves envelopes as v1beta1 only (a top-level data map)",
    ),
    "fleet/azure-fleet@62f0d28b.examples_envelopes_namespacescoped.d1.ResourceEnvelope.yaml": (
        "apiVersion",
        "old example: KubeFleet serves envelopes as v1beta1 only (a top-level data map)",
    ),
    "fleet/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L130.ClusterResourcePlacement.yaml": (
        "metadata.name",
        _SHELL,
    ),
    "fleet/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L160.ResourcePlacement.yaml": (
        "metadata.name",
        _SHELL,
    ),
    "fleet/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L65.ResourcePlacement.yaml": (
        "metadata.name",
        _SHELL,
    ),
    "fleet/cookbook.multi-cluster-ai-with-kaito_kubefleet_setup.L84.MemberCluster.yaml": (
        "metadata.name",
        _SHELL,
    ),
    "fleet/kubefleet.hack_loadtest_test-crp3.d1.ClusterResourcePlacement.yaml": (
        "spec.policy.affinity.clusterAffinity.requiredDuringSchedulingIgnoredDuringExecution",
        "load-test file writes weighted preferred terms under the required affinity (must be clusterSelectorTerms)",
    ),
    "fleet/ms-learn.concepts-resource-placement.L349.ClusterResourcePlacement.yaml": (
        "spec.policy.affinity.clusterAffinity.preferredDuringSchedulingIgnoredDuringExecution",
        "doc error: preferred terms written as one map (must be a list) with 'preference' as a list",
    ),
    "fleet/ms-learn.concepts-resource-placement.L382.ResourcePlacement.yaml": (
        "spec.policy.affinity.clusterAffinity.preferredDuringSchedulingIgnoredDuringExecution",
        "doc error: preferred terms written as one map (must be a list) with 'preference' as a list",
    ),
    "fleet/ms-learn.concepts-resource-placement.L431.ClusterResourcePlacement.yaml": (
        "spec.policy",
        "PickN without numberOfClusters (KubeFleet's webhook requires it)",
    ),
    "fleet/ms-learn.concepts-resource-placement.L457.ResourcePlacement.yaml": (
        "spec.policy",
        "PickN without numberOfClusters (KubeFleet's webhook requires it)",
    ),
    # --- server-output/: `kubectl get -o yaml` of hub-internal kinds, or invalid specs ----------
    "server-output/azure-fleet@331ec9c0.docs_concepts_ClusterResourcePlacement_README.L101.ClusterResourceSnapshot.yaml": (
        "kind",
        "hub-internal snapshot: fleetsync computes it",
    ),
    "server-output/azure-fleet@331ec9c0.docs_concepts_ClusterResourcePlacement_README.L154.ClusterSchedulingPolicySnapshot.yaml": (
        "kind",
        "hub-internal snapshot: fleetsync computes it",
    ),
    "server-output/azure-fleet@8660a942.docs_concepts_ClusterResourcePlacement_README.L109.ClusterResourceSnapshot.yaml": (
        "kind",
        "hub-internal snapshot: fleetsync computes it",
    ),
    "server-output/azure-fleet@8660a942.docs_concepts_ClusterResourcePlacement_README.L162.ClusterSchedulingPolicySnapshot.yaml": (
        "kind",
        "hub-internal snapshot: fleetsync computes it",
    ),
    "server-output/azure-fleet@8660a942.docs_concepts_Scheduler_README.L32.ClusterResourceBinding.yaml": (
        "kind",
        "hub-internal binding: fleetsync computes it",
    ),
    "server-output/website.concepts_crp.L117.ClusterResourceSnapshot.yaml": (
        "kind",
        "hub-internal snapshot: fleetsync computes it",
    ),
    "server-output/website.concepts_crp.L171.ClusterSchedulingPolicySnapshot.yaml": (
        "kind",
        "hub-internal snapshot: fleetsync computes it",
    ),
    "server-output/website.concepts_scheduler.L38.ClusterResourceBinding.yaml": (
        "kind",
        "hub-internal binding: fleetsync computes it",
    ),
    "server-output/ms-learn.howto-understand-placement.L1088.ResourcePlacement.yaml": (
        "spec.policy.affinity.clusterAffinity.requiredDuringSchedulingIgnoredDuringExecution.clusterSelectorTerms[0].matchLabels",
        "doc error: matchLabels directly under a cluster selector term (must be inside labelSelector)",
    ),
    "server-output/ms-learn.howto-understand-placement.L910.ClusterResourcePlacement.yaml": (
        "spec.resourceSelectors[1]",
        "a CRP selecting namespaced Deployment/Service with a 'namespace' field (not a selector field)",
    ),
    # --- templated/: placeholders that are not valid names -------------------------------------
    "templated/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L220.ResourcePlacement.yaml": (
        "spec.policy.clusterNames[0]",
        _SHELL + " (a PickFixed cluster name)",
    ),
    "templated/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L272.Gateway.yaml": (
        "metadata.name",
        _SHELL,
    ),
    "templated/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L286.HTTPRoute.yaml": (
        "metadata.name",
        _SHELL,
    ),
    "templated/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L306.ResourcePlacement.yaml": (
        "metadata.name",
        _SHELL,
    ),
    "templated/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L342.Gateway.yaml": (
        "metadata.name",
        _SHELL,
    ),
    "templated/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L392.ResourcePlacement.yaml": (
        "spec.policy.clusterNames[0]",
        _SHELL + " (a PickFixed cluster name)",
    ),
    "templated/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L45.Workspace.yaml": (
        "metadata.name",
        _SHELL,
    ),
    "templated/kubefleet.hack_Azure_property-based-scheduling.L152.Secret.yaml": ("metadata.name", _SHELL),
    "templated/kubefleet.hack_Azure_property-based-scheduling.L212.MemberCluster.yaml": (
        "metadata.name",
        _SHELL,
    ),
    "templated/kubefleet.hack_Azure_setup_joinMC.L42.MemberCluster.yaml": ("metadata.name", _SHELL),
    "templated/kubefleet.hack_membership_join.L103.MemberCluster.yaml": ("metadata.name", _SHELL),
    "templated/kubefleet.hack_membership_joinMC.L80.MemberCluster.yaml": ("metadata.name", _SHELL),
    "templated/kubefleet.test_e2e_join.L51.MemberCluster.yaml": ("metadata.name", _SHELL),
    # --- workloads/ --------------------------------------------------------------------------
    "workloads/cookbook.multi-cluster-ai-with-kaito_kubefleet_placement.L115.DestinationRule.yaml": (
        "metadata.name",
        _SHELL,
    ),
}


def _unparsed_fleet_kind(rel: str) -> str | None:
    """A fleet kind in this file whose parser is not registered yet (written in parallel)."""
    for doc in parse_documents((CORPUS / rel).read_bytes(), rel):
        api_version, kind = str(doc.data.get("apiVersion", "")), str(doc.data.get("kind", ""))
        group = api_version.rpartition("/")[0]
        if (
            registry.is_fleet_group(group)
            and kind not in registry.HUB_INTERNAL_KINDS
            and registry.kind_info(group, kind) is None
        ):
            return kind
    return None


def test_the_corpus_is_complete_and_every_table_entry_exists() -> None:
    assert len(FILES) == 220
    assert set(REJECTED) <= set(FILES)
    assert all(reason for _, reason in REJECTED.values())


@pytest.mark.parametrize("rel", FILES)
def test_corpus_file_loads_or_is_refused_with_a_located_error(rel: str) -> None:
    missing = _unparsed_fleet_kind(rel)
    if missing is not None:
        pytest.skip(f"the {missing} parser is not registered yet")
    result = load_directory(CORPUS, Settings(include=(rel,)))
    errors = result.errors
    if rel not in REJECTED:
        assert errors == (), "\n".join(map(str, errors))
        return
    field, _reason = REJECTED[rel]
    assert errors, f"{rel} was expected to fail at {field}"
    assert any(e.field.startswith(field) for e in errors), "\n".join(map(str, errors))
    for e in errors:
        assert e.file == rel
        assert e.line >= 1 and e.column >= 1
        assert e.message
