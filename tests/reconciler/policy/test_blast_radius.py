"""The blast-radius gate: a change touching many clusters, or production, needs a PR approval label."""

from __future__ import annotations

import pytest

from reconciler.load.yamldoc import parse_documents
from reconciler.policy.change import CHANGE_IDENTITY, change_object, check_change
from reconciler.policy.gate import ClusterInfo, evaluate, library_paths, load_policies
from reconciler.policy.model import Action

LIBRARY = load_policies([], library=library_paths())
APPROVE = "fleetsync/approve-blast-radius"


def clusters(n: int, **labels: str) -> dict[str, dict[str, str]]:
    return {f"dev-{i:02d}": {"env": "dev"} for i in range(n)} | {
        f"x-{k}-{v}": {k: v} for k, v in labels.items()
    }


def test_a_small_change_to_non_production_clusters_passes() -> None:
    assert check_change(LIBRARY, clusters(10)) == []


def test_a_change_touching_more_than_ten_clusters_needs_the_label() -> None:
    vs = check_change(LIBRARY, clusters(11))
    assert [(v.policy, v.action, v.cluster, v.identity) for v in vs] == [
        ("blast-radius", Action.DENY, "", CHANGE_IDENTITY)
    ]
    assert (
        vs[0].message
        == f"this change touches 11 clusters, more than 10: add the pull request label {APPROVE}"
    )


@pytest.mark.parametrize(
    ("key", "value"), [("env", "prod"), ("environment", "production"), ("env", "production")]
)
def test_a_change_touching_any_production_cluster_needs_the_label(key: str, value: str) -> None:
    vs = check_change(LIBRARY, {"eu-1": {key: value}, "dev-1": {"env": "dev"}})
    assert [v.message for v in vs] == [
        f"this change touches production clusters (eu-1): add the pull request label {APPROVE}"
    ]


def test_the_approval_label_on_the_pull_request_lets_both_through() -> None:
    assert check_change(LIBRARY, clusters(30, env="prod"), ["needs-review", APPROVE]) == []


def test_no_change_is_never_checked() -> None:
    assert check_change(LIBRARY, {}) == []


def test_a_param_config_map_changes_the_threshold_and_the_label_and_a_binding_the_action() -> None:
    text = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: blast-radius}
spec:
  policyName: blast-radius
  validationActions: [Warn]
  paramRef: {name: blast-radius, namespace: fleet-policy}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: blast-radius, namespace: fleet-policy}
data: {maxClusters: "3", approvalLabel: big-change-ok}
"""
    ps = load_policies(parse_documents(text, "policy.yaml"), library=library_paths())
    assert ps.findings == ()
    vs = check_change(ps, clusters(4))
    assert [(v.action, v.message) for v in vs] == [
        (Action.WARN, "this change touches 4 clusters, more than 3: add the pull request label big-change-ok")
    ]
    assert check_change(ps, clusters(4), ["big-change-ok"]) == []


def test_object_policies_never_see_the_change_and_blast_radius_never_sees_objects() -> None:
    wildcard = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: everything}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], operations: ['*']}]
  validations: [{expression: 'false', message: every object}]
"""
    ps = load_policies(parse_documents(wildcard, "p.yaml"), library=library_paths())
    assert {v.policy for v in check_change(ps, clusters(11))} == {"blast-radius"}
    change = change_object(clusters(11), [])
    on_objects = evaluate(
        ps,
        ClusterInfo("eu-1"),
        {
            "/ConfigMap/web/x": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "x", "namespace": "web"},
            }
        },
    )
    assert {v.policy for v in on_objects} == {"everything"}
    assert change["spec"]["clusters"][0] == {"name": "dev-00", "labels": {"env": "dev"}}
