"""ClusterResourcePlacement / ResourcePlacement: defaults, versions and every validation rule.

Invalid cases mark the line the finding must point at with ``#!``.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from reconciler.api.placement import (
    ApplyType,
    Placement,
    PlacementType,
    PropertyOperator,
    RolloutStrategyType,
    SelectionScope,
    SortOrder,
    Toleration,
)
from reconciler.errors import Finding
from tests.support.apifixtures import finding_at, marked_line, parse_one


def load(text: str) -> tuple[Any, list[Finding]]:
    return parse_one(textwrap.dedent(text), "fleet/placement.yaml")


def crp(*spec: str, version: str = "v1beta1", kind: str = "ClusterResourcePlacement", meta: str = "") -> str:
    """A placement document; each part of ``spec`` is dedented on its own, then indented under spec."""
    meta = meta or "  name: web\n" + ("  namespace: team-a\n" if kind == "ResourcePlacement" else "")
    text = "\n".join(textwrap.dedent(part).strip("\n") for part in spec)
    body = textwrap.indent(text, "  ")
    return (
        f"apiVersion: placement.kubernetes-fleet.io/{version}\nkind: {kind}\nmetadata:\n{meta}spec:\n{body}\n"
    )


NS = """\
resourceSelectors:
  - {group: "", version: v1, kind: Namespace, name: web}
"""


def valid(text: str) -> Placement:
    obj, findings = load(text)
    assert [str(f) for f in findings if f.severity == "error"] == []
    assert isinstance(obj, Placement)
    return obj


# -- valid objects -------------------------------------------------------------------------------


def test_a_minimal_crp_gets_kubefleet_defaults_and_its_placement_key() -> None:
    p = valid(crp(NS))
    assert p.key == "ClusterResourcePlacement/web"
    assert p.policy is None and p.effective_policy.placement_type == PlacementType.PICK_ALL
    assert p.strategy.type == RolloutStrategyType.ROLLING_UPDATE
    ru = p.strategy.rolling_update
    assert (ru.max_unavailable, ru.max_surge, ru.unavailable_period_seconds) == ("25%", "25%", 60)
    assert p.strategy.apply_strategy.type == ApplyType.CLIENT_SIDE_APPLY
    assert (p.strategy.delete_propagation_policy, p.strategy.report_back_type) == ("Delete", "Disabled")
    assert (p.revision_history_limit, p.status_reporting_scope) == (10, "ClusterScopeOnly")
    [sel] = p.resource_selectors
    assert (sel.kind, sel.name, sel.selection_scope) == (
        "Namespace",
        "web",
        SelectionScope.NAMESPACE_WITH_RESOURCES,
    )


def test_a_resource_placement_key_carries_its_namespace() -> None:
    p = valid(
        crp(
            "resourceSelectors:\n  - {group: apps, version: v1, kind: Deployment}\n", kind="ResourcePlacement"
        )
    )
    assert p.key == "ResourcePlacement/team-a/web"
    assert p.namespaced and p.namespace == "team-a"


def test_v1_and_v1beta1_parse_into_the_same_model() -> None:
    spec = NS + "policy:\n  placementType: PickN\n  numberOfClusters: 2\n"
    beta, v1 = valid(crp(spec)), valid(crp(spec, version="v1"))
    assert beta.policy == v1.policy and beta.resource_selectors == v1.resource_selectors
    assert v1.api_version == "placement.kubernetes-fleet.io/v1"


def test_a_pickn_policy_keeps_affinity_terms_spread_and_tolerations() -> None:
    p = valid(
        crp(
            NS,
            """
        policy:
          placementType: PickN
          numberOfClusters: 3
          affinity:
            clusterAffinity:
              requiredDuringSchedulingIgnoredDuringExecution:
                clusterSelectorTerms:
                  - labelSelector: {matchLabels: {env: prod}}
                    propertySelector:
                      matchExpressions:
                        - {name: kubernetes-fleet.io/node-count, operator: Ge, values: ["3"]}
                        - {name: resources.kubernetes-fleet.io/available-cpu, operator: Lt, values: ["64"]}
              preferredDuringSchedulingIgnoredDuringExecution:
                - weight: -20
                  preference:
                    propertySorter: {name: kubernetes.azure.com/per-cpu-core-cost, sortOrder: Ascending}
          topologySpreadConstraints:
            - topologyKey: region
          tolerations:
            - {key: gpu, operator: Exists}
            - {operator: Exists}
    """,
        )
    )
    pol = p.policy
    assert pol is not None and pol.number_of_clusters == 3 and pol.affinity is not None
    [term] = pol.affinity.required or ()
    assert [e.operator for e in term.property_selector] == [PropertyOperator.GE, PropertyOperator.LT]
    [pref] = pol.affinity.preferred
    assert pref.weight == -20 and pref.preference.property_sorter is not None
    assert pref.preference.property_sorter.sort_order == SortOrder.ASCENDING
    [spread] = pol.topology_spread_constraints
    assert (spread.max_skew, spread.when_unsatisfiable) == (1, "DoNotSchedule")
    assert pol.tolerations == (Toleration("gpu", "Exists"), Toleration("", "Exists"))


def test_absent_and_empty_affinity_parts_stay_distinct() -> None:
    none = valid(crp(NS + "policy:\n  affinity:\n    clusterAffinity: {}\n"))
    empty = valid(
        crp(
            NS,
            """
        policy:
          affinity:
            clusterAffinity:
              requiredDuringSchedulingIgnoredDuringExecution:
                clusterSelectorTerms: [{}]
    """,
        )
    )
    assert none.policy is not None and none.policy.affinity is not None
    assert none.policy.affinity.required is None
    assert empty.policy is not None and empty.policy.affinity is not None
    [term] = empty.policy.affinity.required or ()
    assert term.label_selector is None


def test_external_strategy_with_apply_delete_and_report_back_settings() -> None:
    p = valid(
        crp(
            NS,
            """
        policy: {placementType: PickFixed, clusterNames: [member-1]}
        strategy:
          type: External
          applyStrategy: {type: ServerSideApply, serverSideApplyConfig: {force: true}, whenToTakeOver: IfNoDiff}
          deleteStrategy: {propagationPolicy: Abandon}
          reportBackStrategy: {type: Mirror, destination: OriginalResource}
        revisionHistoryLimit: 1000
    """,
        )
    )
    s = p.strategy
    assert s.type == RolloutStrategyType.EXTERNAL and s.apply_strategy.server_side_apply_force
    assert s.apply_strategy.to_dict()["serverSideApplyConfig"] == {"force": True}
    assert (s.delete_propagation_policy, s.report_back_type, s.report_back_destination) == (
        "Abandon",
        "Mirror",
        "OriginalResource",
    )
    assert p.revision_history_limit == 1000


def test_namespace_with_resource_selectors_lets_a_crp_select_namespaced_kinds() -> None:
    p = valid(
        crp("""
        resourceSelectors:
          - {group: "", version: v1, kind: Namespace, name: prod, selectionScope: NamespaceWithResourceSelectors}
          - {group: apps, version: v1, kind: Deployment, labelSelector: {matchLabels: {tier: web}}}
          - {group: rbac.authorization.k8s.io, version: v1, kind: ClusterRole, name: admin}
        statusReportingScope: NamespaceAccessible
    """)
    )
    assert [s.kind for s in p.resource_selectors] == ["Namespace", "Deployment", "ClusterRole"]
    assert p.status_reporting_scope == "NamespaceAccessible"


def test_kinds_fleetsync_does_not_know_are_never_rejected_for_scope() -> None:
    valid(crp("resourceSelectors:\n  - {group: example.com, version: v1, kind: Widget}\n"))
    valid(
        crp(
            "resourceSelectors:\n  - {group: example.com, version: v1, kind: Widget}\n",
            kind="ResourcePlacement",
        )
    )


def test_server_output_status_and_metadata_are_accepted_and_ignored() -> None:
    text = crp(
        NS,
        meta="  name: web\n  uid: 1234\n  generation: 3\n  finalizers: [kubernetes-fleet.io/crp-cleanup]\n",
    )
    valid(text + "status:\n  observedResourceIndex: '0'\n")


# -- invalid objects ------------------------------------------------------------------------------

PICKN = NS + "policy:\n  placementType: PickN\n  numberOfClusters: 2\n"
INVALID: list[tuple[str, str, str, str]] = [
    # (id, YAML, field path, message fragment)
    (
        "pickn-needs-number",
        crp(NS + "policy:  #!\n  placementType: PickN\n"),
        "spec.policy",
        "number of cluster cannot be nil for policy type PickN",
    ),
    (
        "number-only-for-pickn",
        crp(NS + "policy:\n  numberOfClusters: 2  #!\n"),
        "spec.policy.numberOfClusters",
        "number of clusters must be nil for policy type PickAll, only valid for PickN placement policy type",
    ),
    (
        "names-only-for-pickfixed",
        crp(PICKN + "  clusterNames: [a]  #!\n"),
        "spec.policy.clusterNames",
        "cluster names needs to be empty for policy type PickN, only valid for PickFixed policy type",
    ),
    (
        "pickfixed-needs-names",
        crp(NS + "policy:  #!\n  placementType: PickFixed\n"),
        "spec.policy",
        "cluster names cannot be empty for policy type PickFixed",
    ),
    (
        "pickfixed-unique-names",
        crp(NS + "policy:\n  placementType: PickFixed\n  clusterNames:\n  - a\n  - a  #!\n"),
        "spec.policy.clusterNames[1]",
        "cluster names must be unique for policy type PickFixed",
    ),
    (
        "pickfixed-valid-names",
        crp(NS + "policy:\n  placementType: PickFixed\n  clusterNames:\n  - Bad_Name  #!\n"),
        "spec.policy.clusterNames[0]",
        "PickFixed cluster name Bad_Name is not a valid member name",
    ),
    (
        "pickfixed-name-max-63",
        crp(NS + "policy:\n  placementType: PickFixed\n  clusterNames:\n  - " + "a" * 64 + "  #!\n"),
        "spec.policy.clusterNames[0]",
        "PickFixed cluster name " + "a" * 64 + " cannot have length exceeding 63",
    ),
    (
        "pickfixed-no-affinity",
        crp(NS + "policy:\n  placementType: PickFixed\n  clusterNames: [a]\n  affinity: {}  #!\n"),
        "spec.policy.affinity",
        "affinity must be nil for policy type PickFixed, only valid for PickAll/PickN placement policy types",
    ),
    (
        "pickfixed-no-tolerations",
        crp(NS + "policy:\n  placementType: PickFixed\n  clusterNames: [a]\n  tolerations: []  #!\n"),
        "spec.policy.tolerations",
        "tolerations needs to be empty for policy type PickFixed, only valid for PickAll/PickN",
    ),
    (
        "spread-only-pickn",
        crp(NS + "policy:\n  topologySpreadConstraints:  #!\n  - topologyKey: region\n"),
        "spec.policy.topologySpreadConstraints",
        "topology spread constraints needs to be empty for policy type PickAll, only valid for PickN policy type",
    ),
    (
        "spread-min-skew",
        crp(PICKN + "  topologySpreadConstraints:\n  - topologyKey: region\n    maxSkew: 0  #!\n"),
        "spec.policy.topologySpreadConstraints[0].maxSkew",
        "greater than or equal to 1",
    ),
    (
        "spread-when",
        crp(PICKN + "  topologySpreadConstraints:\n  - topologyKey: r\n    whenUnsatisfiable: Never  #!\n"),
        "spec.policy.topologySpreadConstraints[0].whenUnsatisfiable",
        "unknown unsatisfiable type Never: supported values: 'DoNotSchedule', 'ScheduleAnyway'",
    ),
    (
        "no-preferred-for-pickall",
        crp(
            NS
            + """
policy:
  affinity:
    clusterAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:  #!
      - {weight: 10, preference: {labelSelector: {matchLabels: {a: b}}}}
"""
        ),
        "spec.policy.affinity.clusterAffinity.preferredDuringSchedulingIgnoredDuringExecution",
        "PreferredDuringSchedulingIgnoredDuringExecution will be ignored for placement policy type PickAll",
    ),
    (
        "unknown-type-only-reports-the-enum",
        crp(NS + "policy:\n  placementType: PickSome  #!\n  numberOfClusters: 2\n"),
        "spec.policy.placementType",
        "supported values: 'PickAll', 'PickN', 'PickFixed'",
    ),
    (
        "terms-max-10",
        crp(
            NS + "policy:\n  affinity:\n    clusterAffinity:\n"
            "      requiredDuringSchedulingIgnoredDuringExecution:\n"
            "        clusterSelectorTerms:  #!\n" + "        - {}\n" * 11
        ),
        "spec.policy.affinity.clusterAffinity.requiredDuringSchedulingIgnoredDuringExecution.clusterSelectorTerms",
        "at most 10 items",
    ),
    (
        "weight-required",
        crp(
            PICKN + "  affinity:\n    clusterAffinity:\n"
            "      preferredDuringSchedulingIgnoredDuringExecution:\n      - preference: {}  #!\n"
        ),
        "spec.policy.affinity.clusterAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]",
        "required field 'weight'",
    ),
    (
        "weight-range",
        crp(
            PICKN
            + """
  affinity:
    clusterAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 101  #!
        preference: {}
"""
        ),
        "spec.policy.affinity.clusterAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
        "less than or equal to 100",
    ),
    (
        "sorter-only-preferred",
        crp(
            NS
            + """
policy:
  affinity:
    clusterAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        clusterSelectorTerms:
        - propertySorter: {name: kubernetes-fleet.io/node-count, sortOrder: Descending}  #!
"""
        ),
        "spec.policy.affinity.clusterAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".clusterSelectorTerms[0].propertySorter",
        "PropertySorter is not allowed for RequiredDuringSchedulingIgnoredDuringExecution affinity",
    ),
    (
        "selector-only-required",
        crp(
            PICKN
            + """
  affinity:
    clusterAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 5
        preference:
          propertySelector:  #!
            matchExpressions: [{name: kubernetes-fleet.io/node-count, operator: Gt, values: ["1"]}]
"""
        ),
        "spec.policy.affinity.clusterAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
        ".preference.propertySelector",
        "PropertySelector is not allowed for PreferredDuringSchedulingIgnoredDuringExecution affinity",
    ),
]

REQ = "spec.policy.affinity.clusterAffinity.requiredDuringSchedulingIgnoredDuringExecution.clusterSelectorTerms[0]"


def _props(*exprs: str) -> str:
    lines = "\n".join(f"            - {e}" for e in exprs)
    return crp(
        NS
        + f"""
policy:
  affinity:
    clusterAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        clusterSelectorTerms:
        - propertySelector:
            matchExpressions:
{lines}
"""
    )


INVALID += [
    (
        "property-operator",
        _props("{name: a, operator: Gte, values: ['1']}  #!"),
        REQ + ".propertySelector.matchExpressions[0].operator",
        "supported values: 'Gt', 'Ge'",
    ),
    (
        "property-one-value",
        _props("{name: a, operator: Gt, values: ['1', '2']}  #!"),
        REQ + ".propertySelector.matchExpressions[0].values",
        "invalid requirement on property a: operator Gt requires exactly one value, got 2",
    ),
    (
        "property-quantity",
        _props("{name: a, operator: Gt, values: [lots]}  #!"),
        REQ + ".propertySelector.matchExpressions[0].values[0]",
        "not a Kubernetes quantity",
    ),
    (
        "property-bounds",
        _props("{name: a, operator: Gt, values: ['10']}", "{name: a, operator: Lt, values: ['5']}  #!"),
        REQ + ".propertySelector.matchExpressions[1]",
        "inconsistent requirements on property a: lower bound (10) and upper bound (5) exclude all values",
    ),
    (
        "property-two-eq",
        _props("{name: a, operator: Eq, values: ['3']}", "{name: a, operator: Eq, values: ['4']}  #!"),
        REQ + ".propertySelector.matchExpressions[1]",
        "inconsistent requirements on property a: conflicting Eq values 3 and 4",
    ),
    (
        "property-eq-ne",
        _props("{name: a, operator: Eq, values: ['1k']}", "{name: a, operator: Ne, values: ['1000']}  #!"),
        REQ + ".propertySelector.matchExpressions[1]",
        "inconsistent requirements on property a: conflicting Eq and Ne on same value 1000",
    ),
    (
        "property-name-segment",
        _props("{name: example.com/bad segment, operator: Gt, values: ['1']}  #!"),
        REQ + ".propertySelector.matchExpressions[0].name",
        "invalid property name example.com/bad segment: property name segment bad segment is not valid",
    ),
    (
        "property-capacity",
        _props("{name: resources.kubernetes-fleet.io/used-cpu, operator: Gt, values: ['1']}  #!"),
        REQ + ".propertySelector.matchExpressions[0].name",
        "invalid capacity type in resource property name resources.kubernetes-fleet.io/used-cpu, supported values are",
    ),
]


def _tol(*items: str) -> str:
    return crp(NS + "policy:\n  tolerations:\n" + "".join(f"  - {i}\n" for i in items))


INVALID += [
    (
        "toleration-exists-no-value",
        _tol("{key: a, operator: Exists, value: b}  #!"),
        "spec.policy.tolerations[0].value",
        "toleration value needs to be empty, when operator is Exists",
    ),
    (
        "toleration-empty-key-exists",
        _tol("{value: b}  #!"),
        "spec.policy.tolerations[0]",
        "toleration key cannot be empty, when operator is Equal",
    ),
    (
        "toleration-unique",
        _tol("{key: a, value: b}", "{key: a, value: b}  #!"),
        "spec.policy.tolerations[1]",
        "toleration {Key:a Operator:Equal Value:b Effect:} already exists, tolerations must be unique",
    ),
    (
        "toleration-effect",
        _tol("{key: a, effect: NoExecute}  #!"),
        "spec.policy.tolerations[0].effect",
        "supported values: '', 'NoSchedule'",
    ),
    (
        "selectors-required",
        crp("policy: {}\n").replace("spec:", "spec:  #!"),
        "spec",
        "required field 'resourceSelectors'",
    ),
    ("selectors-min", crp("resourceSelectors: []  #!\n"), "spec.resourceSelectors", "at least 1 item"),
    (
        "selectors-max",
        crp("resourceSelectors:  #!\n" + "  - {group: '', version: v1, kind: Namespace}\n" * 101),
        "spec.resourceSelectors",
        "at most 100 items",
    ),
    (
        "name-xor-label",
        crp(
            "resourceSelectors:\n  - group: ''  #!\n    version: v1\n    kind: Namespace\n"
            "    name: web\n    labelSelector: {matchLabels: {a: b}}\n"
        ),
        "spec.resourceSelectors[0]",
        "the labelSelector and name fields are mutually exclusive in selector",
    ),
    (
        "scope-only-namespace",
        crp(
            "resourceSelectors:\n  - group: ''\n    version: v1\n    kind: Namespace\n"
            "  - group: rbac.authorization.k8s.io\n    version: v1\n    kind: ClusterRole\n"
            "    selectionScope: NamespaceOnly  #!\n"
        ),
        "spec.resourceSelectors[1].selectionScope",
        "applies only to selectors of kind Namespace",
    ),
    (
        "crp-cluster-scoped-only",
        crp("resourceSelectors:\n  - group: apps\n    version: v1\n    kind: Deployment  #!\n"),
        "spec.resourceSelectors[0].kind",
        "the resource is not found in schema (please retry) or it is not a cluster scoped resource: apps/v1, Kind=Deployment",
    ),
    (
        "rp-namespaced-only",
        crp(
            "resourceSelectors:\n  - group: rbac.authorization.k8s.io\n    version: v1\n"
            "    kind: ClusterRole  #!\n",
            kind="ResourcePlacement",
        ),
        "spec.resourceSelectors[0].kind",
        "the resource is not found in schema (please retry) or it is a cluster scoped resource: rbac.authorization.k8s.io/v1, Kind=ClusterRole",
    ),
    (
        "selector-kind-not-mapped",
        crp("resourceSelectors:\n  - group: ''\n    version: v1\n    kind: namespace  #!\n    name: web\n"),
        "spec.resourceSelectors[0].kind",
        'failed to get GVR of the selector: no matches for kind "namespace" in version "v1"',
    ),
    (
        "selector-kind-not-mapped-in-a-group",
        crp(
            "resourceSelectors:\n  - group: rbac.authorization.k8s.io\n    version: v1\n    kind: clusterrole  #!\n"
        ),
        "spec.resourceSelectors[0].kind",
        'no matches for kind "clusterrole" in version "rbac.authorization.k8s.io/v1"',
    ),
    (
        "rp-no-namespaces",
        crp(
            "resourceSelectors:\n  - group: ''\n    version: v1\n    kind: Namespace  #!\n",
            kind="ResourcePlacement",
        ),
        "spec.resourceSelectors[0].kind",
        "cannot select Namespaces",
    ),
    (
        "nwrs-by-name",
        crp(
            "resourceSelectors:\n  - group: ''  #!\n    version: v1\n    kind: Namespace\n"
            "    labelSelector: {}\n    selectionScope: NamespaceWithResourceSelectors\n"
        ),
        "spec.resourceSelectors[0]",
        "must select its namespace by name",
    ),
    (
        "nwrs-alone",
        crp(
            "resourceSelectors:\n  - {group: '', version: v1, kind: Namespace, name: a, "
            "selectionScope: NamespaceWithResourceSelectors}\n"
            "  - {group: '', version: v1, kind: Namespace, name: b}  #!\n"
        ),
        "spec.resourceSelectors[1]",
        "no other Namespace selector is allowed",
    ),
    (
        "nwrs-once",
        crp(
            "resourceSelectors:\n  - {group: '', version: v1, kind: Namespace, name: a, "
            "selectionScope: NamespaceWithResourceSelectors}\n"
            "  - group: ''\n    version: v1\n    kind: Namespace\n    name: b\n"
            "    selectionScope: NamespaceWithResourceSelectors  #!\n"
        ),
        "spec.resourceSelectors[1].selectionScope",
        "only one Namespace selector may use",
    ),
]


def _ru(line: str) -> str:
    return crp(NS + "strategy:\n  rollingUpdate:\n    " + line + "\n")


INVALID += [
    (
        "max-unavailable-pattern",
        _ru("maxUnavailable: 120%  #!"),
        "spec.strategy.rollingUpdate.maxUnavailable",
        "a percentage from 0% to 100%",
    ),
    (
        "max-surge-negative",
        _ru("maxSurge: -1  #!"),
        "spec.strategy.rollingUpdate.maxSurge",
        "greater than or equal to 0",
    ),
    (
        "max-surge-quoted-int",
        _ru("maxSurge: '5'  #!"),
        "spec.strategy.rollingUpdate.maxSurge",
        "write the integer without quotes",
    ),
    (
        "unavailable-period",
        _ru("unavailablePeriodSeconds: -1  #!"),
        "spec.strategy.rollingUpdate.unavailablePeriodSeconds",
        "greater than or equal to 0",
    ),
    (
        "rolling-not-external",
        crp(NS + "strategy:\n  type: External\n  rollingUpdate: {}  #!\n"),
        "spec.strategy.rollingUpdate",
        "rollingUpdateConifg is not valid for ExternalRollout strategy type",
    ),
    (
        "ssa-config-only-ssa",
        crp(NS + "strategy:\n  applyStrategy:\n    serverSideApplyConfig: {force: true}  #!\n"),
        "spec.strategy.applyStrategy.serverSideApplyConfig",
        "serverSideApplyConfig is only valid for ServerSideApply strategy type",
    ),
    (
        "apply-type",
        crp(NS + "strategy:\n  applyStrategy:\n    type: Replace  #!\n"),
        "spec.strategy.applyStrategy.type",
        "'ClientSideApply', 'ServerSideApply', 'ReportDiff'",
    ),
    (
        "mirror-needs-destination",
        crp(NS + "strategy:\n  reportBackStrategy:  #!\n    type: Mirror\n"),
        "spec.strategy.reportBackStrategy",
        "needs a destination",
    ),
    (
        "delete-policy",
        crp(NS + "strategy:\n  deleteStrategy:\n    propagationPolicy: Orphan  #!\n"),
        "spec.strategy.deleteStrategy.propagationPolicy",
        "'Delete', 'Abandon'",
    ),
    (
        "v1-has-no-delete-strategy",
        crp(NS + "strategy:\n  deleteStrategy: {}  #!\n", version="v1"),
        "spec.strategy.deleteStrategy",
        "not served by placement.kubernetes-fleet.io/v1",
    ),
    (
        "history-min",
        crp(NS + "revisionHistoryLimit: 0  #!\n"),
        "spec.revisionHistoryLimit",
        "greater than or equal to 1",
    ),
    (
        "history-max",
        crp(NS + "revisionHistoryLimit: 1001  #!\n"),
        "spec.revisionHistoryLimit",
        "less than or equal to 1000",
    ),
    (
        "status-scope-needs-one-namespace",
        crp(
            "resourceSelectors:\n  - {group: rbac.authorization.k8s.io, version: v1, kind: ClusterRole}\n"
            "statusReportingScope: NamespaceAccessible  #!\n"
        ),
        "spec.statusReportingScope",
        "exactly one resourceSelector of kind Namespace",
    ),
    (
        "status-scope-crp-only",
        crp(
            "resourceSelectors:\n  - {group: '', version: v1, kind: ConfigMap}\n"
            "statusReportingScope: NamespaceAccessible  #!\n",
            kind="ResourcePlacement",
        ),
        "spec.statusReportingScope",
        "ClusterResourcePlacements only",
    ),
    (
        "name-max-63",
        crp(NS, meta="  name: " + "a" * 64 + "  #!\n"),
        "metadata.name",
        "the name field cannot have length exceeding 63",
    ),
    (
        "rp-needs-namespace",
        crp(NS, kind="ResourcePlacement", meta="  name: web\n").replace("metadata:", "metadata:  #!"),
        "metadata",
        "set metadata.namespace",
    ),
    (
        "typo-required",
        crp(
            NS + "policy:\n  affinity:\n    clusterAffinity:\n"
            "      requiredDuringSchedulingIgnoredDuringExection: {}  #!\n"
        ),
        "spec.policy.affinity.clusterAffinity.requiredDuringSchedulingIgnoredDuringExection",
        'did you mean "requiredDuringSchedulingIgnoredDuringExecution"',
    ),
    (
        "typo-perference",
        crp(
            PICKN + "  affinity:\n    clusterAffinity:\n"
            "      preferredDuringSchedulingIgnoredDuringExecution:\n"
            "      - weight: 1\n        preference: {}\n        perference: {}  #!\n"
        ),
        "spec.policy.affinity.clusterAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].perference",
        'did you mean "preference"',
    ),
    (
        "old-metric-sorter",
        crp(
            PICKN + "  affinity:\n    clusterAffinity:\n"
            "      preferredDuringSchedulingIgnoredDuringExecution:\n"
            "      - weight: 1\n        preference:\n"
            "          metricSorter: {name: a, sortOrder: Ascending}  #!\n"
        ),
        "spec.policy.affinity.clusterAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.metricSorter",
        "is called propertySorter",
    ),
    (
        "preferred-is-a-list",
        crp(
            PICKN + "  affinity:\n    clusterAffinity:\n"
            "      preferredDuringSchedulingIgnoredDuringExecution:  #!\n        weight: 1\n"
        ),
        "spec.policy.affinity.clusterAffinity.preferredDuringSchedulingIgnoredDuringExecution",
        "expected an array",
    ),
    (
        "label-key-under-selector",
        crp(
            NS + "policy:\n  affinity:\n    clusterAffinity:\n"
            "      requiredDuringSchedulingIgnoredDuringExecution:\n"
            "        clusterSelectorTerms:\n        - labelSelector:\n"
            "            region: east  #!\n"
        ),
        REQ + ".labelSelector.region",
        "valid fields here: matchExpressions, matchLabels",
    ),
]


@pytest.mark.parametrize(("text", "field", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_each_invalid_placement_is_reported_at_its_field_and_line(
    text: str, field: str, fragment: str
) -> None:
    _, findings = load(text)
    found = finding_at([f for f in findings if f.severity == "error"], field, fragment)
    assert found.line == marked_line(text)
    assert found.file == "fleet/placement.yaml"


def test_mirroring_to_the_original_resource_of_many_clusters_is_a_warning() -> None:
    text = crp(NS + "strategy:\n  reportBackStrategy: {type: Mirror, destination: OriginalResource}\n")
    p, findings = load(text)
    assert isinstance(p, Placement)
    [warning] = findings
    assert warning.severity == "warning"
    assert warning.field == "spec.strategy.reportBackStrategy.destination"


def test_an_unknown_placement_type_is_reported_once() -> None:
    _, findings = load(crp(NS + "policy:\n  placementType: PickSome\n  numberOfClusters: 2\n"))
    assert [f.field for f in findings] == ["spec.policy.placementType"]


def test_an_unserved_api_version_names_the_served_ones() -> None:
    _, findings = load(crp(NS, version="v1alpha1"))
    [error] = findings
    assert error.field == "apiVersion"
    assert "placement.kubernetes-fleet.io/v1beta1" in error.message


# -- policy snapshot identity --------------------------------------------------------------------


def _pickn(n: int, region: str) -> str:
    return crp(
        NS,
        f"""
        policy:
          placementType: PickN
          numberOfClusters: {n}
          affinity:
            clusterAffinity:
              requiredDuringSchedulingIgnoredDuringExecution:
                clusterSelectorTerms:
                  - labelSelector:
                      matchLabels: {{region: {region}}}
        """,
    )


def test_policy_digest_of_a_parsed_selector_policy_is_stable_and_ignores_number_of_clusters() -> None:
    three, five, other = valid(_pickn(3, "eu")), valid(_pickn(5, "eu")), valid(_pickn(3, "us"))
    assert three.effective_policy.digest() == valid(_pickn(3, "eu")).effective_policy.digest()
    # KubeFleet keeps N out of the policy snapshot: changing it scales, it does not re-schedule.
    assert three.effective_policy.digest() == five.effective_policy.digest()
    assert three.effective_policy.digest() != other.effective_policy.digest()


def test_a_selector_kind_in_the_wrong_case_is_refused_with_the_right_spelling() -> None:
    _, findings = load(crp("resourceSelectors:\n  - {group: '', version: v1, kind: namespace, name: web}\n"))
    [error] = [f for f in findings if f.severity == "error"]
    assert error.field == "spec.resourceSelectors[0].kind"
    assert error.message.startswith('failed to get GVR of the selector: no matches for kind "namespace"')
    assert "did you mean Namespace?" in error.message


def test_a_lower_case_kind_of_an_unknown_group_is_left_to_the_cluster_that_serves_it() -> None:
    valid(crp("resourceSelectors:\n  - {group: example.com, version: v1, kind: widget, name: w}\n"))
